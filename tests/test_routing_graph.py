"""Routing through the whole graph: per-agent models, policies, escalation, structured output, budgets.

Remote models are the fault server's OpenAI-compatible endpoint (real HTTP on 127.0.0.1);
the local model is the real SmolLM2 GGUF; scripted models stand in where a test needs
an exact reply.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from agents.common import call_model
from graph.app import PodiumApp
from models.failures import StructuredOutputError
from models.scripted import register_script
from podium.errors import ContextOverflowError
from podium.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import REPLY, FaultServer  # noqa: E402

from agents.contract import TurnOptions

LOCAL = "llamacpp/smollm2-135m"


class Answer(BaseModel):
    """What the structured-output tests ask for."""

    answer: str
    confidence: float


@pytest.fixture(scope="module")
def server():
    with FaultServer() as running:
        yield running


def make_settings(home: Path, server: FaultServer, **extra) -> Settings:
    values = {"temperature": 0.0, "max_tokens": 16, "backoff_s": 0.001, **extra}
    return Settings(home=home, openai_base_url=server.url, **values)


def test_per_agent_models_and_policies_pick_the_model(tmp_path, server):
    server.set(default="ok")
    register_script("agent-chat", ["from the per-agent model"])
    app = PodiumApp(make_settings(tmp_path, server, agent_models={"chat": "scripted/agent-chat"}))
    assert app.ask("hi").answer == "from the per-agent model"
    # quality-first puts the remote model before the local one, even behind a local --model.
    options = TurnOptions(model="scripted/echo", fallbacks=["openai/gpt-4o-mini"], policy="quality-first")
    result = app.ask("hi", options=options)
    assert result.answer == REPLY and result.model == "openai/gpt-4o-mini"
    # local-first (the default) answers locally and keeps the remote model for escalation.
    result = app.ask("hi", options=TurnOptions(model="scripted/echo", fallbacks=["openai/gpt-4o-mini"]))
    assert result.answer == "You said: hi" and [c["model"] for c in result.usage["calls"]] == ["scripted/echo"]


def test_provider_usage_and_price_land_in_the_ledger(tmp_path, server):
    server.set(default="ok")
    app = PodiumApp(make_settings(tmp_path, server))
    result = app.ask("what is two plus two", options=TurnOptions(model="openai/gpt-4o-mini"))
    (call,) = result.usage["calls"]
    sent = server.seen[-1].body
    assert sent["stream"] and sent["stream_options"] == {"include_usage": True}
    prompt_words = sum(len(m["content"].split()) for m in sent["messages"])
    assert (call["prompt_tokens"], call["completion_tokens"], call["token_source"]) == (prompt_words, 5, "provider")
    assert call["cost_usd"] == pytest.approx((prompt_words * 0.15 + 5 * 0.60) / 1e6)
    assert call["outcome"] == "ok" and call["ttft_s"] is not None and call["tokens_per_s"] > 0


def test_oversize_prompt_escalates_from_the_local_model(tmp_path, server):
    server.set(default="ok")
    app = PodiumApp(make_settings(tmp_path, server, max_context=256))
    long_text = "Please summarise this. " + "The quick brown fox jumps over the lazy dog. " * 40
    result = app.ask(long_text, options=TurnOptions(model=LOCAL, fallbacks=["openai/gpt-4o-mini"]))
    assert result.answer == REPLY and result.model == "openai/gpt-4o-mini"
    overflow, answered = result.usage["calls"]
    assert (overflow["outcome"], overflow["error_class"]) == ("fell_back", "ContextOverflowError")
    assert overflow["prompt_tokens"] > 256 and "holds 256" in overflow["error"]  # the reason is recorded
    assert answered["outcome"] == "ok"
    assert any("escalating to openai/gpt-4o-mini" in n for n in result.notices)
    with pytest.raises(ContextOverflowError):  # nothing larger configured: a clear error before the turn
        app.ask(long_text, options=TurnOptions(model=LOCAL))


def test_invalid_structured_output_is_repaired_then_escalated(tmp_path, server):
    server.set(default="ok")
    register_script("sloppy", ["I think the answer is 4", '{"answer": "4"}'])
    register_script("careful", ['```json\n{"answer": "4", "confidence": 0.9}\n```'])
    app = PodiumApp(make_settings(tmp_path, server, structured_repairs=1))
    ctx = app.context("t-structured", options=TurnOptions(model="scripted/sloppy", fallbacks=["scripted/careful"]))
    reply = call_model(ctx, "chat", [HumanMessage("2+2? Answer in JSON.")], schema=Answer)
    assert Answer.model_validate(reply.additional_kwargs["parsed"]) == Answer(answer="4", confidence=0.9)
    calls = app.ledger.calls(turn=ctx.turn_id)
    assert [(c.model, c.outcome, c.error_class) for c in calls] == [
        ("scripted/sloppy", "retried", "StructuredOutputError"),  # the repair round
        ("scripted/sloppy", "fell_back", "StructuredOutputError"),  # still invalid: escalate
        ("scripted/careful", "ok", None)]
    assert "confidence" in calls[1].error and calls[0].completion_tokens > 0  # billed calls keep their tokens
    register_script("hopeless", ["no", "still no"])
    ctx = app.context("t-structured", options=TurnOptions(model="scripted/hopeless"))
    with pytest.raises(StructuredOutputError):
        call_model(ctx, "chat", [HumanMessage("JSON please")], schema=Answer)


def test_local_model_structured_output_with_a_json_schema(tmp_path, server):
    app = PodiumApp(make_settings(tmp_path, server, max_tokens=48))
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"]}
    ctx = app.context("t-local-json", options=TurnOptions(model=LOCAL))
    reply = call_model(ctx, "chat", [SystemMessage("Reply in JSON."), HumanMessage("Paris is in which country?")],
                       schema=schema)
    parsed = reply.additional_kwargs["parsed"]
    assert set(parsed) == {"city", "country"} and json.loads(reply.text.strip()) == parsed


def test_budget_cap_answers_locally_and_says_so(tmp_path, server):
    server.set(default="ok")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"pricey": [1000, 1000]}))  # $0.001 per token: caps bite at once
    settings = make_settings(tmp_path, server, max_tokens=8, prices_file=prices, policy="budget",
                             budget_thread_usd=0.05, fallbacks=["scripted/echo"])
    app = PodiumApp(settings)
    first = app.ask("hi", options=TurnOptions(model="openai/pricey"))
    assert first.model == "openai/pricey" and 0 < first.usage["cost_usd"] < 0.05
    second = app.ask("and again", thread_id=first.thread_id, options=TurnOptions(model="openai/pricey"))
    assert second.model == "scripted/echo"  # the chain's local model
    assert any("PODIUM_BUDGET_THREAD_USD" in n and "answering with the local model" in n for n in second.notices)
    (call,) = second.usage["calls"]
    assert call["note"].startswith("budget:")
    assert app.ledger.spent(thread=first.thread_id) == pytest.approx(first.usage["cost_usd"])


def test_a_remote_model_without_a_key_is_skipped_with_the_reason(tmp_path):
    app = PodiumApp(Settings(home=tmp_path, max_tokens=8, budget_day_usd=1.0))  # no key, no base URL
    options = TurnOptions(model="scripted/echo", fallbacks=["openai/gpt-4o"], policy="quality-first")
    result = app.ask("hi", options=options)
    assert result.answer == "You said: hi"
    assert [(c["model"], c["outcome"], c["error_class"]) for c in result.usage["calls"]] == [
        ("openai/gpt-4o", "fell_back", "ConfigError"), ("scripted/echo", "ok", None)]
    assert any("OPENAI_API_KEY" in n and "falling back to scripted/echo" in n for n in result.notices)
