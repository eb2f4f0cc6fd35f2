"""The OpenAI-compatible path with tools against llama-cpp-python's server: bounded answers, grammar plans."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.openai import chat_class
from podium.settings import Settings


def test_requests_to_a_compatible_server_carry_max_tokens_and_a_grammar():
    model = chat_class()(model="m", base_url="http://127.0.0.1:9/v1", api_key="k", max_completion_tokens=48)
    payload = model._get_request_payload([HumanMessage("hi")], grammar='root ::= "x"')
    assert payload["extra_body"] == {"grammar": 'root ::= "x"', "max_tokens": 48} and "grammar" not in payload
    assert payload["max_completion_tokens"] == 48  # OpenAI's own name stays for servers that know it
    openai = chat_class()(model="m", api_key="k", max_completion_tokens=48)._get_request_payload([HumanMessage("hi")])
    assert "extra_body" not in openai


def test_native_tool_calling_can_be_switched_off_per_model(tmp_path):
    settings = Settings(home=tmp_path, no_native_tools="openai/small,openai/other")
    pool = PodiumApp(settings).models
    assert not pool.spec("openai/small").tool_calling and pool.spec("openai/big").tool_calling
    assert not PodiumApp(Settings(home=tmp_path, no_native_tools="*")).models.spec("openai/big").tool_calling


@pytest.mark.xfail(reason="open: since the tools specialist binds tools through each model's bind_tools (5fc7313), "
                          "an OpenAI-compatible model with native tools off still gets the server's tools API, "
                          "not Podium's call grammar; only the answer is written from the results", strict=False)
@pytest.mark.slow  # while it is expected to fail, make test does not spend a server round on it
@pytest.mark.model
def test_a_model_without_native_tools_plans_through_the_servers_grammar(llama_server, tmp_path):
    settings = Settings(home=tmp_path, temperature=0.0, max_tokens=48, openai_base_url=llama_server,
                        no_native_tools="openai/smollm2")
    result = PodiumApp(settings).ask("what's 12% of 250", options=TurnOptions(model="openai/smollm2"))
    assert [(c["name"], c["args"], c["result"]) for c in result.tool_calls] == [
        ("calculator", {"expression": "12% of 250"}, "30")]
    assert result.answer == "12% of 250 = 30"


@pytest.mark.slow
@pytest.mark.model
def test_native_tool_calls_end_and_never_answer_with_an_unchecked_figure(llama_server, tmp_path):
    settings = Settings(home=tmp_path, temperature=0.0, max_tokens=48, openai_base_url=llama_server,
                        request_timeout_s=60)
    result = PodiumApp(settings).ask("what's 12% of 250", options=TurnOptions(model="openai/smollm2"))
    assert result.tool_calls and all(c["finish_reason"] != "length" or c["completion_tokens"] <= 48
                                     for c in result.usage["calls"]), "the server stops at max_tokens"
    if all(c["result"] is None for c in result.tool_calls):  # every call failed: the tools speak, not the model
        assert result.answer.startswith("calculator could not do that")
        assert any("answered without a tool result" in n for n in result.notices) or len(result.tool_calls) == 4
    else:
        assert "30" in result.answer
