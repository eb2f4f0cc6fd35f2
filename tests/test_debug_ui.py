"""The Debug tab: its handlers without a server, then `podium ui --debug` driven in headless Chromium."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from graph import draw
from models.scripted import register_script
from tests.conftest import ROOT
from tests.ui_server import serve_ui
from ui.debug_view import new_debug_session, step_rows
from ui.gradio_debug import DebugTab

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SCREENSHOT = SCREENSHOTS / "debug.png"
PAUSED_SCREENSHOT = SCREENSHOTS / "debug-paused.png"


def last(outputs):
    """The final view of a streaming handler (``gradio_debug.VIEW``): image, steps, status, answer, ..., session."""
    outputs = list(outputs)
    assert outputs, "the handler yielded nothing"
    return outputs[-1]


def test_run_pauses_at_a_breakpoint_then_continues(app):
    tab = DebugTab(app)
    model = register_script("dbg-ui", ["paused then answered"])
    views = list(tab.run("hello", None, ["chat"], model, new_debug_session()))
    assert any("Running" in v[2] for v in views[:-1])  # the table updated while the turn ran
    image, rows, status, answer, checkpoints, _, approval, *_, session = views[-1]
    assert "paused before **chat**" in status and answer == ""
    assert [r[1] for r in rows] == ["__start__", "conductor"] and session["paused"] == ["chat"]
    assert checkpoints[0][0] == ">" and checkpoints[0][5] == "chat" and approval["visible"] is False
    boxes, _ = draw.layout(app.graph)
    x0, y0, _, y1 = boxes["chat"]
    assert image.convert("RGB").getpixel((int(x0) + 6, int((y0 + y1) / 2))) == (0xFF, 0xB3, 0x47)

    _, rows, status, answer, *_, session = last(tab.resume(session["thread_id"], ["chat"], session))
    assert "turn complete" in status and answer == "paused then answered"
    assert [r[1] for r in rows] == ["__start__", "conductor", "chat"] and rows[2][7] == model
    delta, state = tab.step_detail(session, 2)
    assert delta["messages_added"][0]["content"] == "paused then answered"
    assert delta["checkpoint_id"] == state["checkpoint_id"] and len(state["values"]["messages"]) == 2
    assert state["checkpoint_id"].startswith(rows[2][10]) and 8 <= len(rows[2][10]) < len(state["checkpoint_id"])
    assert len({r[10] for r in rows}) == 3, "short ids still tell the steps apart"


def test_step_runs_one_node_at_a_time(app):
    tab = DebugTab(app)
    *_, session = last(tab.run("one node at a time", None, ["conductor"], "scripted/echo", new_debug_session()))
    assert session["paused"] == ["conductor"]
    *_, session = last(tab.step(session["thread_id"], ["conductor"], session))
    assert session["paused"] == ["chat"]
    _, rows, status, answer, *_ = last(tab.step(session["thread_id"], ["conductor"], session))
    assert answer == "You said: one node at a time" and rows[-1][1] == "chat"


def test_fork_and_replay_from_the_tab(app):
    tab = DebugTab(app)
    *_, session = last(tab.run("fork here", None, [], "scripted/echo", new_debug_session()))
    thread = session["thread_id"]
    after_conductor = next(s["checkpoint_id"] for s in session["steps"] if s["node"] == "conductor")
    status, table, new_id = tab.fork(thread, after_conductor, "route_reason", '"from the ui"', session)
    assert new_id in status and table[0][1] == new_id and table[0][5] == "chat"
    with pytest.warns(UserWarning, match="route"):  # a toast in the app: the button may be far from the status
        error, *_ = tab.fork(thread, after_conductor, "route", "7", session)
    assert error.startswith("**Error:**") and "route" in error
    _, rows, status, answer, *_ = last(tab.replay(thread, new_id, [], session))
    assert answer == "You said: fork here"
    assert [r[1] for r in rows] == ["__start__", "conductor", "__edit__", "chat"]
    _, _, status, *_ = tab.load("no-such-thread", [], session)
    assert "unknown thread" in status and thread in status


def test_the_tab_never_shows_a_secret(app, monkeypatch):
    key = "sk-proj-FAKEuiKEY0123456789abcdefgh"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    views = list(DebugTab(app).run(f"my key {key}", None, [], "scripted/echo", new_debug_session()))
    *_, session = views[-1]
    shown = repr([v[1:5] for v in views]) + repr(DebugTab(app).step_detail(session, len(session["steps"]) - 1))
    assert key not in shown and "[redacted]" in views[-1][3]


def test_step_rows_are_plain_table_values():
    rows = step_rows([{"node": "chat", "started_at": "2024-01-01T10:00:00.123+00:00", "duration_s": 0.5,
                       "delta": {"messages": [], "notices": []}, "messages_added": [{}], "tool_calls": [],
                       "model_calls": [{"model": "m"}], "prompt_tokens": 3, "completion_tokens": 4,
                       "cost_usd": 0.25, "checkpoint_id": "c", "error": None}])
    assert rows == [[0, "chat", "10:00:00.123", 500, "notices", 1, "", "m", "3+4", "0.250000", "c", ""]]


@pytest.mark.browser
@pytest.mark.model
def test_debug_tab_in_a_browser_on_the_local_model(_isolated_env):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    from playwright.sync_api import expect, sync_playwright

    with serve_ui(_isolated_env, "--debug", PODIUM_MAX_TOKENS="24") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(url)
            page.get_by_role("tab", name="Debug").click()
            page.locator("#podium-debug-breaks").get_by_label("chat").check()
            page.locator("#podium-debug-input textarea").fill("Say hello to the debugger")
            page.locator("#podium-debug-run").click()
            status = page.locator("#podium-debug-status")
            expect(status).to_contain_text("paused before chat", timeout=60_000)
            expect(page.locator("#podium-debug-steps")).to_contain_text("conductor")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(PAUSED_SCREENSHOT), full_page=True)
            page.locator("#podium-debug-continue").click()
            expect(status).to_contain_text("turn complete", timeout=90_000)
            steps = page.locator("#podium-debug-steps")
            expect(steps).to_contain_text("llamacpp/smollm2-135m")
            steps.get_by_text("chat", exact=True).first.click()
            expect(page.locator("#podium-debug-delta")).to_contain_text("messages_added", timeout=15_000)
            expect(page.locator("#podium-debug-state")).to_contain_text("checkpoint_id", timeout=15_000)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    shot = Image.open(io.BytesIO(SCREENSHOT.read_bytes()))
    assert shot.width == 1400 and shot.height > 800
