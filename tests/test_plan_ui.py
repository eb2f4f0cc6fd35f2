"""A plan where users look: the web chat's plan message updating live, the terminal's step lines, both fed by
the real graph's events (scripted models)."""

from __future__ import annotations

import json

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.scripted import register_script
from tests.conftest import cli_here
from ui.chat_view import PLAN_TITLE, TurnView, plan_message
from ui.render import plan_line


def calls(*items: tuple[str, dict]) -> str:
    return json.dumps([{"tool": name, "args": args} for name, args in items])


def test_the_web_chat_shows_one_plan_message_whose_steps_update_live(app: PodiumApp):
    model = register_script("ui-plan", [calls(("calculator", {"expression": "3 * 3"})),
                                        calls(("convert_units", {"value": 9, "from_unit": "km", "to_unit": "m"}))])
    view, seen = TurnView(started=0.0), []
    for event in app.stream_turn("compute 3 * 3; then convert that many km to m", options=TurnOptions(model=model)):
        view.apply(event)
        plans = [m for m in view.messages() if (m.get("metadata") or {}).get("title") == PLAN_TITLE]
        assert len(plans) <= 1, "one plan message, updated in place"
        if plans and (not seen or seen[-1] != plans[0]["content"]):
            seen.append(plans[0]["content"])
    assert seen[0] == "- ○ 1. tools: compute 3 * 3\n- ○ 2. tools: convert that many km to m"
    assert "- ◐ 1. tools: compute 3 * 3" in seen[1]
    assert seen[-1] == "- ✓ 1. tools: compute 3 * 3 → 3 * 3 = 9\n- ✓ 2. tools: convert 9 km to m → 9 km = 9000 m"
    (plan,) = [m for m in view.messages() if (m.get("metadata") or {}).get("title") == PLAN_TITLE]
    assert plan["metadata"]["status"] == "done" and plan["metadata"]["log"] == "2/2 steps done"
    assert view.messages()[-1]["content"].startswith("1. 3 * 3 = 9\n2. 9 km = 9000 m")  # the answer, then the footer
    titles = [(m.get("metadata") or {}).get("title") for m in view.messages()]
    assert "⚙ step_token" not in titles and "⚙ plan" not in titles


def test_a_waiting_step_shows_without_a_spinner():
    plan = [{"step": 1, "specialist": "tools", "input": "compute 6 * 7", "status": "done", "output": "6 * 7 = 42"},
            {"step": 2, "specialist": "tools", "input": "run this python code: print(43)", "status": "waiting",
             "output": ""}]
    message = plan_message(plan)
    assert message["metadata"].get("status") is None and message["metadata"]["log"] == "1/2 steps done"
    assert message["content"].splitlines()[1] == "- ⏸ 2. tools: run this python code: print(43)"
    running = plan_message([{**plan[1], "status": "running"}], {2: "The code"})
    assert running["metadata"]["status"] == "pending" and running["content"].endswith("→ The code")


def test_a_failed_step_shows_its_error():
    step = {"step": 2, "specialist": "tools", "input": "convert it", "status": "failed", "output": "",
            "error": "step 2 needs a number from step 1, whose output has none"}
    assert plan_line(step) == "✗ 2. tools: convert it → step 2 needs a number from step 1, whose output has none"
    assert plan_line({**step, "status": "done", "output": "x" * 300}).endswith("…")


def test_the_terminal_prints_each_step_as_it_ends_then_the_answer(capsys):
    model = register_script("cli-plan", [calls(("calculator", {"expression": "3 * 3"})),
                                         calls(("convert_units", {"value": 9, "from_unit": "km", "to_unit": "m"}))])
    code, out, err = cli_here(capsys, "ask", "--model", model, "compute 3 * 3; then convert that many km to m")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("· ")]
    assert lines[:4] == ["· ○ 1. tools: compute 3 * 3", "· ○ 2. tools: convert that many km to m",
                         "· ✓ 1. tools: compute 3 * 3 → 3 * 3 = 9", "· ✓ 2. tools: convert 9 km to m → 9 km = 9000 m"]
    assert out.startswith("1. 3 * 3 = 9\n2. 9 km = 9000 m")
