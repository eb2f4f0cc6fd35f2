"""The Chat tab's threads and settings (issue 17 web 3, 5, 6 and the Open WebUI items): reopen as shown live,
rename, search, delete, export, links, regenerate, edit, following the Debug tab; the session's settings panel.
Handlers in-process on a real PodiumApp (real graph, SQLite, ledger) with scripted models; no server."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from graph.app import PodiumApp
from graph.branch import rerun, turn_inputs
from models.scripted import register_script
from podium.errors import ContextOverflowError, PodiumError
from ui.debug_view import new_debug_session
from ui.gradio_chat import ChatTab, new_session
from ui.gradio_debug import DebugTab
from ui.web_errors import web_error, web_words

CALC = '[{"tool": "calculator", "args": {"expression": "6 * 7"}}]'


def req(session: str = "s1", user: str | None = None, **query: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=session, username=user, query_params=query)


def turn(tab: ChatTab, text: str, session: dict, request, model: str = "scripted/echo") -> tuple[list, dict]:
    _box, _chat, session = tab.send(text, session, request)
    last = list(tab.generate(session, model, None, request))[-1]
    return last[0], last[1]


def shown(chat: list[dict]) -> list[tuple]:
    return [(m["role"], m["content"], (m.get("metadata") or {}).get("title")) for m in chat]


@pytest.fixture
def tab(app: PodiumApp) -> ChatTab:
    tab = ChatTab(app)
    with gr.Blocks():
        tab.build(app.settings)
    return tab


def test_a_reopened_tool_thread_shows_what_the_live_chat_showed(tab: ChatTab):
    live, session = turn(tab, "What is 6 * 7?", new_session(), req(), register_script("th-calc", [CALC]))
    assert any("6 * 7" in str(m["content"]) for m in live if m.get("metadata")), "the tool call's arguments"
    reopened, again, *_ = tab.sidebar.open(session["thread_id"], req("another-tab"))
    assert shown(reopened) == shown(live), "steps, tool arguments and results, footer: all as they were"
    assert "Tool result" not in str(reopened) and "42" in reopened[-1]["content"]
    assert again["inputs"] == session["inputs"], "regenerate and edit know where each turn starts"


def test_threads_are_searched_renamed_exported_and_deleted(tab: ChatTab, app: PodiumApp):
    _, first = turn(tab, "plans for the garden", new_session(), req())
    _, second = turn(tab, "a note about taxes", new_session(), req("s2"))
    radio, note = tab.sidebar.listing(new_session(), "garden", req())
    assert [c[1] for c in radio.choices] == [first["thread_id"]] and not note.visible
    radio, note = tab.sidebar.listing(new_session(), "nothing like this", req())
    assert radio.choices == [] and "No thread matches" in note.value
    radio, _note, box = tab.sidebar.rename("  My   garden ", first, None, req())
    assert box == "" and any(label.startswith("My garden · 1 turn") for label, _ in radio.choices)
    assert tab.sidebar.listing(new_session(), "my garden", req())[0].choices[0][1] == first["thread_id"]
    md = Path(tab.sidebar.export("md", first, req())).read_text()
    assert md.startswith("# My garden\n") and "## plans for the garden" in md and "You said: plans" in md
    data = json.loads(Path(tab.sidebar.export("json", first, req())).read_text())
    assert data["title"] == "My garden" and data["turns"][0]["question"] == "plans for the garden"
    assert data["turns"][0]["answer"].startswith("You said: plans for the garden")
    chat, fresh, radio, _note, _link = tab.sidebar.delete(first, None, req())
    assert chat == [] and fresh == new_session() and [c[1] for c in radio.choices] == [second["thread_id"]]
    assert not app.thread_exists(first["thread_id"]) and first["thread_id"] not in tab.book.titles()
    with pytest.raises(gr.Error, match="Open a thread first"):
        tab.sidebar.export("md", new_session(), req())


def test_a_link_reopens_its_thread_for_its_owner_only(app: PodiumApp):
    tab = ChatTab(app, auth=True)
    with gr.Blocks():
        tab.build(app.settings)
    _, alice = turn(tab, "alice's plans", new_session(), req("a", "alice"))
    chat, session, *_ = tab.sidebar.from_link(new_session(), req("a2", "alice", thread=alice["thread_id"]))
    assert session["thread_id"] == alice["thread_id"] and chat[0]["content"] == "alice's plans"
    with pytest.warns(UserWarning, match="not one of your threads"):
        chat, session, _box, link, *_ = tab.sidebar.from_link(new_session(), req("b", "bob", thread=alice["thread_id"]))
    assert link == "" and chat == gr.skip() and session == gr.skip()
    assert tab.sidebar.from_link(new_session(), req("a3", "alice"))[0] == gr.skip(), "no link: nothing changes"


def test_regenerate_and_edit_fork_the_thread(tab: ChatTab, app: PodiumApp):
    model = register_script("th-regen", ["first answer", "second answer"])
    chat, session = turn(tab, "tell me something", new_session(), req(), model)
    assert "first answer" in chat[-1]["content"]
    data = SimpleNamespace(index=len(chat) - 1, value=chat[-1]["content"])
    out = list(tab.regenerate(session, model, None, None, None, None, None, None, data, req()))[-1]
    chat, session = out[0], out[1]
    assert "second answer" in chat[-1]["content"] and sum(m["role"] == "user" for m in chat) == 1
    assert [m["content"] for m in app.history(session["thread_id"])] == ["tell me something", "second answer"]
    edit = SimpleNamespace(index=0, value={"text": "tell me more"})
    out = list(tab.edit(session, "scripted/echo", None, None, None, None, None, None, edit, req()))[-1]
    assert out[0][0]["content"] == "tell me more" and "You said: tell me more" in out[0][-1]["content"]
    history = app.history(out[1]["thread_id"])
    assert [m["content"] for m in history][0] == "tell me more" and len(history) == 2, "the edit is a new branch"
    with pytest.raises(PodiumError, match="edited message is empty"):
        list(rerun(app, session["thread_id"], 0, "  "))


def test_the_chat_follows_a_fork_made_elsewhere(tab: ChatTab, app: PodiumApp):
    """Issue 17 web 6: after a Debug run, replay or fork the Chat tab showed the old branch."""
    _, session = turn(tab, "first question", new_session(), req())
    assert tab.sidebar.follow(session, req()) == (gr.skip(), gr.skip()), "nothing changed: nothing redrawn"
    list(rerun(app, session["thread_id"], 0, "a question from the debugger"))  # what a Debug fork does
    chat, fresh = tab.sidebar.follow(session, req())
    assert shown(chat)[0] == ("user", "a question from the debugger", None) and len(chat) == 4, shown(chat)
    assert chat[-1]["content"].startswith("You said: a question from the debugger")
    assert fresh["thread_id"] == session["thread_id"] and fresh["head"] != session["head"]
    assert len(turn_inputs(app, session["thread_id"])) == 1


def asked(app: PodiumApp, thread_id: str) -> list[str]:
    return [m["content"] for m in app.history(thread_id) if m["role"] == "user"]


def test_a_debug_run_writes_into_its_own_thread_and_the_chat_follows_a_replay(tab: ChatTab, app: PodiumApp):
    """Issue 17 web 6: the Debug tab's Run wrote into the Chat tab's open thread; the chat follows a Replay."""
    _, session = turn(tab, "chat question", new_session(), req())
    chat_thread, debug = session["thread_id"], DebugTab(app)
    view = debug.opened(session, [], new_debug_session())
    status, dsession = view[2], view[-1]
    assert dsession["thread_id"] == chat_thread and "Run** starts a new thread" in status, status
    *_, dsession = list(debug.run("from the debugger", chat_thread, [], "scripted/echo", dsession))[-1]
    own = dsession["thread_id"]
    assert own != chat_thread and asked(app, chat_thread) == ["chat question"], "the chat's thread untouched"
    *_, dsession = list(debug.run("again", own, [], "scripted/echo", dsession))[-1]
    assert dsession["thread_id"] == own and asked(app, own) == ["from the debugger", "again"]
    assert tab.sidebar.follow(session, req()) == (gr.skip(), gr.skip()), "the chat's thread did not move"

    dsession = debug.pick(chat_thread, [], dsession)[-1]  # picked in the Debug tab: deliberately
    *_, dsession = list(debug.run("picked on purpose", chat_thread, [], "scripted/echo", dsession))[-1]
    assert asked(app, chat_thread) == ["chat question", "picked on purpose"]
    first = next(s["checkpoint_id"] for s in dsession["steps"] if s["node"] == "conductor")
    list(debug.replay(chat_thread, first, [], dsession))  # from the first turn's conductor: a new branch
    chat, _ = tab.sidebar.follow(session, req())
    assert [m["content"] for m in chat if m["role"] == "user"] == ["chat question"], shown(chat)


def test_the_settings_panel_sets_this_sessions_turns(tab: ChatTab, app: PodiumApp):
    s, panel = app.settings, tab.settings
    same = panel.options(s.model, None, "", s.temperature, s.max_tokens, s.policy, list(s.fallbacks))
    assert (same.temperature, same.max_tokens, same.policy, same.fallbacks, same.system_prompt) == \
        (None, None, "", None, None), "values at the server's defaults stay unset"
    own = panel.options("scripted/echo", "", "Be brief.", 0.7, 77, "budget", ["scripted/echo"], user="al")
    assert (own.temperature, own.max_tokens, own.policy, own.fallbacks, own.system_prompt, own.user) == \
        (0.7, 77, "budget", ["scripted/echo"], "Be brief.", "al")
    text = panel.describe("scripted/echo", "Be brief.", 0.7, 77)
    assert "**Temperature**: 0.7 _(this session)_" in text and "**Max tokens**: 77 _(this session)_" in text
    assert f"**Routing policy**: {s.policy} _(default)_" in text
    _box, _chat, session = tab.send("hello", new_session(), req())
    with pytest.warns(UserWarning, match="Max tokens must be between"):
        last = list(tab.generate(session, "scripted/echo", None, req(), None, None, 0.5))[-1]
    assert last[2].value == "hello" and app.threads() == [], "the message goes back to the box, nothing ran"
    _box, _chat, session = tab.send("hello", new_session(), req())
    last = list(tab.generate(session, "scripted/echo", None, req(), "Be brief.", 0.3, 77))[-1]
    assert app.ledger.calls()[-1].outcome == "ok" and last[1]["thread_id"]


def test_errors_speak_of_the_apps_controls_not_flags():
    assert web_words("--model: unknown local model 'x'") == "Model: unknown local model 'x'"
    assert web_words("pick a model with a larger context (--model)") == \
        "pick a model with a larger context (the Model picker)"
    assert "Knowledge tab" in web_words("ingest some with `podium ingest PATH --collection docs`")
    exc = ContextOverflowError(9000, 7680, model="llamacpp/x")
    pool = SimpleNamespace(spec=lambda _m: SimpleNamespace(context_length=8192))
    message, hint = web_error(exc, pool)
    assert message.endswith("holds 7680 (8,192-token context less 512 kept for the answer)")
    assert hint.endswith("(the Model picker)"), "issue 17: 'holds 7680' beside the Models tab's 8192 says why"


def test_an_edited_thread_can_be_edited_and_regenerated_again(tab: ChatTab, app: PodiumApp):
    _, session = turn(tab, "one", new_session(), req())
    chat, session = turn(tab, "two", session, req())
    second = next(i for i, m in enumerate(chat) if m["role"] == "user" and m["content"] == "two")
    out = list(tab.edit(session, "scripted/echo", None, None, None, None, None, None,
                        SimpleNamespace(index=second, value="TWO"), req()))[-1]
    chat, session = out[0], out[1]
    assert [m["content"] for m in app.history(session["thread_id"])] == ["one", "You said: one", "TWO",
                                                                          "You said: TWO"]
    reopened, session, *_ = tab.sidebar.open(session["thread_id"], req("again"))
    assert shown(reopened) == shown(chat), "an edited thread reopens as shown"
    out = list(tab.regenerate(session, "scripted/echo", None, None, None, None, None, None,
                              SimpleNamespace(index=len(reopened) - 1, value=""), req()))[-1]
    assert [m["content"] for m in app.history(out[1]["thread_id"])][2:] == ["TWO", "You said: TWO"]
    out = list(tab.edit(out[1], "scripted/echo", None, None, None, None, None, None,
                        SimpleNamespace(index=0, value="ONE"), req()))[-1]
    assert [m["content"] for m in app.history(out[1]["thread_id"])] == ["ONE", "You said: ONE"]
