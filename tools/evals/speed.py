"""``podium eval speed``: time to first token, tokens/s and latency percentiles of a model, measured here.

Each run streams one answer to the same prompt at temperature 0; the first run of a
local model loads it and is not counted. Remote providers' rate-limit headers
(``x-ratelimit-*``) are kept as last seen. Every timed call lands in the ledger too.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from langchain_core.messages import HumanMessage

from models.cards import percentile
from models.failures import classify
from models.registry import ModelPool
from models.scores import Speed, open_scores
from podium.errors import ConfigError
from podium.settings import Settings

PROMPT = "Write three sentences about the history of the bicycle."
"""The prompt every speed run answers, so figures compare across models."""


def _headers(chunk: Any) -> dict[str, str]:
    headers = (chunk.response_metadata or {}).get("headers") or {}
    return {k.lower(): str(v) for k, v in dict(headers).items() if "ratelimit" in k.lower() or k.lower() ==
            "retry-after"}


def _one(model: Any, spec: Any, max_tokens: int, ledger: Any) -> dict[str, Any]:
    """Stream one answer; its timings, token counts and rate-limit headers."""
    call_id = ledger.start(provider=spec.provider, model=spec.spec, turn=None, thread="eval:speed", node="eval") \
        if ledger else 0
    started, first, limits, text = time.perf_counter(), None, {}, ""
    usage: dict[str, Any] = {}
    try:
        for chunk in model.stream([HumanMessage(PROMPT)], max_tokens=max_tokens, temperature=0.0):
            if chunk.content and first is None:
                first = time.perf_counter()
            text += chunk.text
            usage = chunk.usage_metadata or usage
            limits.update(_headers(chunk))
    except Exception as exc:  # noqa: BLE001 - a failing provider is a one-line error, recorded in the ledger
        error = classify(exc, provider=spec.provider, model=spec.spec, base_url=spec.extra.get("base_url"))
        if ledger:
            ledger.finish(call_id, outcome="failed", error_class=type(exc).__name__, error=error.one_line()[:500],
                          duration_s=time.perf_counter() - started)
        raise error from exc
    ended = time.perf_counter()
    completion = usage.get("output_tokens") or model.get_num_tokens(text)
    generating = ended - (first or started)
    record = {"latency": ended - started, "ttft": (first - started) if first else None,
              "tokens_per_s": completion / generating if completion and generating > 0 else None,
              "prompt_tokens": usage.get("input_tokens", 0), "completion_tokens": completion, "limits": limits}
    if ledger:
        ledger.finish(call_id, outcome="ok", prompt_tokens=record["prompt_tokens"], completion_tokens=completion,
                      ttft_s=record["ttft"], duration_s=record["latency"], tokens_per_s=record["tokens_per_s"],
                      cost_usd=None if spec.extra.get("priced") is False else spec.cost(record["prompt_tokens"],
                                                                                        completion),
                      token_source="provider" if usage else "tokenizer")
    return record


def measure(settings: Settings, spec: str, *, runs: int = 5, max_tokens: int = 64, ledger: Any = None,
            progress: Any = None) -> Speed:
    """Time ``runs`` streamed answers of a model and record the medians and percentiles."""
    if runs < 1:
        raise ConfigError(f"--runs must be at least 1 ({runs})", setting="--runs", hint="use --runs 5")
    if max_tokens < 1:
        raise ConfigError(f"--max-tokens must be at least 1 ({max_tokens})", setting="--max-tokens",
                          hint="use --max-tokens 64")
    pool = ModelPool(settings)
    described = pool.spec(spec)
    model = pool.model(spec)
    if hasattr(model, "include_response_headers"):
        model.include_response_headers = True  # OpenAI-compatible: rate-limit headers come back with the stream
    if described.local:
        _one(model, described, 4, None)  # loads the weights: a cold start is not a speed figure
    records = []
    for k in range(runs):
        records.append(_one(model, described, max_tokens, ledger))
        if progress:
            progress(k + 1, runs)
    latencies = sorted(r["latency"] for r in records)
    def median(key: str) -> float | None:
        values = [r[key] for r in records if r[key] is not None]
        return round(statistics.median(values), 4) if values else None
    limits: dict[str, str] = {}
    for r in records:
        limits.update(r["limits"])
    speed = Speed(model=described.spec, runs=runs, tokens_per_s=median("tokens_per_s"), ttft_s=median("ttft"),
                  p50_s=round(percentile(latencies, 50), 4), p95_s=round(percentile(latencies, 95), 4),
                  prompt_tokens=records[0]["prompt_tokens"],
                  completion_tokens=sum(r["completion_tokens"] for r in records), rate_limits=limits)
    open_scores(settings.data_dir).add_speed(speed)
    return speed
