"""Units: settings, the registry, GGUF internals, context fitting, the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agents.common import fit_to_context
from models import registry
from models.gguf_info import read_gguf_info
from models.ledger import Ledger, summarize
from models.llamacpp import locate
from models.prices import load_prices
from models.scripted import ScriptedChatModel, register_script
from podium.errors import ConfigError, ContextOverflowError
from podium.settings import Settings


def test_settings_read_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PODIUM_MODEL", "scripted/echo")
    monkeypatch.setenv("PODIUM_FALLBACKS", "openai/a, llamacpp/smollm2-135m")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    s = Settings()
    assert s.model == "scripted/echo"
    assert s.fallbacks == ["openai/a", "llamacpp/smollm2-135m"]
    assert "sk-test-secret" not in repr(s)
    assert s.openai_api_key.get_secret_value() == "sk-test-secret"


@pytest.mark.parametrize("spec", ["nope/x", "llamacpp/", "justaname", "openai"])
def test_unknown_specs_are_config_errors(spec, settings):
    with pytest.raises(ConfigError) as info:
        registry.resolve(spec, settings)
    assert info.value.hint


def test_missing_gguf_file(settings, tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        registry.resolve(f"llamacpp/{tmp_path}/absent.gguf", settings)


def test_corrupt_gguf_file(settings, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00garbage" * 100)
    with pytest.raises(ConfigError, match="not a valid GGUF"):
        registry.resolve(str(bad), settings)


def test_openai_without_key_is_a_clear_error(settings):
    spec = registry.resolve("openai/gpt-4o-mini", settings)
    assert not spec.local and spec.price_in > 0 and spec.tool_calling
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        registry.build(spec, settings)


def test_smollm2_internals_from_gguf_header(settings):
    path, alias = locate("smollm2-135m", settings)
    info = read_gguf_info(path)
    assert info["architecture"] == "llama"
    assert info["layers"] == 30
    assert info["vocab_size"] == 49152
    assert info["context_length"] == 8192
    assert info["quantization"] == "Q4_1"
    assert 130e6 < info["parameters"] < 140e6
    assert info["file_size"] == path.stat().st_size
    assert alias.license == "Apache-2.0"


def test_price_table_override_and_errors(tmp_path):
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"my-model": [1.5, 3]}))
    assert load_prices(good)["my-model"] == (1.5, 3.0)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError) as info:
        load_prices(bad)
    assert info.value.setting == "PODIUM_PRICES_FILE"


def test_fit_to_context_drops_oldest_turns_first():
    model = ScriptedChatModel(script="echo")
    history = []
    for i in range(10):
        history += [HumanMessage(f"question {i} " + "word " * 20), AIMessage(f"answer {i} " + "word " * 20)]
    messages = [SystemMessage("be brief"), *history, HumanMessage("last question")]
    fitted, dropped = fit_to_context(model, messages, budget=120)
    assert dropped > 0
    assert fitted[0].content == "be brief" and fitted[-1].content == "last question"
    assert fitted[1].type == "human"  # never starts on an orphaned answer
    assert model.get_num_tokens_from_messages(fitted) <= 120
    assert [m.content for m in fitted[1:-1]] == [m.content for m in history[-len(fitted) + 2 :]]


def test_fit_to_context_raises_when_the_last_message_alone_is_too_long():
    model = ScriptedChatModel(script="echo")
    with pytest.raises(ContextOverflowError) as info:
        fit_to_context(model, [SystemMessage("s"), HumanMessage("word " * 500)], budget=100)
    assert info.value.prompt_tokens > 100 and "shorten" in info.value.hint


def test_ledger_records_a_call_before_it_completes(tmp_path: Path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    call = ledger.start(provider="openai", model="openai/x", turn="t1", thread="th", node="chat")
    # A crash here must still leave the record of the call.
    again = Ledger(tmp_path / "ledger.sqlite")
    assert [c.outcome for c in again.calls(turn="t1")] == ["running"]
    ledger.finish(call, outcome="ok", prompt_tokens=10, completion_tokens=5, cost_usd=0.001, ttft_s=0.1, duration_s=0.5)
    totals = summarize(again.calls(turn="t1"))
    assert totals["prompt_tokens"] == 10 and totals["completion_tokens"] == 5
    assert totals["cost_usd"] == pytest.approx(0.001)
    assert totals["calls"][0]["outcome"] == "ok"
    with pytest.raises(ValueError):
        ledger.finish(call, outcome="exploded")


def test_scripted_model_fails_on_unexpected_calls(settings):
    spec = register_script("two-replies", ["one", "two"])
    model = registry.build(registry.resolve(spec, settings), settings)
    assert model.invoke("a").content == "one"
    assert model.invoke("b").content == "two"
    with pytest.raises(AssertionError, match="scripted for 2"):
        model.invoke("c")
