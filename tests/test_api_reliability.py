"""A client that disconnects mid-stream stops and rolls back its turn (billed tokens stay in the ledger), and
secrets (the provider key, an API key, the database password) never reach logs, metrics, traces or errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graph.app import PodiumApp
from models.ledger import open_ledger
from podium.settings import Settings
from tests.fault_server import FaultServer
from tests.servers import podium_serve
from tests.test_api_openai import clean_env

PROVIDER_KEY = "sk-live-provider-secret-0123456789"
DB_PASSWORD = "db-password-never-shown-42"


@pytest.fixture(scope="module")
def served(postgres_server, tmp_path_factory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("reliability")
    url = postgres_server.new_database().replace("podium@", f"podium:{DB_PASSWORD}@")  # trust auth ignores it
    with FaultServer(trickle_s=0.2) as faults:
        env = clean_env(tmp / "home", PODIUM_MODEL="openai/fault-model", OPENAI_BASE_URL=faults.url,
                        OPENAI_API_KEY=PROVIDER_KEY, PODIUM_POSTGRES_URL=url, PODIUM_RETRIES="0",
                        PODIUM_LOG_LEVEL="DEBUG")
        with podium_serve(env, tmp / "serve.log") as (base, _):
            yield {"url": base, "faults": faults, "log": tmp / "serve.log", "settings": Settings(
                home=tmp / "reader", postgres_url=url)}


def test_a_client_that_disconnects_mid_stream_stops_and_rolls_back_its_turn(served):
    served["faults"].set(default="trickle")
    try:
        body = {"model": "podium", "stream": True, "messages": [{"role": "user", "content": "talk slowly"}]}
        with httpx.stream("POST", served["url"] + "/chat/completions", json=body, timeout=60) as response:
            thread = response.headers["x-podium-thread"]
            for line in response.iter_lines():
                if '"content"' in line:
                    break  # leave after the first words
        ledger = open_ledger(served["settings"])
        deadline = time.monotonic() + 60
        while not (calls := [c for c in ledger.calls(thread=thread) if c.outcome != "running"]):
            assert time.monotonic() < deadline, "the server never stopped the turn"
            httpx.get(served["url"].removesuffix("/v1") + "/healthz")  # a paced poll: one request per loop
    finally:
        served["faults"].set(default="ok")
    (cut,) = calls
    assert cut.outcome == "failed" and cut.error_class == "TurnStopped"
    assert cut.completion_tokens and cut.completion_tokens < 5, "the words it streamed are on record"
    assert not PodiumApp(served["settings"]).thread_exists(thread), "the turn was rolled back"


def test_secrets_never_reach_logs_metrics_traces_or_errors(served, capsys, monkeypatch):
    from tests.conftest import cli_here
    from ui.api_keys import open_keys

    base = served["url"]
    secret, _ = open_keys(served["settings"]).create("leak-check")
    auth = {"Authorization": f"Bearer {secret}"}
    bodies = [httpx.post(base + "/chat/completions", json={"model": "podium", "messages": [
        {"role": "user", "content": "hello"}]}, headers=auth)]
    served["faults"].set("401")  # the provider refuses the key
    bodies.append(httpx.post(base + "/chat/completions", json={"model": "openai/fault-model", "messages": [
        {"role": "user", "content": "hello"}]}, headers=auth))
    bodies.append(httpx.post(base + "/chat/completions", json={"model": "podium", "messages": []}, headers=auth))
    bodies.append(httpx.post(base + "/chat/completions", json={}, headers={"Authorization": "Bearer " + PROVIDER_KEY}))
    bodies.append(httpx.get(base + "/models", headers={"Authorization": f"Bearer {secret}x"}))
    assert [b.status_code for b in bodies] == [200, 502, 400, 401, 401]
    thread = bodies[0].headers["x-podium-thread"]
    metrics = httpx.get(base.removesuffix("/v1") + "/metrics").text
    ready = httpx.get(base.removesuffix("/v1") + "/readyz").text
    monkeypatch.setenv("PODIUM_POSTGRES_URL", served["settings"].postgres_url)
    monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_KEY)
    code, trace, _ = cli_here(capsys, "debug", "trace", thread, "--json")
    assert code == 0 and json.loads(trace)
    ledger_errors = " ".join(str(c.error) for c in open_ledger(served["settings"]).calls())
    seen = "\n".join([*(b.text for b in bodies), metrics, ready, trace, ledger_errors,
                      Path(served["log"]).read_text()])
    assert "401" in ledger_errors and "rejected" in bodies[1].text, "the errors themselves are there"
    for leak in (PROVIDER_KEY, secret, DB_PASSWORD):
        assert leak not in seen
