"""The Fine-tune tab in a real headless Chromium: upload data, train a few steps, see the loss, the table, chat."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.finetune_helpers import HELD_OUT_QUESTIONS, TRAIN_QUESTIONS, write_jsonl
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, save
from tests.ui_server import serve_ui

pytestmark = [
    pytest.mark.browser, pytest.mark.model, pytest.mark.timeout(900),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Chromium is not installed (make browser)"),
]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("ft-ui") / "home"
    with serve_ui(home, startup_s=400) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url)
        page.get_by_role("tab", name="Fine-tune").click()
        yield page
        browser.close()


@pytest.mark.slow  # a server and Chromium for one error: test_finetune_data.py calls the tab's wired handler
def test_a_bad_file_is_a_one_line_error_in_the_tab(page, tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n')
    # a page of its own (browser.new_page gives each page its own context): the other test's upload box stays empty
    url = page.url
    page = page.context.browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#podium-ft-data input[type=file]").set_input_files(str(bad))
    page.locator("#podium-ft-name textarea, #podium-ft-name input").first.fill("nope")
    page.locator("#podium-ft-start").click()
    page.get_by_text("bad.jsonl line 1").first.wait_for(timeout=120_000)


@pytest.mark.slow  # 150 s of training in a browser; tests/test_finetune_pipeline.py trains in make test
def test_fine_tune_tab_trains_shows_loss_and_scores_then_chats_with_it(page, tmp_path: Path):
    data = write_jsonl(tmp_path / "facts.jsonl", TRAIN_QUESTIONS)
    held = write_jsonl(tmp_path / "held.jsonl", HELD_OUT_QUESTIONS)
    page.locator("#podium-ft-data input[type=file]").set_input_files(str(data))
    page.locator("#podium-ft-val input[type=file]").set_input_files(str(held))
    page.locator("#podium-ft-name textarea, #podium-ft-name input").first.fill("ui-capybara")
    page.locator("#podium-ft-steps input").fill("3")
    page.locator("#podium-ft-batch input").fill("2")
    page.locator("#podium-ft-start").click()
    page.locator("#podium-ft-status").get_by_text("Registered llamacpp/ui-capybara").wait_for(timeout=840_000)
    log = page.locator("#podium-ft-log textarea").input_value()
    assert "step 3/3" in log and "exact match on held-out prompts" in log
    scores = page.locator("#podium-ft-scores")
    assert scores.get_by_text("validation loss").count() >= 1 and scores.get_by_text("exact match").count() >= 1
    save(page, tmp_path, "finetune.png")
    page.locator("#podium-ft-chat").click()
    page.get_by_text("The Chat tab now answers with llamacpp/ui-capybara").wait_for()
    page.get_by_role("tab", name="Chat").click()
    assert page.locator("#podium-model input").input_value() == "llamacpp/ui-capybara"
