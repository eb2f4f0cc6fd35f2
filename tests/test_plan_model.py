"""A capable planner model (scripted, described as remote): plans validated and repaired, replanning once,
falling back to the deterministic plan when it is down, and never called for a one-step request."""

from __future__ import annotations

import json

import pytest

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.scripted import register_script
from podium.errors import PodiumError
from podium.settings import Settings


def steps(*items: tuple[str, str, list[int]]) -> str:
    return json.dumps({"steps": [{"specialist": s, "input": i, "uses": u} for s, i, u in items]})


def calc(expression: str) -> str:
    return json.dumps([{"tool": "calculator", "args": {"expression": expression}}])


def app_with(settings: Settings, name: str, replies: list[str]) -> PodiumApp:
    planner = register_script(name, replies, local=False)
    # room for a whole plan: the scripted model, like a real one, stops at max_tokens (64 in the test settings)
    return PodiumApp(settings.model_copy(update={"router_model": planner, "max_tokens": 512}))


def ask(app: PodiumApp, text: str, tools: list[str]):
    models = {"chat": "scripted/echo", "tools": register_script("plan-tools", tools)}
    return app.ask(text, options=TurnOptions(agent_models=models))


def planner_calls(app: PodiumApp, result) -> list:
    return [c for c in app.ledger.calls(thread=result.thread_id) if c.node == "conductor"]


def test_the_planner_models_plan_runs_with_references_filled_in(settings):
    app = app_with(settings, "planner-ok", [steps(("tools", "compute 6 * 7", []),
                                                  ("chat", "write a haiku about the result of step 1", [1]))])
    result = ask(app, "compute 6 * 7 and then write a haiku about it", [calc("6 * 7")])
    assert [(s["specialist"], s["input"], s["status"]) for s in result.plan] == [
        ("tools", "compute 6 * 7", "done"), ("chat", "write a haiku about 42", "done")]
    assert result.answer == "1. 6 * 7 = 42\n2. You said: write a haiku about 42"
    assert len(planner_calls(app, result)) == 1


def test_an_invalid_plan_is_sent_back_with_the_problem_then_used_once_repaired(settings):
    app = app_with(settings, "planner-repair", [steps(("tools", "compute 6 * 7", []), ("chat", "a poem", [5])),
                                                steps(("tools", "compute 6 * 7", []), ("chat", "a poem", []))])
    result = ask(app, "compute 6 * 7; then write a poem", [calc("6 * 7")])
    assert [s["status"] for s in result.plan] == ["done", "done"]
    assert len(planner_calls(app, result)) == 2


@pytest.mark.parametrize(("name", "replies", "message"), [
    ("planner-missing-step", [steps(("tools", "2 + 2", []), ("chat", "poem", [5]))] * 2,
     "gave no valid plan: step 2 uses step 5, which does not exist"),
    ("planner-too-long", [steps(*[("chat", "poem", [])] * 7)] * 2,
     "gave no valid plan: the request has 7 steps; a plan holds at most 6"),
    ("planner-unavailable", [steps(("knowledge", "find the refund period", []), ("tools", "2 + 2", []))] * 2,
     "gave no valid plan: step 1 ('find the refund period') needs the knowledge specialist, which is unavailable"),
    ("planner-garbled", ["not JSON at all", "still not JSON"],
     "gave no valid plan: scripted/planner-garbled: structured output invalid"),
])
def test_a_plan_that_stays_invalid_is_one_clear_error_and_writes_nothing(settings, name, replies, message):
    app = app_with(settings, name, replies)
    with pytest.raises(PodiumError) as failed:
        ask(app, "compute 2 + 2; then write a poem", [])
    assert failed.value.message.startswith(f"the planner model scripted/{name} {message}") and failed.value.hint
    assert app.threads() == []


def test_a_failed_step_is_planned_again_once(settings):
    app = app_with(settings, "planner-replan", [
        steps(("tools", "compute 1/0", []), ("chat", "a poem about the result of step 1", [1])),
        steps(("tools", "compute 1/1", []), ("chat", "a poem about the result of step 3", [3]))])
    result = ask(app, "compute 1/0 and then write a poem about it", [calc("1/0"), calc("1/1")])
    assert [(s["step"], s["status"]) for s in result.plan] == [(1, "failed"), (2, "skipped"), (3, "done"),
                                                                (4, "done")]
    assert result.plan[3]["input"] == "a poem about 1"
    assert result.answer.splitlines()[0] == ("1. Step 1 (tools) failed: calculator: division by zero; "
                                             "planned again from there")
    assert any("planned the rest again" in n for n in result.notices)


def test_a_request_without_steps_never_calls_the_planner(settings):
    app = app_with(settings, "planner-unused", [])  # any call would fail the test
    result = ask(app, "What is 6 * 7?", [calc("6 * 7")])
    assert result.route == ["conductor", "tools"] and result.plan == []


def test_a_planner_that_is_down_leaves_the_deterministic_plan(settings):
    app = PodiumApp(settings.model_copy(update={"router_model": "openai/planner", "retries": 0,
                                               "openai_base_url": "http://127.0.0.1:9/v1"}))
    result = ask(app, "compute 6 * 7, then convert that many km to miles",
                 [calc("6 * 7"), json.dumps([{"tool": "convert_units",
                                              "args": {"value": 42, "from_unit": "km", "to_unit": "miles"}}])])
    assert [s["status"] for s in result.plan] == ["done", "done"]
    assert any("planner model openai/planner failed" in n for n in result.notices)
