"""The Evaluation tab in a real headless Chromium: an arena battle between two local models, a vote and
the reveal, the leaderboard with its plots and exports, and a model card. Screenshots go to
artifacts/screenshots/.

The two models are the embedded SmolLM2 in-process and the same GGUF behind llama.cpp's
OpenAI-compatible server on 127.0.0.1 (``openai/smollm2``), both scored first by the CLI.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import LOCAL_MODEL
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, save
from tests.ui_server import serve_ui

REMOTE = "openai/smollm2"
REVEALED: list[str] = []
"""The two models the arena test's vote named (the pool holds three; the draw picks two)."""

pytestmark = [
    pytest.mark.slow,  # about 17 minutes on this shared 2-core machine under load; run it with -m slow
    pytest.mark.timeout(1500),  # a llama.cpp server, a model load and the app start once for the module
    pytest.mark.browser,
    pytest.mark.model,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).is_file(), reason="Chromium is not installed"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llama_server: str):
    from podium.settings import Settings
    from tools.evals.runner import run_benchmark
    from tools.evals.speed import measure

    home = tmp_path_factory.mktemp("eval-browser") / "home"
    settings = Settings(home=home, openai_base_url=llama_server, openai_api_key="sk-local-test", temperature=0.0,
                        request_timeout_s=600)
    for model in (LOCAL_MODEL, REMOTE):  # real scores (in this process: one model load, no CLI start-ups)
        run_benchmark(settings, model=model, benchmark="arc_easy", limit=2)
    measure(settings, REMOTE, runs=1, max_tokens=4)
    env = {"OPENAI_BASE_URL": llama_server, "OPENAI_API_KEY": "sk-local-test", "PODIUM_MAX_TOKENS": "24",
           "PODIUM_REQUEST_TIMEOUT_S": "600"}
    with serve_ui(home, startup_s=600, **env) as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "data:", "blob:"))
                else None)
        page.goto(server)
        page.locator("#podium-chat").wait_for()
        yield page
        browser.close()
        assert not outside, f"the page reached out to {outside}"


def test_arena_battle_vote_and_reveal(page, tmp_path) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_role("tab", name="Arena").click()
    pool = page.locator("#arena-pool")
    for model in (LOCAL_MODEL, REMOTE):
        expect(pool.get_by_text(model).first).to_be_visible(timeout=30_000)
    page.locator("#arena-prompt textarea").fill("Name one fruit.")
    page.locator("#arena-go").click()
    expect(page.locator("#arena-vote-0")).to_be_enabled(timeout=180_000)
    answers = [page.locator(f"#arena-{side}").inner_text().strip() for side in ("a", "b")]
    assert all(answers), answers
    assert "smollm2" not in page.locator("#arena-reveal").inner_text()  # anonymous until the vote
    save(page, tmp_path, "eval-arena.png")
    page.locator("#arena-vote-0").click()
    reveal = page.locator("#arena-reveal")
    expect(reveal).to_contain_text("Model A was", timeout=30_000)
    assert "Vote recorded" in reveal.inner_text()
    REVEALED.extend(re.search(r"Model A was (\S+), model B was (\S+):", reveal.inner_text()).groups())
    expect(page.locator("#arena-vote-1")).to_be_disabled()
    save(page, tmp_path, "eval-arena-reveal.png")


def test_leaderboard_table_plots_and_export(page, tmp_path) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_role("tab", name="Leaderboard").click()
    page.get_by_role("button", name="↻ Refresh").click()
    table = page.locator("#eval-leaderboard")
    for model in (LOCAL_MODEL, REMOTE):  # Gradio's table keeps hidden copies of its cells: the visible one counts
        table.get_by_text(model).filter(visible=True).first.wait_for(timeout=60_000)
    voted = REVEALED[0] if REVEALED else LOCAL_MODEL
    page.locator("#eval-arena").get_by_text(voted).filter(visible=True).first.wait_for(timeout=60_000)
    expect(page.locator(".js-plotly-plot, img[src^='data:image'], .matplotlib img, [data-testid='matplotlib'] img")
           .first).to_be_visible(timeout=30_000)
    page.locator("#eval-export").click()
    expect(page.locator("#eval-files").get_by_role("cell", name="leaderboard.csv")).to_be_visible(timeout=30_000)
    save(page, tmp_path, "eval-leaderboard.png")


def test_models_tab_shows_a_card(page, tmp_path) -> None:
    page.get_by_role("tab", name="Models").click()
    page.locator("#card-show").click()
    card = page.locator("#model-card")
    card.get_by_text("Chinchilla ratio").filter(visible=True).first.wait_for(timeout=60_000)
    assert card.get_by_text("Apache-2.0").filter(visible=True).count() >= 1
    save(page, tmp_path, "models-card.png")
