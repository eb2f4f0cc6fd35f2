"""The Datasets tab in a real headless Chromium: fields in the table editor, generate with live progress,
the report and the download link, and a screenshot in artifacts/screenshots/datasets.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, save
from tests.ui_server import serve_ui

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Chromium is not installed (make browser)"),
]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("dg-browser") / "home"
    with serve_ui(home, startup_s=300) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None)
        page.goto(url)
        page.locator("#podium-chat").wait_for()
        yield page
        browser.close()
        assert not outside, f"the page reached out to {outside}"


def test_generate_a_dataset_in_the_datasets_tab(page, tmp_path: Path):
    page.get_by_role("tab", name="Datasets").click()
    page.locator("#podium-dg-description textarea").fill("customer support tickets for a SaaS product")
    grid = page.locator("#podium-dg-fields")
    grid.get_by_text("subject").first.wait_for()
    assert grid.get_by_text("low, medium, high").count() >= 1, "the editor starts with the ticket fields"
    page.locator("#podium-dg-n input").fill("2")
    page.locator("#podium-dg-generate").click()
    status = page.locator("#podium-dg-status")
    status.get_by_text("rows/s").first.wait_for(timeout=240_000)  # the live progress line
    status.get_by_text("done").wait_for(timeout=240_000)
    assert "2 / 2 rows" in status.inner_text()
    report = page.locator("#podium-dg-report")
    report.locator("h1", has_text="Dataset report").wait_for()
    assert report.locator("img").count() >= 3, "field plots are in the report"
    assert page.locator("#podium-dg-rows").get_by_text("priority").count() >= 1
    assert page.locator("#podium-dg-file").get_by_text(".jsonl").count() >= 1, "the file can be downloaded"
    shot = save(page, tmp_path, "datasets.png")
    assert shot.stat().st_size > 20_000
