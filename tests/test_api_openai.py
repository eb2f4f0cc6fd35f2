"""`podium serve` as a new user meets it: the real `openai` client, streamed and not, usage, threads, models,
embeddings and /metrics, against a real server process (scripted model for the graph, the real GGUF direct)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from graph.app import PodiumApp
from podium.settings import Settings
from tests.servers import podium_serve


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The server's environment: nothing PODIUM_/OPENAI_ from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "OPENAI_"))}
    return {**env, "PODIUM_HOME": str(home), "ANONYMIZED_TELEMETRY": "False", "PODIUM_MAX_TOKENS": "48",
            "PODIUM_TEMPERATURE": "0", **extra}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("serve-home")
    with podium_serve(clean_env(home, PODIUM_MODEL="scripted/echo"), home.parent / "serve.log") as (url, _):
        yield url, home


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server[0], api_key="unused-without-keys", max_retries=0)


def test_chat_with_podium_returns_the_answer_usage_thread_and_extension(client, server):
    raw = client.chat.completions.with_raw_response.create(
        model="podium", messages=[{"role": "user", "content": "Hello, Podium"}])
    reply = raw.parse()
    thread = raw.headers["x-podium-thread"]
    assert reply.choices[0].message.content == "You said: Hello, Podium"
    assert reply.choices[0].finish_reason == "stop" and reply.model == "podium"
    assert reply.usage.completion_tokens > 0 and reply.usage.total_tokens == (
        reply.usage.prompt_tokens + reply.usage.completion_tokens)
    extension = reply.model_extra["podium"]
    assert extension["thread_id"] == thread and extension["route"] == ["conductor", "chat"]
    assert [s["node"] for s in extension["steps"]] == ["conductor", "chat"]
    again = client.chat.completions.create(model="podium", messages=[{"role": "user", "content": "Again"}],
                                           extra_headers={"X-Podium-Thread": thread})
    assert again.model_extra["podium"]["thread_id"] == thread
    history = PodiumApp(Settings(home=server[1])).history(thread)
    assert [m["content"] for m in history] == ["Hello, Podium", "You said: Hello, Podium", "Again", "You said: Again"]


def test_streamed_chat_with_include_usage(client):
    stream = client.chat.completions.create(model="podium", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "Stream this please"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: Stream this please"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1, "token by token"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish[-1].choices[0].finish_reason == "stop" and finish[-1].model_extra["podium"]["route"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_a_new_thread_starts_from_the_history_the_client_sent(client, server):
    reply = client.chat.completions.create(model="podium", extra_body={"podium": {"thread_id": "client-chosen-1"}},
                                           messages=[{"role": "system", "content": "Be brief."},
                                                     {"role": "user", "content": "Earlier question"},
                                                     {"role": "assistant", "content": "Earlier answer"},
                                                     {"role": "user", "content": "New question"}])
    assert reply.model_extra["podium"]["thread_id"] == "client-chosen-1"
    history = PodiumApp(Settings(home=server[1])).history("client-chosen-1")
    assert [m["content"] for m in history] == ["Earlier question", "Earlier answer", "New question",
                                               "You said: New question"]


def test_models_list_podium_and_the_registry_with_capabilities(client):
    models = {m.id: m for m in client.models.list()}
    assert "podium" in models and "llamacpp/smollm2-135m" in models
    assert models["podium"].model_extra["capabilities"]["threads"] is True
    local = models["llamacpp/smollm2-135m"].model_extra
    assert local["capabilities"]["local"] is True and local["capabilities"]["native_tool_calling"] is False
    assert local["capabilities"]["tool_calling"] is True, "through a grammar"
    assert local["context_length"] >= 2048
    assert any(m.model_extra["capabilities"]["embeddings"] for m in models.values())
    assert client.models.retrieve("scripted/echo").id == "scripted/echo"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("nope/nothing")
    assert missing.value.body["code"] == "model_not_found"


def test_embeddings_use_the_knowledge_base_model(client):
    result = client.embeddings.create(model="podium", input=["rotate the keys", "rotate the API keys", "bananas"])
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    floats = client.embeddings.create(model="onnx/all-MiniLM-L6-v2-int8", input="bananas", encoding_format="float")
    assert np.allclose(floats.data[0].embedding, vectors[2], atol=1e-5) and result.usage.prompt_tokens > 3


def test_errors_are_openai_shaped(client, server):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="nope/model", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="podium", messages=[{"role": "user", "content": "hi"}], temperature=5)
    assert bad.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError) as no_thread:
        client.chat.completions.create(model="podium", messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"podium": {"decision": "approve", "thread_id": "never-was"}})
    assert no_thread.value.body["code"] == "thread_not_found"


def test_metrics_show_the_calls(client, server):
    client.chat.completions.create(model="scripted/echo", messages=[{"role": "user", "content": "count me"}])
    text = httpx.get(server[0].removesuffix("/v1") + "/metrics").text
    assert 'podium_requests_total{route="/v1/chat/completions",status="200"}' in text
    assert 'podium_model_calls_total{model="scripted/echo",outcome="ok",provider="scripted"}' in text
    assert 'podium_tokens_total{kind="completion",model="scripted/echo"}' in text
    assert "podium_ttft_seconds_bucket" in text and "podium_request_seconds_bucket" in text
    assert 'podium_api_errors_total{code="model_not_found",status="404"}' in text
    ready = httpx.get(server[0].removesuffix("/v1") + "/readyz").json()
    assert ready["status"] == "ready" and set(ready["checks"]) >= {"checkpoints", "ledger", "keys", "model"}
    assert httpx.get(server[0].removesuffix("/v1") + "/openapi.json").json()["paths"]["/v1/chat/completions"]


@pytest.mark.model
def test_a_registry_spec_runs_directly_streamed_and_not(tmp_path, llama_server):
    """The real GGUF through routing and the ledger: `model="llamacpp/smollm2-135m"` answers, with usage;
    `openai/smollm2` (llama-cpp-python's server) gets the client's tools and returns its tool calls."""
    home = tmp_path / "home"
    env = clean_env(home, OPENAI_BASE_URL=llama_server, OPENAI_API_KEY="sk-unused-by-llama-server")
    with podium_serve(env, tmp_path / "serve.log") as (url, _):
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        question = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
        reply = client.chat.completions.create(model="llamacpp/smollm2-135m", messages=question, temperature=0,
                                               max_tokens=8)
        assert "Paris" in reply.choices[0].message.content and reply.usage.prompt_tokens > 10
        stream = client.chat.completions.create(model="llamacpp/smollm2-135m", messages=question, temperature=0,
                                                max_tokens=8, stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
            reply.choices[0].message.content)
        assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens
        rows = PodiumApp(Settings(home=home)).ledger.calls()
        assert [(r.node, r.model, r.outcome) for r in rows] == [("api", "llamacpp/smollm2-135m", "ok")] * 2
        weather = {"type": "function", "function": {
            "name": "get_weather", "description": "Current weather of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
        asked = [{"role": "user", "content": "What is the weather in Paris?"}]
        called = client.chat.completions.create(model="openai/smollm2", messages=asked, tools=[weather],
                                                tool_choice={"type": "function", "function": {"name": "get_weather"}})
        choice = called.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls[0].function.name == "get_weather"
        call = choice.message.tool_calls[0]
        answered = client.chat.completions.create(model="openai/smollm2", max_tokens=24, messages=[
            *asked, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"}])
        assert answered.choices[0].message.content and answered.choices[0].finish_reason in ("stop", "length")
        # The local GGUF calls the client's tools through a grammar built from their schemas (it cannot pick a
        # tool by itself at 135M, so tool_choice names one): the same OpenAI-shaped calls, streamed and not.
        forced = {"type": "function", "function": {"name": "get_weather"}}
        local = client.chat.completions.create(model="llamacpp/smollm2-135m", messages=asked, tools=[weather],
                                               tool_choice=forced, temperature=0)
        choice = local.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        (call,) = choice.message.tool_calls
        assert call.function.name == "get_weather" and call.id
        assert set(json.loads(call.function.arguments)) == {"city"}
        chunks = list(client.chat.completions.create(model="llamacpp/smollm2-135m", messages=asked, tools=[weather],
                                                     tool_choice=forced, temperature=0, stream=True))
        (streamed,) = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
        assert streamed.function.name == "get_weather" and streamed.function.arguments == call.function.arguments
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
        replied = client.chat.completions.create(model="llamacpp/smollm2-135m", max_tokens=24, temperature=0, messages=[
            *asked, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"}], tools=[weather],
            tool_choice="none")
        assert replied.choices[0].message.content and not replied.choices[0].message.tool_calls
