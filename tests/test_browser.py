"""The web app in a real headless Chromium (Debian's, driven by Playwright; no browser download).

Types a question, watches the answer stream in (a MutationObserver records every text
the answer bubble shows), waits for the agent-step messages and the usage footer, and
saves a screenshot under the test's tmp dir and in artifacts/screenshots/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.ui_server import serve_ui

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
INSTALL = (
    "Run make run on a fresh machine to install Podium; it creates the virtual environment and starts the web app. "
)
GUIDE = f"# Podium guide\n\n## Install\n\n{INSTALL * 6}\n\n## Threads\n\n{'Threads are saved in SQLite. ' * 30}\n"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason="Chromium is not installed (run `make browser` as root on Debian/Ubuntu: apt-get install chromium)",
    ),
]

# Records each distinct text of the newest answer bubble (the last bot message that is not agent work).
ANSWER = '[data-testid="bot"]:not(:has(.thought-group))'
"""An answer bubble: a bot message that is not a collapsible agent-work message."""
WATCH_ANSWER = """(ANSWER) => {
  window.__answers = [];
  const chat = document.querySelector('#podium-chat');
  new MutationObserver(() => {
    const bubbles = [...chat.querySelectorAll(ANSWER)];
    const last = bubbles.length ? bubbles[bubbles.length - 1].innerText.trim() : '';
    if (last && window.__answers[window.__answers.length - 1] !== last) window.__answers.push(last);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("ui-browser") / "home"
    with serve_ui(home, PODIUM_MAX_TOKENS="48") as url:
        yield url


@pytest.fixture(scope="module")
def browser(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server: str):
    """A fresh browser tab (a new Gradio session) on the app; fails the test if the page reaches out."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
    page.goto(server)
    page.locator("#podium-chat").wait_for()  # Gradio renders after the load event
    yield page
    page.close()
    assert not outside, f"the page reached out to {outside}"


def save(page, tmp_path: Path, name: str) -> Path:
    """Screenshot into the test's tmp dir, and a copy in artifacts/screenshots/ to look at."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / name)
    return shot


def finished_answers(page):
    """Answers that have their footer (model · tokens · cost): written to the end. An extractive answer quoted
    from the documents asked no model: its footer says so instead of counting tokens."""
    return page.locator(f"#podium-chat {ANSWER}", has=page.locator("sub", has_text=re.compile(" tokens|no model call")))


CUT_HEADERS = """() => [...document.querySelectorAll('th')].filter(th => th.offsetParent).filter(th => {
  const el = th.querySelector('.header-content, .header') || th;
  return el.scrollWidth > el.clientWidth + 1;
}).map(th => th.innerText.trim())"""
"""The visible table headers whose text does not fit their column (cut off, or broken inside a word)."""


def ask(page, question: str, timeout_ms: int = 120_000) -> list[str]:
    """Type a question, press Enter, wait for the finished answer; returns the texts it streamed through."""
    page.evaluate(WATCH_ANSWER, ANSWER)
    done_before = finished_answers(page).count()
    page.locator("#podium-input textarea").fill(question)
    page.keyboard.press("Enter")
    finished_answers(page).nth(done_before).wait_for(timeout=timeout_ms)
    return page.evaluate("window.__answers")


def step_titles(page) -> list[str]:
    return page.locator("#podium-chat .thought-group .title").all_inner_texts()


def test_a_question_streams_into_the_chat_with_agent_steps(page, tmp_path: Path):
    seen = ask(page, "What is the capital of France?")
    assert len(seen) >= 3, f"the answer should arrive in pieces, saw {seen}"
    final = seen[-1]
    assert final.split("\n")[0].strip(), "the answer is not empty"
    assert "llamacpp/smollm2-135m" in final and "tok/s" in final
    titles = step_titles(page)
    assert any("Conductor" in t for t in titles) and any("Chat specialist" in t for t in titles)
    assert page.locator("#podium-threads").get_by_text("What is the capital of France?").count() == 1
    shot = save(page, tmp_path, "chat.png")
    assert shot.stat().st_size > 10_000


@pytest.mark.slow  # see the reason below
def test_upload_a_document_then_ask_about_it_with_sources(page, tmp_path: Path):
    # In make test's full parallel run, twice this stop, the uploaded file's name never appeared (30 s, then 90 s).
    # It passes alone, under CPU load and beside the torch files that run first: the interaction is not found yet,
    # so it runs in make test-slow until it is.
    guide = tmp_path / "install-guide.md"
    guide.write_text(GUIDE)
    page.get_by_role("tab", name="Knowledge").click()
    page.locator("#podium-kb-files input[type=file]").set_input_files(str(guide))
    page.locator("#podium-kb-files").get_by_text("install-guide.md").first.wait_for(timeout=90_000)
    page.locator("#podium-kb-ingest").click()
    page.locator("#podium-kb-summary").get_by_text("1 added").wait_for(timeout=120_000)
    assert page.locator("#podium-kb-collections").get_by_text("default").count() >= 1
    assert page.evaluate(CUT_HEADERS) == [], "headers fit their columns ('statu', 'similari' before)"
    save(page, tmp_path, "knowledge.png")
    page.get_by_role("tab", name="Chat").click()
    final = ask(page, "According to my documents, how do I install Podium on a fresh machine?")[-1]
    assert any("Knowledge specialist" in t for t in step_titles(page))
    assert "Sources" in final, final
    cited = page.locator(f"#podium-chat {ANSWER} details.podium-source summary",
                         has_text="install-guide.md — Podium guide > Install (similarity")
    assert cited.count() >= 1, "each source names its file and heading under the number the answer cites"
    number = cited.first.inner_text().split("]")[0].lstrip("[")
    assert f"[{number}]" in final.split("Sources")[0], "the answer cites the number the list shows"
    cited.first.click()  # a source opens onto its passage
    page.locator(f"#podium-chat {ANSWER} details.podium-source[open] blockquote",
                 has_text="Run make run on a fresh machine").first.wait_for()
    save(page, tmp_path, "chat-sources.png")


def test_models_tab_shows_internals_and_sets_the_session_model(page, tmp_path: Path):
    page.get_by_role("tab", name="Models").click()
    table = page.locator("#podium-models")
    table.get_by_text("llamacpp/smollm2-135m").filter(visible=True).wait_for()
    for fact in ("llama", "Q4_1", "Apache-2.0", "unavailable: openai/gpt-4o-mini needs an API key"):
        assert table.get_by_text(fact).filter(visible=True).count() >= 1, fact
    assert page.evaluate(CUT_HEADERS) == [], "headers fit their columns ('architectur' before)"
    status = table.get_by_text("unavailable: openai/gpt-4o-mini").first.bounding_box()
    assert status and status["x"] + 40 < page.viewport_size["width"], "availability is in view, not scrolled away"
    save(page, tmp_path, "models.png")
    page.locator("#podium-use-model").click()
    page.get_by_text("This session now answers with").wait_for()
    page.get_by_role("tab", name="Chat").click()
    assert page.locator("#podium-model input").input_value() == "llamacpp/smollm2-135m"


def test_a_calculation_shows_the_tool_call(page, tmp_path: Path):
    final = ask(page, "What is 17 * 23?")[-1]
    assert "391" in final
    titles = step_titles(page)
    assert any("Tools specialist" in t for t in titles) and any("calculator" in t for t in titles)
    save(page, tmp_path, "chat-tool.png")


def test_a_tool_call_waits_for_approval_then_resumes(page, tmp_path: Path):
    ask(page, "Run this python code: ```print(6*7)```")
    panel = page.locator("#podium-approval")
    panel.get_by_text("Approve tool call").wait_for()
    assert panel.count() == 1, "one element per id"
    assert any("Waiting for your approval" in t for t in step_titles(page))
    save(page, tmp_path, "chat-approval.png")
    page.evaluate(WATCH_ANSWER, ANSWER)
    page.locator("#podium-approve").click()
    page.locator(f"#podium-chat {ANSWER}", has_text="42").last.wait_for(timeout=120_000)
    panel.wait_for(state="hidden")
    assert any("✓ Approved" in t for t in step_titles(page))


def test_the_first_page_explains_itself(page, tmp_path: Path):
    """Issue 17: the first page had no title, no one-line explanation and no example prompts."""
    assert page.locator("#podium-header h1", has_text="Podium").count() == 1
    assert page.locator("#podium-header", has_text="Local-first agents on your own models").count() == 1
    page.locator("#podium-chat", has_text="What can you do?").first.wait_for()
    assert page.locator("#podium-stop button, button#podium-stop").first.is_disabled(), "Stop is off while idle"
    save(page, tmp_path, "first-page.png")


def test_a_reopened_tool_thread_shows_its_steps(page, tmp_path: Path):
    """Issue 17 web 5: a reopened thread lost its steps, tool arguments and results, and footers."""
    ask(page, "What is 12 * 12?")
    live = step_titles(page)
    page.locator("#podium-new-thread").click()
    page.locator("#podium-chat", has_text="What can you do?").first.wait_for()
    page.locator("#podium-threads label", has_text="What is 12 * 12?").first.click()
    finished_answers(page).first.wait_for()
    def names(titles: list[str]) -> list[str]:
        return [t.split("\n")[0] for t in titles]  # without the durations (live: measured; reopened: from checkpoints)

    assert names(step_titles(page)) == names(live) and any("calculator" in t for t in live)
    assert "?thread=" in page.url, "the address reopens this thread"
    save(page, tmp_path, "reopened-tool-thread.png")


def test_the_usage_tab_shows_the_ledger(page, tmp_path: Path):
    page.get_by_role("tab", name="Usage").click()
    page.locator("#podium-usage-summary", has_text="calls").wait_for()
    assert page.locator("#podium-usage-table").get_by_text("llamacpp/smollm2-135m").count() >= 1
    save(page, tmp_path, "usage.png")
