"""Tool calls and approvals in the Chat tab, in-process: real graph, tools and sandbox; a scripted planner."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr
import pytest

from graph.app import PodiumApp
from models.scripted import register_script
from ui.gradio_chat import ChatTab, new_session

CODE = "Run this python code: ```print(6*7)```"
PLAN = '[{"tool": "python", "args": {"code": "print(6*7)"}}]'


def req(session: str = "tools") -> SimpleNamespace:
    return SimpleNamespace(session_hash=session, username=None)


def turn(tab: ChatTab, text: str, model: str, session: dict | None = None) -> tuple[list, dict]:
    _box, _chat, prepared = tab.send(text, session or new_session(), req())
    final = list(tab.generate(prepared, model, None, req()))[-1]
    return final[0], final[1]


def work(chat: list[dict]) -> dict[str, dict]:
    return {m["metadata"]["title"]: m for m in chat if m.get("metadata")}


def test_a_calculation_shows_the_tool_call_after_its_step(app: PodiumApp):
    model = register_script("ui-calc", ['[{"tool": "calculator", "args": {"expression": "17 * 23"}}]'])
    chat, session = turn(ChatTab(app), "What is 17 * 23?", model)
    steps = work(chat)
    call = steps["⚒ calculator"]
    titles = [m["metadata"]["title"] for m in chat if m.get("metadata")]
    assert titles == ["⚙ Conductor", "⚒ Tools specialist", "⚒ calculator"]
    assert '"expression": "17 * 23"' in call["content"] and "**result** 391" in call["content"]
    assert "routed to **tools**" in steps["⚙ Conductor"]["content"]
    assert chat[-1]["content"].startswith("17 * 23 = 391")
    assert session["pending"] == []


@pytest.fixture
def paused(app: PodiumApp) -> tuple[ChatTab, dict]:
    """A turn stopped at the approval of a python call."""
    tab = ChatTab(app)
    chat, session = turn(tab, CODE, register_script("ui-python", [PLAN]))
    waiting = work(chat)
    assert waiting["⚒ python"]["metadata"] == {
        "title": "⚒ python",
        "status": "pending",
        "log": "awaiting approval",
    }
    assert "Run python with these arguments?" in waiting["⚠ Waiting for your approval"]["content"]
    assert chat[-1]["content"].startswith("_Paused: approve, edit or reject")
    assert [p["name"] for p in session["pending"]] == ["python"]
    with pytest.warns(UserWarning, match="pending tool call"):
        assert tab.send("something else", session, req()) == (gr.skip(),) * 3, "a warning; nothing changes"
    return tab, session


def decide(tab: ChatTab, action: str, session: dict, args: str = "") -> tuple[list, dict]:
    final = list(tab.decide(action, args, session, req()))[-1]
    return final[0], final[1]


def test_approve_runs_the_call_and_finishes_the_turn(paused, app: PodiumApp):
    tab, session = paused
    with gr.Blocks():
        tab.approvals.build()
        group, title, args = tab.approvals.shown(session["pending"])
    assert group["visible"] is True and "`python`" in title and json.loads(args) == {"code": "print(6*7)"}
    chat, session = decide(tab, "approve", session)
    steps = work(chat)
    assert steps["✓ Approved"] and "42" in steps["⚒ python"]["content"]
    assert steps["⚒ python"]["metadata"]["log"] == "approved"
    assert not [m for m in chat if (m.get("metadata") or {}).get("status") == "pending"], "no spinner is left"
    assert "42" in chat[-1]["content"] and session["pending"] == []
    history = app.history(session["thread_id"])
    assert history[0]["content"] == CODE and "42" in history[-1]["content"]


def test_edit_runs_the_edited_arguments_and_bad_edits_change_nothing(paused):
    tab, session = paused
    with pytest.warns(UserWarning, match="not valid JSON"):
        list(tab.decide("edit", "{print", session, req()))
    chat, still = decide(tab, "edit", session, '{"code": 42}')
    assert "⚠ **invalid decision" in chat[-1]["content"] and still["pending"] == session["pending"]
    chat, done = decide(tab, "edit", still, '{"code": "print(6*8)"}')
    assert "48" in chat[-1]["content"] and done["pending"] == []


def test_a_reopened_paused_thread_asks_again(paused):
    tab, session = paused
    _chat, reopened, *_ = tab.sidebar.open(session["thread_id"], req("another-tab"))
    assert reopened["pending"] == session["pending"]
    chat, done = decide(tab, "approve", reopened)
    assert "42" in chat[-1]["content"] and done["pending"] == []


def test_reject_does_not_run_the_call(paused):
    tab, session = paused
    chat, session = decide(tab, "reject", session)
    assert "You rejected the python call" in chat[-1]["content"]
    assert work(chat)["⚒ python"]["metadata"]["log"] == "rejected" and session["pending"] == []
    with pytest.warns(UserWarning, match="no tool call waiting"):
        list(tab.decide("approve", "", session, req()))
