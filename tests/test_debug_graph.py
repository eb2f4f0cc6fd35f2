"""The debugger on real graph runs (scripted model, real SQLite checkpoints and ledger)."""

from __future__ import annotations

import json
import time

import pytest

from agents.contract import TurnOptions
from graph import trace as T
from graph.app import PodiumApp
from graph.debug import StepRecorder
from models.scripted import register_script
from podium.errors import ConfigError, NotFoundError, PodiumError

FAKE_KEY = "sk-proj-FAKEgraphKEY0123456789abcdef"


def run(app: PodiumApp, text: str, thread: str | None = None, break_before: list[str] | None = None,
        **options) -> tuple[object, StepRecorder]:
    recorder = StepRecorder(app.ledger)
    result = None
    for event in app.stream_turn(text, thread, TurnOptions(**options), trace=True, break_before=break_before):
        recorder.feed(event)
        if event.kind == "done":
            result = event.data["result"]
    recorder.close()
    return result, recorder


def snapshot_all(app: PodiumApp, thread: str) -> dict[str, str]:
    """Every checkpoint id -> its values as JSON (to compare history before and after)."""
    return {T.cid(s): json.dumps(T.jsonable(s.values), sort_keys=True) for s in T.history(app, thread)}


def test_live_step_records_match_the_trace(app, caplog):
    model = register_script("dbg-live", ["first answer"])
    with caplog.at_level("DEBUG", logger="podium.steps"):
        result, recorder = run(app, "hello", model=model)
    live = recorder.records
    assert [r.node for r in live] == ["conductor", "chat"]
    assert [r.getMessage() for r in caplog.records] == [f"step {r.line()}" for r in live]  # the logs share them
    chat = live[1]
    assert chat.thread == result.thread_id and chat.checkpoint_id and chat.parent_checkpoint_id == live[0].checkpoint_id
    assert chat.messages_added[0]["content"] == "first answer" and chat.duration_s > 0
    assert [c["completion_tokens"] for c in chat.model_calls] == [2] and chat.model_calls[0]["outcome"] == "ok"
    assert live[0].delta["route"] == "chat" and not live[0].model_calls

    traced = T.trace(app, result.thread_id)
    assert [r.node for r in traced] == ["__start__", "conductor", "chat"]
    assert {k: traced[0].messages_added[0][k] for k in ("type", "content")} == {"type": "human", "content": "hello"}
    assert [r.checkpoint_id for r in traced[1:]] == [r.checkpoint_id for r in live]
    assert traced[2].model_calls == chat.model_calls  # matched in the ledger by thread, node and time
    assert traced[2].delta == chat.delta


def test_state_at_a_checkpoint(app):
    model = register_script("dbg-state", ["an answer"])
    result, recorder = run(app, "what state?", model=model)
    conductor = recorder.records[0]
    before_chat = T.state_at(app, result.thread_id, conductor.checkpoint_id)
    assert before_chat["next"] == ["chat"] and before_chat["values"]["route"] == "chat"
    assert [m["type"] for m in before_chat["values"]["messages"]] == ["human"]
    head = T.state_at(app, result.thread_id)
    assert head["next"] == [] and head["checkpoint_id"] == recorder.records[-1].checkpoint_id
    assert [m["content"] for m in head["values"]["messages"]] == ["what state?", "an answer"]
    prefix = conductor.checkpoint_id[:-6]  # a unique prefix is enough
    assert T.state_at(app, result.thread_id, prefix)["checkpoint_id"] == conductor.checkpoint_id


def test_replay_makes_a_new_branch_and_keeps_the_original(app):
    model = register_script("dbg-replay", ["one", "two", "replayed one"])
    first, rec1 = run(app, "first", model=model)
    run(app, "second", first.thread_id, model=model)
    thread = first.thread_id
    old_head = T.state_at(app, thread)["checkpoint_id"]
    before = snapshot_all(app, thread)
    after_conductor = rec1.records[0].checkpoint_id

    events = list(T.replay(app, thread, after_conductor))
    result = events[-1].data["result"]
    assert result.answer == "replayed one" and result.route == ["chat"]

    after = snapshot_all(app, thread)
    assert {k: after[k] for k in before} == before  # every original checkpoint is unchanged
    assert len(after) > len(before)
    new_trace = T.trace(app, thread)
    assert [r.node for r in new_trace] == ["__start__", "conductor", "__replay__", "chat"]
    assert new_trace[-1].messages_added[0]["content"] == "replayed one"
    assert new_trace[2].parent_checkpoint_id == after_conductor
    old_trace = T.trace(app, thread, old_head)  # the original branch can still be traced
    assert [r.node for r in old_trace] == ["__start__", "conductor", "chat"] * 2
    assert [m["content"] for r in old_trace for m in r.messages_added] == ["first", "one", "second", "two"]
    rows = T.checkpoint_rows(app, thread)
    assert sum(r["head"] for r in rows) == 1
    assert not next(r for r in rows if r["checkpoint_id"] == old_head)["current_branch"]


def test_fork_edits_state_routes_on_it_and_keeps_the_original(app):
    model = register_script("dbg-fork", ["original", "forked answer"])
    result, recorder = run(app, "fork me", model=model)
    thread, at = result.thread_id, recorder.records[0].checkpoint_id
    before = snapshot_all(app, thread)

    values = T.parse_sets(['route_reason="edited by a test"',
                           'messages=[{"type": "human", "content": "and this too"}]'])
    forked = T.fork(app, thread, at, values)
    assert forked["parent_checkpoint_id"] == at and forked["next"] == ["chat"]
    assert {k: v for k, v in snapshot_all(app, thread).items() if k in before} == before
    state = T.state_at(app, thread, forked["checkpoint_id"])
    assert state["values"]["route_reason"] == "edited by a test"
    assert [m["content"] for m in state["values"]["messages"]] == ["fork me", "and this too"]

    done = list(T.replay(app, thread, forked["checkpoint_id"]))[-1].data["result"]
    assert done.answer == "forked answer"
    traced = T.trace(app, thread)
    assert [r.node for r in traced] == ["__start__", "conductor", "__edit__", "chat"]
    assert traced[2].delta["route_reason"] == "edited by a test"
    assert traced[2].messages_added[0]["content"] == "and this too"
    original = recorder.records[0].delta["route_reason"]  # whatever the conductor said: the fork left it alone
    assert original != "edited by a test" and T.state_at(app, thread, at)["values"]["route_reason"] == original


def test_fork_that_breaks_routing_is_refused_without_writing(app):
    result, recorder = run(app, "x", model="scripted/echo")
    before = snapshot_all(app, result.thread_id)
    with pytest.raises(ConfigError, match="astrology") as exc:
        T.fork(app, result.thread_id, recorder.records[0].checkpoint_id, {"route": "astrology"})
    assert "known: ['chat'" in exc.value.message  # the router's own list of valid routes
    assert snapshot_all(app, result.thread_id) == before


def test_breakpoints_stop_step_and_continue(settings):
    app = PodiumApp(settings)
    model = register_script("dbg-break", ["after the break"])
    paused, _ = run(app, "pause me", model=model, break_before=["conductor", "chat"])
    assert paused.paused_before == ["conductor"] and paused.answer == "" and paused.route == []
    # A new app (as a new process would) continues with the saved breakpoints: one node per resume.
    app2 = PodiumApp(settings)
    step = list(app2.resume(paused.thread_id))[-1].data["result"]
    assert step.paused_before == ["chat"] and step.route == ["conductor"]
    resumed_at = time.time()
    done = list(PodiumApp(settings).resume(paused.thread_id))[-1].data["result"]
    assert done.paused_before == [] and done.answer == "after the break" and done.model == model
    # The time spent paused is not the step's: it is timed from the resume, not from the pause.
    chat_step = next(r for r in T.trace(app, paused.thread_id) if r.node == "chat")
    assert chat_step.started >= resumed_at and chat_step.duration_s <= time.time() - resumed_at
    calls = app.ledger.calls(thread=paused.thread_id)
    assert len({c.turn for c in calls}) == 1  # the resumed turn is the same ledger turn
    with pytest.raises(PodiumError, match="nothing to resume"):
        list(app2.resume(paused.thread_id))


def test_failed_step_is_recorded_with_its_error(app):
    model = register_script("dbg-fail", [])  # the first model call fails
    recorder = StepRecorder(app.ledger)
    with pytest.raises(PodiumError) as exc:
        for event in app.stream_turn("boom", trace=True, options=TurnOptions(model=model)):
            recorder.feed(event)
    failed = recorder.close(exc.value)
    assert [r.node for r in recorder.records] == ["conductor", "chat"] and failed[-1].node == "chat"
    assert failed[-1].error and failed[-1].checkpoint_id is None
    assert [c["outcome"] for c in failed[-1].model_calls] == ["failed"]


def test_bad_ids_and_nodes_list_the_valid_choices(app):
    result, _ = run(app, "hi", model="scripted/echo")
    thread = result.thread_id
    with pytest.raises(NotFoundError, match="unknown thread 'nope'") as exc:
        T.trace(app, "nope")
    assert thread in exc.value.hint
    with pytest.raises(NotFoundError, match="unknown checkpoint 'feedbeef'") as exc:
        T.state_at(app, thread, "feedbeef")
    head = T.state_at(app, thread)
    assert head["checkpoint_id"] in exc.value.hint
    with pytest.raises(ConfigError, match="nothing to replay") as exc:
        list(T.replay(app, thread, head["checkpoint_id"]))
    assert head["parent_checkpoint_id"] in exc.value.hint
    with pytest.raises(ConfigError, match="no node 'chatt'") as exc:
        list(app.stream_turn("hi", thread, break_before=["chatt"], options=TurnOptions(model="scripted/echo")))
    assert exc.value.hint == "choose from: " + ", ".join(app.node_names())
    assert {"chat", "conductor"} <= set(app.node_names())
    with pytest.raises(ConfigError, match="at least one"):
        T.fork(app, thread, head["checkpoint_id"], {})


def test_secrets_never_reach_traces_or_state(app, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    result, recorder = run(app, f"my key is {FAKE_KEY}", model="scripted/echo")
    dumps = [json.dumps(T.state_at(app, result.thread_id)),
             *(json.dumps(r.to_dict()) + r.line() for r in T.trace(app, result.thread_id)),
             *(json.dumps(r.to_dict()) + r.line() for r in recorder.records)]
    assert all(FAKE_KEY not in d for d in dumps)
    assert sum("[redacted]" in d for d in dumps) >= 3  # the question, the echo, the state
