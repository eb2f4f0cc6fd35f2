"""Native tool calling: an ``openai/...`` model gets the tools' schemas through a real OpenAI-compatible server.

llama-cpp-python's server, serving the embedded SmolLM2, stands in for a frontier model:
the request carries ``tools`` (and ``tool_choice`` when the rules are sure which tool),
the reply's tool call is validated and run, the result goes back as a tool message,
and the model writes the answer. The 135M model's arguments are often nonsense; the
point here is that whatever it sends is contained and the loop ends.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from agents.contract import TurnOptions
from graph.app import PodiumApp
from podium.settings import Settings
from tools.calculator import CalculatorError, evaluate, format_number

pytestmark = pytest.mark.model


def test_native_tool_calls_run_and_the_model_answers(llama_server, tmp_path):
    podium = PodiumApp(Settings(home=tmp_path, temperature=0.0, max_tokens=48, openai_base_url=llama_server))
    result = podium.ask("What is 1234 * 5678?", options=TurnOptions(model="openai/smollm2"))
    assert result.route[:2] == ["conductor", "tools"]
    first = result.tool_calls[0]
    assert first["name"] == "calculator" and first["approved"] is None
    assert set(first["args"]) == {"expression"} or first["error"], "a call is validated against the schema"
    try:
        expected = format_number(evaluate(first["args"]["expression"]))
    except (CalculatorError, KeyError, TypeError):
        expected = None
    assert first["result"] == expected, "the result is the calculator's own, whatever the model sent"
    messages = podium.graph.get_state({"configurable": {"thread_id": result.thread_id}}).values["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in tool_messages] == [c["id"] for m in calls for c in m.tool_calls]
    assert len(calls) <= 4, "the loop is bounded"
    assert isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls, "the model had the last word"
    for record, message in zip(result.tool_calls, tool_messages, strict=True):  # what the model was told
        assert message.content == (record["result"] if record["error"] is None else f"Error: {record['error']}")
    assert result.answer == messages[-1].text and result.answer.strip()
