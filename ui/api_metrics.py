"""Prometheus metrics of ``podium serve``, every series prefixed ``podium_``.

HTTP series come from the request middleware; model series (calls by provider, model and
outcome, tokens, cost, time to first token) from the ledger rows of each request's calls,
so what ``/metrics`` counts is exactly what ``podium usage`` bills. Labels are model specs,
providers, routes and status codes: never keys, threads or text. With ``--workers N`` the
workers share a folder (``PROMETHEUS_MULTIPROC_DIR``) and ``/metrics`` sums them.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    """The server's series, on a registry of their own (tests and replicas never share a global)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter("podium_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=reg)
        self.latency = Histogram("podium_request_seconds", "HTTP request duration (a stream: until its end)",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=reg)
        self.in_flight = Gauge("podium_requests_in_flight", "Requests being served", registry=reg,
                               multiprocess_mode="livesum")
        self.errors = Counter("podium_api_errors", "Error responses by code", ["status", "code"], registry=reg)
        self.turns = Counter("podium_turns", "Chat completions by model requested and outcome",
                             ["model", "outcome"], registry=reg)
        self.calls = Counter("podium_model_calls", "Model calls by provider, model and outcome",
                             ["provider", "model", "outcome"], registry=reg)
        self.call_errors = Counter("podium_model_errors", "Failed model calls by provider and error class",
                                   ["provider", "error_class"], registry=reg)
        self.tokens = Counter("podium_tokens", "Tokens by model and kind (prompt, completion)", ["model", "kind"],
                              registry=reg)
        self.cost = Counter("podium_cost_usd", "USD spent by model", ["model"], registry=reg)
        self.ttft = Histogram("podium_ttft_seconds", "Time to first token of answered model calls", ["model"],
                              buckets=TTFT_BUCKETS, registry=reg)
        self.model_seconds = Histogram("podium_model_call_seconds", "Model call duration", ["provider", "model"],
                                       buckets=LATENCY_BUCKETS, registry=reg)

    def record_calls(self, calls: list[Any]) -> None:
        """Count a request's ledger rows (``CallRecord``s)."""
        for call in calls:
            self.calls.labels(call.provider, call.model, call.outcome).inc()
            if call.error_class:
                self.call_errors.labels(call.provider, call.error_class).inc()
            if call.prompt_tokens:
                self.tokens.labels(call.model, "prompt").inc(call.prompt_tokens)
            if call.completion_tokens:
                self.tokens.labels(call.model, "completion").inc(call.completion_tokens)
            if call.cost_usd:
                self.cost.labels(call.model).inc(call.cost_usd)
            if call.ttft_s is not None and call.outcome == "ok":
                self.ttft.labels(call.model).observe(call.ttft_s)
            if call.duration_s is not None:
                self.model_seconds.labels(call.provider, call.model).observe(call.duration_s)

    def exposition(self) -> bytes:
        """The text format for ``GET /metrics`` (summed over workers in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)
