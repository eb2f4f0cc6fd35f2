"""Fixes from driving the web app in a browser: handlers in-process first, then `podium ui --debug` in Chromium.

Real graph, SQLite, tools and sandbox throughout; a scripted planner where a test needs a
python call without the local model, and the real SmolLM2 in the browser test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from graph import trace as T
from graph.app import PodiumApp
from models.scripted import register_script
from tests.conftest import run_cli
from tests.ui_server import serve_ui
from ui.debug_view import new_debug_session, short_ids, step_rows
from ui.gradio_app import build_app
from ui.gradio_chat import ChatTab, new_session
from ui.gradio_debug import VIEW, DebugTab, add_debug_tab

CODE = "Run this python code: ```print(3*3)```"
PLAN = '[{"tool": "python", "args": {"code": "print(3*3)"}}]'
SKIP = gr.skip()


def last(outputs):
    outputs = list(outputs)
    assert outputs, "the handler yielded nothing"
    return outputs[-1]


def view(outputs) -> dict:
    """A Debug tab view as a dict keyed by ``VIEW``."""
    return dict(zip(VIEW, outputs, strict=True))


@pytest.fixture
def paused(app: PodiumApp) -> tuple[DebugTab, dict]:
    """A Debug-tab run stopped at the approval of a python call."""
    tab = DebugTab(app)
    out = view(last(tab.run(CODE, None, [], register_script("dbg-python", [PLAN]), new_debug_session())))
    session = out["session"]
    assert [p["name"] for p in session["pending"]] == ["python"]
    assert "waiting for your approval of `python` with `{\"code\": \"print(3*3)\"}`" in out["status"]
    assert "Approve" in out["status"] and "Continue" not in out["status"]
    assert out["approval"]["visible"] is True and json.loads(out["approval_args"]) == {"code": "print(3*3)"}
    return tab, session


def test_the_debug_tab_answers_a_pending_approval(paused, app: PodiumApp):
    tab, session = paused
    thread = session["thread_id"]
    for refused in (tab.resume(thread, [], session), tab.step(thread, [], session),
                    tab.run("something else", thread, [], "scripted/echo", session)):
        with pytest.warns(UserWarning, match="waiting for your approval of `python`"):
            assert list(refused) == [(SKIP,) * len(VIEW)], "Continue/Step/Run say what is pending, change nothing"
    with pytest.warns(UserWarning, match="not valid JSON"):
        assert list(tab.decide("edit", "{print", thread, [], session)) == [(SKIP,) * len(VIEW)]
    out = view(last(tab.decide("approve", "", thread, [], session)))
    assert out["answer"].startswith("print(3*3) printed: 9") or "9" in out["answer"]
    assert "turn complete" in out["status"] and out["session"]["pending"] == []
    assert out["approval"]["visible"] is False
    assert "9" in app.history(thread)[-1]["content"]


def test_the_debug_tab_rejects_a_call_and_reads_a_pending_one_from_a_loaded_thread(paused, app: PodiumApp):
    tab, session = paused
    loaded = view(tab.load(session["thread_id"], [], new_debug_session()))
    assert loaded["session"]["pending"] and "waiting for your approval" in loaded["status"]
    out = view(last(tab.decide("reject", "", session["thread_id"], [], loaded["session"])))
    assert "rejected" in out["answer"].lower() and out["session"]["pending"] == []
    with pytest.warns(UserWarning, match="no tool call waiting"):
        list(tab.decide("approve", "", session["thread_id"], [], out["session"]))


def test_fork_needs_a_checkpoint_that_runs_on_and_says_so_beside_the_button(app: PodiumApp):
    tab = DebugTab(app)
    session = view(last(tab.run("fork here", None, [], "scripted/echo", new_debug_session())))["session"]
    thread = session["thread_id"]
    before = T.checkpoint_rows(app, thread)
    with pytest.warns(UserWarning, match="pick a checkpoint in the table first"):
        status, table, box = tab.fork(thread, "  ", "route_reason", '"x"', session)
    assert status.startswith("**Error:** no checkpoint chosen") and (table, box) == (SKIP, SKIP)
    head = before[-1]["checkpoint_id"]
    with pytest.warns(UserWarning, match="ends its turn"):
        status, *_ = tab.fork(thread, head, "route_reason", '"x"', session)
    assert "pick an earlier checkpoint" in status
    assert T.checkpoint_rows(app, thread) == before, "nothing was written"
    with pytest.warns(UserWarning, match="Pick a checkpoint in the table first"):
        assert list(tab.replay(thread, "", [], session)) == [(SKIP,) * len(VIEW)]
    after_conductor = next(s["checkpoint_id"] for s in session["steps"] if s["node"] == "conductor")
    top, beside, table, new_id = tab.fork_view(thread, after_conductor, "route_reason", '"ui"', session)
    assert top == beside and new_id in top and "Replay from here" in top and table[0][1] == new_id


def test_threads_made_after_the_page_was_built_reach_the_debug_picker(app: PodiumApp):
    with gr.Blocks():
        with gr.Tabs():
            tab = add_debug_tab(app)
    assert tab.picker is not None and tab.picker.choices == [], "nothing is read at build time"
    session = view(last(tab.run("made later", None, [], "scripted/echo", new_debug_session())))["session"]
    assert [c[1] for c in tab.thread_picker().choices] == [session["thread_id"]]
    opened = view(tab.opened({}, [], new_debug_session()))
    assert [c[1] for c in opened["thread"].choices] == [session["thread_id"]]
    assert all(v == SKIP for k, v in opened.items() if k != "thread"), "with no Chat thread, only the list changes"
    assert view(tab.opened({"thread_id": session["thread_id"]}, [], new_debug_session()))["status"].startswith(
        f"Thread `{session['thread_id']}`")


def test_page_load_refreshes_every_picker_built_from_saved_data(app: PodiumApp):
    demo = build_app(app, debug=True)
    ids = {block._id: getattr(block, "elem_id", None) for block in demo.blocks.values()}
    loaded = {ids[o] for dep in demo.config["dependencies"] if any(t[1] == "load" for t in dep["targets"])
              for o in dep["outputs"]}
    assert {"podium-threads", "podium-model", "podium-collection", "podium-debug-thread"} <= loaded


def test_short_checkpoint_ids_tell_steps_of_one_turn_apart():
    ids = ["1f1eacdc-ba3d-6663-bfff-111efab949e2", "1f1eacdc-ba41-65a5-8000-6555227cf72a",
           "1f1eacdc-ba41-65a6-8001-af27a8bec52c"]
    assert short_ids(ids) == {ids[0]: "1f1eacdc-ba3d-6663", ids[1]: "1f1eacdc-ba41-65a5",
                              ids[2]: "1f1eacdc-ba41-65a6"}
    assert short_ids(["1f1eacdc-aaaa", "1f1eacdd-aaaa"]) == {"1f1eacdc-aaaa": "1f1eacdc", "1f1eacdd-aaaa": "1f1eacdd"}
    rows = step_rows([{"node": "chat", "checkpoint_id": ids[0]}, {"node": "chat", "checkpoint_id": ids[1]}])
    assert [r[10] for r in rows] == ["1f1eacdc-ba3d", "1f1eacdc-ba41"]


def test_a_bad_edit_in_the_chat_approval_panel_leaves_the_chat_alone(app: PodiumApp):
    tab, req = ChatTab(app), SimpleNamespace(session_hash="edit", username=None)
    with gr.Blocks():
        tab.build(app.settings)
    _box, _chat, session = tab.send(CODE, new_session(), req)
    session = last(tab.generate(session, register_script("ui-bad-edit", [PLAN]), None, req))[1]
    assert session["pending"]
    with pytest.warns(UserWarning, match="not valid JSON"):
        assert list(tab.decide("edit", "{print", session, req)) == [(SKIP,) * (7 + len(tab.approvals.components()))]
    with pytest.warns(UserWarning, match="no tool call waiting"):
        assert list(tab.decide("approve", "", new_session(), req)) == [(SKIP,) * (7 + len(tab.approvals.components()))]
    chat = last(tab.decide("approve", "", session, req))[0]
    titles = [m["metadata"]["title"] for m in chat if m.get("metadata")]
    assert "✓ Approved" in titles
    waiting = next(m for m in chat if (m.get("metadata") or {}).get("title") == "⚠ Waiting for your approval")
    assert waiting["metadata"]["status"] == "done", "the wait is closed once decided"


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.model
@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Chromium is not installed (make browser installs it)")
def test_in_a_browser_refusals_keep_the_chat_and_the_debug_tab_handles_approvals(_isolated_env, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # waits end as soon as the page shows it; 5 s is short on 2 busy cores
    with serve_ui(_isolated_env, "--debug", PODIUM_MAX_TOKENS="24") as url, sync_playwright() as p:
        # A thread made by the CLI after the server started: the next page load lists it.
        made = run_cli("ask", "--model", "scripted/echo", "--json", "made by the CLI",
                       env={"PODIUM_HOME": str(_isolated_env)})
        assert made.returncode == 0, made.stderr
        thread = json.loads(made.stdout)["thread_id"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(url)
            threads = page.locator("#podium-threads")
            expect(threads).to_contain_text("made by the CLI · 1 turn")
            threads.get_by_text("made by the CLI").click()
            chat = page.locator("#podium-chat")
            expect(chat).to_contain_text("You said: made by the CLI")
            page.locator("#podium-send").click()  # an empty message
            expect(page.get_by_text("Type a message first.")).to_be_visible()
            expect(chat).to_contain_text("You said: made by the CLI")  # the conversation is still shown
            assert chat.locator(".error").count() == 0, "no red Error pill"
            page.get_by_role("tab", name="Knowledge").click()
            page.locator("#podium-kb-ingest").click()  # no files chosen
            expect(page.get_by_text("Choose files or a folder to upload first.")).to_be_visible()

            page.get_by_role("tab", name="Debug").click()
            page.locator("#podium-debug-thread input").click()
            expect(page.get_by_role("option", name=f"made by the CLI · {thread}")).to_be_visible()
            page.keyboard.press("Escape")
            page.locator("#podium-debug-input textarea").fill(CODE)
            page.locator("#podium-debug-run").click()
            status = page.locator("#podium-debug-status")
            expect(status).to_contain_text("waiting for your approval of python", timeout=120_000)
            panel = page.locator("#podium-debug-approval")
            expect(panel).to_contain_text("Approve tool call")
            assert panel.count() == 1, "one element per id"
            page.locator("#podium-debug-continue").click()
            expect(page.get_by_text("press Approve, Edit (the JSON arguments) or Reject").last).to_be_visible()
            page.locator("#podium-debug-approve").click()
            expect(status).to_contain_text("turn complete", timeout=120_000)
            expect(page.locator("#podium-debug-answer")).to_contain_text("9")
            expect(panel).to_be_hidden()
            page.screenshot(path=str(tmp_path / "debug-approval.png"), full_page=True)
        finally:
            browser.close()
    logs = "".join(log.read_text() for log in _isolated_env.parent.glob("ui-*.log"))
    assert logs and "Traceback" not in logs, "user mistakes are toasts, not tracebacks in the server log"


def test_page_only_events_are_private_and_never_take_a_public_endpoint_name(app: PodiumApp):
    demo = build_app(app, debug=True)
    deps = demo.config["dependencies"]
    public = {d["api_name"] for d in deps if d["api_visibility"] == "public"}
    assert {"send", "generate", "stop", "collections", "debug_load"} <= public, "no public name got a _1 suffix"
    assert not {n for n in public if n.startswith(("internal", "false"))}, "page-only handlers stay out of the API"
    assert sum(d["api_visibility"] == "private" and d["api_name"].startswith("internal") for d in deps) >= 15
