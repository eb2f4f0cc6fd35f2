"""The Chat tab's handlers in-process, on a real PodiumApp (real graph, SQLite, ledger; no server).

The browser and gradio_client tests drive the same handlers through a real server;
here each bad-input path is checked directly and quickly.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from graph.app import PodiumApp
from models import registry
from models.scripted import ScriptedChatModel, register_script
from models.spec import ModelSpec
from podium.settings import Settings
from tests.conftest import LOCAL_MODEL
from ui.gradio_chat import MAX_MESSAGE_CHARS, ChatTab, new_session

ECHO = "scripted/echo"


def request(session: str = "s1", user: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(session_hash=session, username=user)


def turn(tab: ChatTab, text: str, session: dict, req, model: str = ECHO) -> tuple[list, dict]:
    """What the browser does: send, then stream generate; returns (all chat updates, final session)."""
    _box, _chat, session = tab.send(text, session, req)
    updates = list(tab.generate(session, model, None, req))
    return [u[0] for u in updates], updates[-1][1]


def answer_of(chat: list[dict]) -> str:
    return chat[-1]["content"]


@pytest.fixture
def tab(app: PodiumApp) -> ChatTab:
    return ChatTab(app)


def test_bad_messages_are_a_warning_and_change_nothing(tab: ChatTab, app: PodiumApp):
    """A refused message is a toast; an error would mark the chat as failed and blank it."""
    with gr.Blocks():
        tab.build(app.settings)
    skip = gr.skip()
    paused = {**new_session(), "chat": [{"role": "user", "content": "run it"}], "pending": [{"name": "python"}]}
    for text, session, why in (("", new_session(), "Type a message first"),
                               ("   \n ", new_session(), "Type a message first"),
                               ("x" * (MAX_MESSAGE_CHARS + 1), new_session(), "limit is"),
                               ("hi", paused, "pending tool call")):
        with pytest.warns(UserWarning, match=why):
            assert tab.send(text, session, request()) == (skip, skip, skip), "box, chat and session stay"
        # The chained generate step then finds no text and leaves every output (the approval panel too) alone.
        assert list(tab.generate(session, ECHO, None, request())) == [(skip,) * (7 + len(tab.approvals.components()))]
    assert app.threads() == []


def test_the_thread_list_counts_turns_not_internal_messages(app: PodiumApp):
    tab = ChatTab(app)
    with gr.Blocks():
        tab.approvals.build()
    _, session = turn(tab, "What is 2 + 2?", new_session(), request(),
                      model=register_script("ui-two", ['[{"tool": "calculator", "args": {"expression": "2 + 2"}}]']))
    assert len(app.history(session["thread_id"])) > 2, "the tool call and its result are messages too"
    (label, thread), = tab.sidebar.listing(session, None, request())[0].choices
    assert thread == session["thread_id"] and label.startswith("What is 2 + 2? · 1 turn · ")
    _, session = turn(tab, "and again", session, request())
    assert " · 2 turns · " in tab.sidebar.listing(session, None, request())[0].choices[0][0]


def test_a_turn_streams_steps_and_tokens_then_persists_the_thread(tab: ChatTab, app: PodiumApp):
    box, shown, session = tab.send("hello there podium", new_session(), request())
    assert shown == [{"role": "user", "content": "hello there podium"}] and box.interactive is False
    chats, session = turn(tab, "hello there podium", new_session(), request())
    answers = [c[-1]["content"] for c in chats if c[-1]["role"] == "assistant" and not c[-1].get("metadata")]
    assert len(set(answers)) >= 3, "the answer grows piece by piece"
    final = chats[-1]
    assert answer_of(final).startswith("You said: hello there podium") and "scripted/echo" in answer_of(final)
    titles = [m["metadata"]["title"] for m in final if m.get("metadata")]
    assert titles == ["⚙ Conductor", "✎ Chat specialist"]
    assert all(m["metadata"]["status"] == "done" for m in final if m.get("metadata"))
    assert session["thread_id"] and [t.thread_id for t in app.threads()] == [session["thread_id"]]
    assert [m["role"] for m in app.history(session["thread_id"])] == ["user", "assistant"]
    reopened, reopened_session, *_ = tab.sidebar.open(session["thread_id"], request("another-tab"))
    shown_live = [(m["role"], m["content"], (m.get("metadata") or {}).get("title")) for m in final]
    assert [(m["role"], m["content"], (m.get("metadata") or {}).get("title")) for m in reopened] == shown_live, \
        "a reopened thread shows its steps and footer as the live chat did (issue 17 web 5)"
    assert reopened_session["thread_id"] == session["thread_id"]
    _, second = turn(tab, "and again", session, request())
    assert second["thread_id"] == session["thread_id"] and len(app.history(session["thread_id"])) == 4


def test_two_sessions_never_share_a_thread(tab: ChatTab, app: PodiumApp):
    chats_a, a = turn(tab, "I am Alice", new_session(), request("a"))
    chats_b, b = turn(tab, "I am Bob", new_session(), request("b"))
    assert a["thread_id"] != b["thread_id"]
    assert not any("Bob" in str(m["content"]) for m in chats_a[-1])
    assert not any("Alice" in str(m["content"]) for m in chats_b[-1])
    assert "Alice" not in str(app.history(b["thread_id"]))


def test_with_auth_each_user_lists_and_opens_only_their_threads(app: PodiumApp, settings: Settings):
    tab = ChatTab(app, auth=True)
    _, alice = turn(tab, "secret plans", new_session(), request("a", "alice"))
    _, bob = turn(tab, "bob's note", new_session(), request("b", "bob"))
    assert [t.thread_id for t in tab.sidebar.visible(request("x", "alice"))] == [alice["thread_id"]]
    assert [t.thread_id for t in tab.sidebar.visible(request("y", "bob"))] == [bob["thread_id"]]
    with pytest.raises(gr.Error, match="unknown thread"):
        tab.sidebar.open(alice["thread_id"], request("y", "bob"))


def test_a_provider_without_a_key_is_a_friendly_error_and_writes_nothing(tab: ChatTab, app: PodiumApp):
    chats, session = turn(tab, "hello", new_session(), request(), model="openai/gpt-4o-mini")
    final = chats[-1]
    assert final[0] == {"role": "user", "content": "hello"}
    assert answer_of(final).startswith("⚠ **") and "OPENAI_API_KEY" in answer_of(final)
    assert session["thread_id"] is None and app.threads() == []
    chats, session = turn(tab, "still there?", session, request())
    assert answer_of(chats[-1]).startswith("You said: still there?"), "the app keeps serving"


class _Breaks(ScriptedChatModel):
    """Streams three pieces, then the 'provider' dies (a non-retryable crash)."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        for piece in ("Half", " an", " answer"):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        raise RuntimeError("the model process crashed")


def test_a_model_failing_mid_stream_keeps_the_partial_answer_and_rolls_back(
    tab: ChatTab, app: PodiumApp, monkeypatch: pytest.MonkeyPatch
):
    spec = ModelSpec(spec="breaks/now", provider="breaks", name="now", context_length=100_000)
    provider = registry.Provider(lambda name, s: spec, lambda sp, s: _Breaks(script="echo"))
    monkeypatch.setitem(registry.PROVIDERS, "breaks", provider)
    _, first = turn(tab, "remember this", new_session(), request())
    chats, session = turn(tab, "now fail", first, request(), model="breaks/now")
    final = chats[-1]
    assert "Half an answer" in answer_of(final) and "⚠" in answer_of(final)
    assert "crashed" in answer_of(final)
    steps = [m for m in final if (m.get("metadata") or {}).get("title") == "✎ Chat specialist"]
    assert [s["metadata"].get("log") for s in steps] == [None, "failed"], "the first turn stays as it was"
    assert len(app.history(first["thread_id"])) == 2, "the failed turn is not in the thread"
    assert session["thread_id"] == first["thread_id"] and session["text"] == ""


def test_new_thread_starts_empty(tab: ChatTab):
    chat, session, radio, _note, box, collection, *_ = tab.new_thread(None, request())
    assert chat == [] and session == new_session() and radio.value is None and box.interactive
    assert collection["value"] == "", "a new thread resets the collection picker to 'none' (issue 17 web 3)"


@pytest.mark.model
def test_stop_cancels_local_generation_at_the_next_token(settings: Settings):
    app = PodiumApp(settings.model_copy(update={"max_tokens": 400}))
    tab, req = ChatTab(app), request("stopper")
    _box, _chat, session = tab.send("Write a very long story about a dragon and a knight.", new_session(), req)
    updates, after_stop = [], 0
    for update in tab.generate(session, LOCAL_MODEL, None, req):
        updates.append(update)
        answer = update[0][-1]
        if after_stop:
            after_stop += 1
        elif answer["role"] == "assistant" and not answer.get("metadata") and answer["content"]:
            tab.stop(req)
            after_stop = 1
    final_chat, final_session = updates[-1][0], updates[-1][1]
    assert updates[-1][2].value == "Write a very long story about a dragon and a knight.", "back in the box to resend"
    assert after_stop and after_stop <= 4, "generation ends within a token or two of Stop"
    assert answer_of(final_chat).split("\n\n")[-2].startswith("■ **Stopped.**")
    calls = app.ledger.calls()
    assert calls[-1].outcome == "failed" and calls[-1].error_class == "TurnStopped"
    assert app.threads() == [] and final_session["thread_id"] is None
    shared = app.models.model(LOCAL_MODEL).loaded().lock
    assert shared.acquire(timeout=5), "the shared llama.cpp instance was released"
    shared.release()


@pytest.mark.model
def test_a_message_too_long_for_the_model_is_a_friendly_error(tab: ChatTab, app: PodiumApp):
    chats, session = turn(tab, "word " * 9000, new_session(), request(), model=LOCAL_MODEL)
    text = answer_of(chats[-1])
    assert text.startswith("⚠ **the prompt is") and "shorten the message" in text
    assert app.threads() == [] and session["thread_id"] is None
