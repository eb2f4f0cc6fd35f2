"""The tools specialist's graph logic with scripted planners: several approvals, safe calls first, failures."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END

from agents.contract import TurnOptions
from agents.tools import TOOLS, _act, after_tools, pending_calls
from graph.app import PodiumApp
from models.scripted import register_script
from podium.errors import ModelError
from tools import ToolEnv, select
from tools.approval import parse_decision


def plan_reply(*calls: tuple[str, dict]) -> str:
    return json.dumps([{"tool": name, "args": args} for name, args in calls])


def turn(app: PodiumApp, text: str, model: str):
    return list(app.stream_turn(text, options=TurnOptions(model=model)))[-1].data["result"]


def test_calls_wait_for_approval_one_at_a_time_and_safe_ones_run_first(app: PodiumApp):
    model = register_script("two-snippets", [plan_reply(("calculator", {"expression": "6 * 7"}),
                                                        ("python", {"code": "print(1)"}),
                                                        ("python", {"code": "print(2)"}))])
    first = turn(app, "What is 6 * 7? Also run this python code: `print(1)` and `print(2)`", model)
    assert [p["args"]["code"] for p in first.pending] == ["print(1)"]
    assert [(r["name"], r["result"]) for r in first.tool_calls] == [("calculator", "42"), ("python", None),
                                                                    ("python", None)]
    second = list(app.resume(first.thread_id, "approve"))[-1].data["result"]
    assert [p["args"]["code"] for p in second.pending] == ["print(2)"] and second.paused_before == ["approval"]
    done = list(app.resume(first.thread_id, "reject"))[-1].data["result"]
    assert [(r["result"], r["approved"]) for r in done.tool_calls] == [("42", None), ("1", True), (None, False)]
    assert done.answer == "6 * 7 = 42\nThe code printed:\n1\nYou rejected the python call, so it was not run."
    messages = app.graph.get_state({"configurable": {"thread_id": first.thread_id}}).values["messages"]
    assert sum(isinstance(m, ToolMessage) for m in messages) == 3 and pending_calls(messages) == []


def test_a_planner_that_never_gives_a_valid_call_fails_clearly_and_leaves_no_thread(app: PodiumApp):
    model = register_script("hopeless", ["no JSON here", '[{"tool": "nope"}]', '[{"tool": "calculator"}]'])
    with pytest.raises(ModelError) as failed:
        turn(app, "What is 1234 * 5678?", model)
    assert "gave no valid tool call after 1 repairs: it does not call calculator" in failed.value.one_line()
    assert "--fallback" in failed.value.hint
    assert app.threads() == []


def test_a_call_that_fails_validation_goes_back_to_the_model_with_the_error(app: PodiumApp):
    model = register_script("banana", [plan_reply(("calculator", {"expression": "banana split"})),
                                       plan_reply(("calculator", {"expression": "6 * 7"}))])
    result = turn(app, "What is 6 * 7? banana split", model)
    assert [(r["args"]["expression"], r["result"]) for r in result.tool_calls] == [("banana split", None),
                                                                                  ("6 * 7", "42")]
    assert "not an arithmetic expression: 'banana split'" in result.tool_calls[0]["error"]
    assert result.answer == "6 * 7 = 42", "the answer is about the call that worked"


def test_repairs_of_invalid_calls_are_bounded(app: PodiumApp):
    model = register_script("bananas", [plan_reply(("calculator", {"expression": "banana split"}))] * 3)
    result = turn(app, "What is 6 * 7? banana split", model)  # a fourth model call would fail the script
    assert len(result.tool_calls) == 3 and all(r["error"] for r in result.tool_calls)
    assert result.answer.startswith("calculator could not do that: invalid arguments")


def test_invalid_and_unknown_native_calls_are_answered_with_errors(tmp_path):
    ai = AIMessage(content="", tool_calls=[{"name": "calculator", "args": {"expression": "2 + 2"}, "id": "a"},
                                           {"name": "delete_everything", "args": {}, "id": "b"},
                                           {"name": "calculator", "args": {"expression": 4}, "id": "c"}],
                   invalid_tool_calls=[{"name": "calculator", "args": "{'expression': oops", "id": "d",
                                        "error": "bad json", "type": "invalid_tool_call"}])
    ctx = SimpleNamespace(tools=ToolEnv(workspace=tmp_path))
    update = _act(ctx, ai, [], select(TOOLS), template=False)
    records = update["tool_calls"]
    assert [r["id"] for r in records] == ["a", "b", "c", "d"]
    assert records[0]["result"] == "4"
    assert records[1]["error"].startswith("unknown tool 'delete_everything'")
    assert records[2]["error"].startswith("invalid arguments: expression")
    assert records[3]["error"].startswith("arguments are not valid JSON")
    replies = update["messages"][1:]
    assert [m.tool_call_id for m in replies] == ["a", "b", "c", "d"]
    assert [m.status for m in replies] == ["success", "error", "error", "error"]


def test_after_tools_routes_to_approval_back_to_the_model_or_to_the_end():
    ask = HumanMessage("q")
    waiting = AIMessage(content="", tool_calls=[{"name": "python", "args": {"code": "1"}, "id": "p"}])
    assert after_tools({"messages": [ask, waiting]}) == "approval"
    answered = [ask, waiting, ToolMessage(content="1", tool_call_id="p")]
    assert after_tools({"messages": answered}) == "tools"
    assert after_tools({"messages": [*answered, AIMessage("done")]}) == END


@pytest.mark.parametrize("value, expected", [
    ("approve", ("approve", None)), (True, ("approve", None)), ("n", ("reject", None)),
    ({"action": "reject"}, ("reject", None)), ({"action": "edit", "args": {"code": "1"}}, ("edit", {"code": "1"})),
])
def test_decisions(value, expected):
    assert parse_decision(value) == expected
