"""The OpenAI-compatible path with tools against llama-cpp-python's server: bounded answers, grammar plans."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.openai import chat_class
from podium.errors import PodiumError
from podium.settings import Settings
from tests.fault_server import FaultServer


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


PLAN = '[{"tool": "calculator", "args": {"expression": "3*7"}}]'


def test_native_tools_off_sends_podiums_call_protocol_never_the_servers_tools_api(tmp_path):
    with FaultServer(reply=PLAN) as server:
        settings = Settings(home=tmp_path, openai_base_url=server.url, no_native_tools="openai/small")
        result = PodiumApp(settings).ask("What is 3*7?", options=TurnOptions(model="openai/small"))
        assert len(server.seen) == 1, "the answer is written from the result, not asked of the model"
        body = server.seen[0].body
        assert "tools" not in body and "tool_choice" not in body
        assert "calculator" in body["grammar"] and "You can call these tools" in body["messages"][0]["content"]
        assert [(c["name"], c["args"], c["result"]) for c in result.tool_calls] == [
            ("calculator", {"expression": "3*7"}, "21")]
        assert result.answer == "3*7 = 21"
        # The contrast: a native tool caller gets the server's tools API (and its text reply is no call).
        with pytest.raises(PodiumError, match="does not call calculator"):
            PodiumApp(Settings(home=tmp_path, openai_base_url=server.url)).ask(
                "What is 3*7?", options=TurnOptions(model="openai/big"))
        native = server.seen[-1].body
        assert [t["function"]["name"] for t in native["tools"]] == ["calculator"] and "grammar" not in native


def test_without_a_custom_server_native_tools_off_is_the_prompt_protocol_alone(tmp_path):
    spec = PodiumApp(Settings(home=tmp_path, no_native_tools="*", openai_api_key="k")).models.spec("openai/big")
    assert not spec.tool_calling and not spec.constrained, "OpenAI itself takes no grammar"


@pytest.mark.slow  # a server round on the real model (its first request is slow on a loaded machine); the
@pytest.mark.model  # fast representative in make test is the FaultServer test above
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
