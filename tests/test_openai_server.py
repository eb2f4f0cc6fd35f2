"""The ``openai/...`` provider against a real OpenAI-compatible server on 127.0.0.1.

llama-cpp-python's server extra serves the embedded SmolLM2 GGUF; Podium talks to it
exactly as it would to OpenAI: streaming, usage, tool calls and structured output.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from agents.common import call_model
from graph.app import PodiumApp
from models.llamacpp import locate
from models.openai import count_tokens
from podium.settings import Settings

SPEC = "openai/smollm2"  # the server answers with its one model whatever the name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the server once per session and wait for its /v1/models (no sleeps: poll with a deadline)."""
    gguf = locate("smollm2-135m", Settings(home=tmp_path_factory.mktemp("llama-home")))[0]
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-log") / "server.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--seed", "0"], stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            try:
                proc.wait(timeout=0.2)  # the pause between polls doubles as a check that it is alive
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within 90 s: {log.read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def app(tmp_path, llama_server) -> PodiumApp:
    return PodiumApp(Settings(home=tmp_path, temperature=0.0, max_tokens=24, backoff_s=0.001,
                              openai_base_url=llama_server))


def test_streamed_turn_with_usage_from_the_tokenizer(app, llama_server):
    events = list(app.stream_turn("Say hello in one short sentence.", model=SPEC))
    tokens = [e.data["text"] for e in events if e.kind == "token"]
    result = events[-1].data["result"]
    assert len(tokens) > 1 and "".join(tokens) == result.answer  # streamed piece by piece
    (call,) = result.usage["calls"]
    assert (call["provider"], call["outcome"], call["model"]) == ("openai", "ok", SPEC)
    # llama-cpp-python's server sends no usage in streams: the tokenizer counts, never a silent zero.
    assert call["token_source"] == "tokenizer" and call["completion_tokens"] > 0 and call["prompt_tokens"] > 0
    assert 0 < call["ttft_s"] <= call["duration_s"] and call["tokens_per_s"] > 0
    assert call["cost_usd"] is None  # not in the price table: unknown, not free
    # An independent reference: the server's own count for the same request, not streamed.
    messages = [{"role": "system", "content": app.settings.system_prompt},
                {"role": "user", "content": "Say hello in one short sentence."}]
    reference = httpx.post(f"{llama_server}/chat/completions", timeout=60, json={
        "model": "smollm2", "messages": messages, "temperature": 0.0, "max_tokens": 24}).json()
    assert reference["choices"][0]["message"]["content"] == result.answer
    assert abs(call["completion_tokens"] - reference["usage"]["completion_tokens"]) <= 1
    assert abs(call["prompt_tokens"] - reference["usage"]["prompt_tokens"]) <= 0.2 * reference["usage"]["prompt_tokens"]
    assert count_tokens(result.answer) == call["completion_tokens"]


def test_tool_call_through_the_openai_path(app):
    tool = {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                       "required": ["city"]}}}
    ctx = app.context("t-tools", model=SPEC)
    reply = call_model(ctx, "tools", [HumanMessage("What is the weather in Paris?")], tools=[tool],
                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    (call,) = reply.tool_calls
    # The server repeats the name in every streamed chunk; Podium must not glue them together.
    assert call["name"] == "get_weather" and isinstance(call["args"].get("city"), str) and call["id"]
    (row,) = app.ledger.calls(turn=ctx.turn_id)
    assert row.outcome == "ok" and row.completion_tokens > 0


class City(BaseModel):
    """A schema the server must follow."""

    city: str
    country: str


def test_structured_output_through_the_openai_path(app):
    ctx = app.context("t-json", model=SPEC)
    reply = call_model(ctx, "knowledge", [SystemMessage("Reply in JSON."),
                                          HumanMessage("Name a city in France and its country.")], schema=City)
    parsed = City.model_validate(reply.additional_kwargs["parsed"])
    assert parsed.city and parsed.country
    assert [c.outcome for c in app.ledger.calls(turn=ctx.turn_id)] == ["ok"]
