"""Human approval: python pauses the graph; approve, edit or reject; resume from the checkpoint after a restart."""

from __future__ import annotations

import json

import pytest

from agents.contract import TurnOptions
from graph.app import PodiumApp
from podium.errors import PodiumError
from podium.settings import Settings
from tests.conftest import run_cli

pytestmark = pytest.mark.model

RUN_45 = "Run this python code: print(sum(range(10)))"


@pytest.fixture(scope="module")
def podium(tmp_path_factory: pytest.TempPathFactory) -> PodiumApp:
    return PodiumApp(Settings(home=tmp_path_factory.mktemp("podium-approval"), temperature=0.0, max_tokens=64))


def paused(podium: PodiumApp, text: str = RUN_45):
    events = list(podium.stream_turn(text))
    result = events[-1].data["result"]
    (interrupt,) = [e for e in events if e.kind == "interrupt"]
    assert interrupt.data["interrupts"] == result.pending
    (call,) = result.pending
    assert call["name"] == "python" and call["question"] == "Run python with these arguments?"
    assert result.paused_before == ["approval"] and result.answer == ""
    assert result.tool_calls[0]["result"] is None and result.tool_calls[0]["approved"] is None
    return result, call


def test_reject_runs_nothing_and_says_so(podium):
    result, call = paused(podium)
    with pytest.raises(PodiumError, match="waiting for your approval of python"):
        list(podium.resume(result.thread_id))
    before = podium.history(result.thread_id)
    with pytest.raises(PodiumError, match="waiting for your approval of python") as refused:
        list(podium.stream_turn("something else", result.thread_id))  # would orphan the pending call
    assert "podium resume" in refused.value.hint and podium.history(result.thread_id) == before
    done = list(podium.resume(result.thread_id, "reject"))[-1].data["result"]
    assert done.answer == "You rejected the python call, so it was not run."
    (record,) = done.tool_calls
    assert record["approved"] is False and record["result"] is None and "rejected" in record["error"]
    assert done.pending == [] and done.paused_before == []
    with pytest.raises(PodiumError, match="nothing to resume"):
        list(podium.resume(result.thread_id, "approve"))


def test_edited_arguments_are_validated_then_run(podium):
    result, call = paused(podium)
    for bad, why in [({"action": "edit", "args": {"source": "print(1)"}}, "edited arguments for python"),
                     ({"action": "edit"}, "needs 'args'"), ("maybe", "unrecognized decision")]:
        with pytest.raises(PodiumError, match=why):
            list(podium.resume(result.thread_id, bad))
    assert podium.graph.get_state({"configurable": {"thread_id": result.thread_id}}).next == ("approval",)
    done = list(podium.resume(result.thread_id, {"action": "edit", "args": {"code": "print(6 * 7)"}}))[-1]
    record = done.data["result"].tool_calls[0]
    assert record["args"] == {"code": "print(6 * 7)"} and record["result"] == "42" and record["approved"] is True
    assert done.data["result"].answer == "The code printed:\n42"


def test_a_plain_breakpoint_resumes_without_a_decision(podium):
    events = list(podium.stream_turn("hello there", break_before=["chat"], options=TurnOptions(model="scripted/echo")))
    result = events[-1].data["result"]
    assert result.paused_before == ["chat"] and result.pending == []
    with pytest.raises(PodiumError, match="no tool call waiting for approval"):
        list(podium.resume(result.thread_id, "approve"))
    with pytest.raises(PodiumError, match="is paused before chat"):
        list(podium.stream_turn("another message", result.thread_id, options=TurnOptions(model="scripted/echo")))
    done = list(podium.resume(result.thread_id))[-1].data["result"]
    assert done.answer == "You said: hello there" and done.paused_before == []


def test_approval_survives_a_process_restart():
    asked = run_cli("ask", "--json", RUN_45)
    assert asked.returncode == 3, asked.stderr
    first = json.loads(asked.stdout)
    (call,) = first["pending"]
    assert call["name"] == "python" and call["args"] == {"code": "print(sum(range(10)))"}
    resumed = run_cli("resume", first["thread_id"], "--approve", "--json")
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert "45" in data["answer"] and data["pending"] == []
    (record,) = data["tool_calls"]
    assert record["name"] == "python" and record["result"] == "45" and record["approved"] is True
    again = run_cli("resume", first["thread_id"], "--approve")
    assert again.returncode == 2 and "nothing to resume" in again.stderr


def test_cli_bad_decisions_are_one_line_errors():
    for args, message in [(["--approve", "--reject"], "choose one of --approve / --reject"),
                          (["--edit", "{oops"], "--edit is not valid JSON")]:
        done = run_cli("resume", "some-thread", *args)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_ask_approve_runs_the_call_at_once():
    done = run_cli("ask", "--approve", RUN_45)
    assert done.returncode == 0, done.stderr
    assert "The code printed:\n45" in done.stdout


def test_chat_asks_for_the_decision():
    done = run_cli("chat", input=f"{RUN_45}\ny\n/exit\n")
    assert done.returncode == 0, done.stderr
    assert "python needs your approval" in done.stderr and "The code printed:\n45" in done.stdout
