"""The debugger on threads answered by the real SmolLM2 GGUF at temperature 0."""

from __future__ import annotations

import json

import pytest

from graph import trace as T
from graph.app import PodiumApp
from graph.debug import StepRecorder
from tests.conftest import LOCAL_MODEL

pytestmark = pytest.mark.model

QUESTION = "What is the capital of France?"


def test_trace_state_replay_and_fork_on_the_local_model(settings):
    app = PodiumApp(settings.model_copy(update={"max_tokens": 24}))  # short answers: three generations
    recorder = StepRecorder(app.ledger)
    for event in app.stream_turn(QUESTION, trace=True):
        recorder.feed(event)
        if event.kind == "done":
            result = event.data["result"]
    recorder.close()
    thread = result.thread_id
    assert result.model == LOCAL_MODEL and "Paris" in result.answer

    traced = T.trace(app, thread)
    chat = traced[-1]
    assert [r.node for r in traced] == ["__start__", "conductor", "chat"]
    assert chat.messages_added[0]["content"] == result.answer
    # The step's model call is the ledger's row for this thread and node, with real token counts.
    (call,) = chat.model_calls
    ledger_row = next(c for c in app.ledger.calls(thread=thread) if c.node == "chat")
    assert call["id"] == ledger_row.id and call["model"] == LOCAL_MODEL
    assert call["prompt_tokens"] == result.usage["prompt_tokens"] > 10
    assert call["completion_tokens"] == result.usage["completion_tokens"] > 0
    assert recorder.records[-1].model_calls == chat.model_calls and chat.duration_s >= call["duration_s"]

    after_conductor = traced[1].checkpoint_id
    state = T.state_at(app, thread, after_conductor)
    assert state["next"] == ["chat"] and [m["content"] for m in state["values"]["messages"]] == [QUESTION]
    before = {T.cid(s): json.dumps(T.jsonable(s.values), sort_keys=True) for s in T.history(app, thread)}

    # Replaying at temperature 0 with the same seed reproduces the answer: an independent check that the
    # replay starts from exactly the state the original step saw.
    replayed = list(T.replay(app, thread, after_conductor))[-1].data["result"]
    assert replayed.answer == result.answer

    # Fork: replace the question (same message id, so add_messages swaps it) and re-run from there.
    human_id = state["values"]["messages"][0]["id"]
    edit = T.parse_sets([f'messages=[{{"type": "human", "content": "What is the capital of Italy?", '
                         f'"id": "{human_id}"}}]'])
    forked = T.fork(app, thread, after_conductor, edit)
    answer = list(T.replay(app, thread, forked["checkpoint_id"]))[-1].data["result"].answer
    assert "Rome" in answer
    after = {T.cid(s): json.dumps(T.jsonable(s.values), sort_keys=True) for s in T.history(app, thread)}
    assert {k: after[k] for k in before} == before  # two new branches, the original one untouched
    final = T.state_at(app, thread)["values"]["messages"]
    assert [m["content"] for m in final][0] == "What is the capital of Italy?" and final[-1]["content"] == answer
    original = T.trace(app, thread, chat.checkpoint_id)
    assert [m["content"] for r in original for m in r.messages_added] == [QUESTION, result.answer]
