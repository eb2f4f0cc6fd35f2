"""``modal/NAME`` against a real OpenAI-compatible server (llama.cpp) behind an injected cold start."""

from __future__ import annotations

import json

import httpx
import pytest

from models.modal import GPU_PRICES
from tests.cold_server import ColdServer
from tests.conftest import cli_here

pytestmark = pytest.mark.model


@pytest.fixture
def endpoint(llama_server: str, monkeypatch: pytest.MonkeyPatch):
    """A cold endpoint in front of the session's llama.cpp server, configured as PODIUM_MODAL_URL."""
    def make(cold_s: float, deadline_s: float) -> ColdServer:
        # the upstream's own first streamed answer (a fresh llama.cpp server) is not what these tests are about
        with httpx.stream("POST", llama_server + "/chat/completions", timeout=120, json={
                "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "stream": True}) as first:
            first.read()
        server = ColdServer(llama_server, cold_s=cold_s).__enter__()
        opened.append(server)
        monkeypatch.setenv("PODIUM_MODAL_URL", server.url)
        monkeypatch.setenv("PODIUM_MODAL_FIRST_TOKEN_S", str(deadline_s))
        monkeypatch.setenv("PODIUM_MAX_TOKENS", "16")
        monkeypatch.setenv("PODIUM_TEMPERATURE", "0")
        return server

    opened: list[ColdServer] = []
    yield make
    for server in opened:
        server.__exit__()


def _ask(capsys, *args: str) -> dict:
    code, out, err = cli_here(capsys, "ask", "--json", "--model", "modal/smollm2-135m", *args)
    assert code == 0, err
    return json.loads(out)


def test_cold_start_past_the_deadline_falls_back_at_once_and_says_why(endpoint, capsys):
    server = endpoint(cold_s=6.0, deadline_s=1.0)
    turn = _ask(capsys, "--fallback", "scripted/echo", "Say hello.")
    assert turn["model"] == "scripted/echo"
    assert any("starting a GPU on Modal" in n for n in turn["notices"]), turn["notices"]
    assert any("no first token within 1s" in n and "falling back to scripted/echo" in n for n in turn["notices"])
    calls = turn["usage"]["calls"]
    modal_calls = [c for c in calls if c["provider"] == "modal"]
    assert [c["outcome"] for c in modal_calls] == ["fell_back"], "a cold start is not retried: it keeps starting"
    assert modal_calls[0]["retryable"] == 0 and calls[-1]["outcome"] == "ok"
    assert server.starts == 1, "the failed call still started a container for the next turn"


def test_cold_start_within_the_deadline_answers_with_a_notice_and_bills_gpu_seconds(endpoint, capsys):
    server = endpoint(cold_s=2.5, deadline_s=60)
    turn = _ask(capsys, "--fallback", "scripted/echo", "What is the capital of France?")
    assert turn["model"] == "modal/smollm2-135m" and turn["answer"].strip()
    assert any("starting a GPU on Modal for modal/smollm2-135m, ~40 s" in n for n in turn["notices"])
    calls = [c for c in turn["usage"]["calls"] if c["model"] == "modal/smollm2-135m"]
    assert calls[-1]["outcome"] == "ok"
    assert sum(c["gpu_s"] for c in calls) >= 2.5, calls  # every attempt bills its container time, the cold start too
    for call in calls:
        assert call["cost_usd"] == pytest.approx(call["gpu_s"] * GPU_PRICES["A10G"], rel=1e-6)
    warm = _ask(capsys, "Hello again.")  # the container is up now: no notice, no new start
    assert not any("starting a GPU" in n for n in warm["notices"]) and server.starts == 1
    code, out, _ = cli_here(capsys, "usage", "--by", "provider", "--json")
    totals = json.loads(out)
    modal = next(g for g in totals["groups"] if g["provider"] == "modal")
    assert modal["gpu_s"] >= 2.5 and modal["cost_usd"] > 0


def test_gpu_prices_come_from_the_price_file_when_given(endpoint, capsys, tmp_path, monkeypatch):
    endpoint(cold_s=0.0, deadline_s=60)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"modal/smollm2-135m": [0, 0, 0.01]}))
    monkeypatch.setenv("PODIUM_PRICES_FILE", str(prices))
    call = _ask(capsys, "Hi.")["usage"]["calls"][-1]
    assert call["cost_usd"] == pytest.approx(call["gpu_s"] * 0.01, rel=1e-6)


def test_modal_model_without_an_endpoint_or_with_an_unknown_gpu_is_a_one_line_error(capsys, monkeypatch):
    code, _, err = cli_here(capsys, "ask", "--model", "modal/capybara", "Hi")
    assert code == 2 and "PODIUM_MODAL_URL is not set" in err and "podium modal deploy capybara" in err
    assert "Traceback" not in err
    monkeypatch.setenv("PODIUM_MODAL_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PODIUM_MODAL_GPU", "TPU-9000")
    code, _, err = cli_here(capsys, "ask", "--model", "modal/capybara", "Hi")
    assert code == 2 and "PODIUM_MODAL_GPU 'TPU-9000' has no price" in err
