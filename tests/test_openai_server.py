"""The ``openai/...`` provider against a real OpenAI-compatible server on 127.0.0.1.

llama-cpp-python's server extra serves the embedded SmolLM2 GGUF; Podium talks to it
exactly as it would to OpenAI: streaming, usage, tool calls and structured output.
"""

from __future__ import annotations

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

from agents.common import call_model
from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.openai import count_tokens
from podium.errors import ConfigError
from podium.settings import Settings

SPEC = "openai/smollm2"  # the server answers with its one model whatever the name


@pytest.fixture
def app(tmp_path, llama_server) -> PodiumApp:
    return PodiumApp(Settings(home=tmp_path, temperature=0.0, max_tokens=24, backoff_s=0.001,
                              openai_base_url=llama_server))


def test_streamed_turn_with_usage_from_the_tokenizer(app, llama_server):
    events = list(app.stream_turn("Say hello in one short sentence.", options=TurnOptions(model=SPEC)))
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
    ctx = app.context("t-tools", options=TurnOptions(model=SPEC))
    reply = call_model(ctx, "tools", [HumanMessage("What is the weather in Paris?")], tools=[tool],
                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    (call,) = reply.tool_calls
    # The server repeats the name in every streamed chunk; Podium must not glue them together.
    assert call["name"] == "get_weather" and isinstance(call["args"].get("city"), str) and call["id"]
    (row,) = app.ledger.calls(turn=ctx.turn_id)
    assert row.outcome == "ok" and row.completion_tokens > 0

    # The call and its result go back to the server; the tool-calling message has no text,
    # which LangChain sends as null content and llama-cpp-python's server used to answer with HTTP 500.
    assert reply.content == ""
    result = ToolMessage('{"temperature_c": 18}', tool_call_id=call["id"])
    answer = call_model(ctx, "tools", [HumanMessage("What is the weather in Paris?"), reply, result], tools=[tool])
    assert answer.text and [c.outcome for c in app.ledger.calls(turn=ctx.turn_id)] == ["ok", "ok"]

    # A tool_choice naming a tool that was not sent is the caller's mistake: one clear error, no model call.
    with pytest.raises(ConfigError, match="names no bound tool") as refused:
        call_model(ctx, "tools", [HumanMessage("What is the weather in Paris?")], tools=[tool],
                   tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert refused.value.setting == "tool_choice" and len(app.ledger.calls(turn=ctx.turn_id)) == 2


class City(BaseModel):
    """A schema the server must follow."""

    city: str
    country: str


def test_structured_output_through_the_openai_path(app):
    ctx = app.context("t-json", options=TurnOptions(model=SPEC))
    reply = call_model(ctx, "knowledge", [SystemMessage("Reply in JSON."),
                                          HumanMessage("Name a city in France and its country.")], schema=City)
    parsed = City.model_validate(reply.additional_kwargs["parsed"])
    assert parsed.city and parsed.country
    assert [c.outcome for c in app.ledger.calls(turn=ctx.turn_id)] == ["ok"]
