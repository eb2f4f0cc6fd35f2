"""The Usage tab: the ledger in the app with the numbers of `podium usage`, per model, thread or day, plotted per
day; with --auth a user sees their own threads' calls only. Handlers in-process on a real PodiumApp and ledger."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr
import pytest

from graph.app import PodiumApp
from tests.conftest import cli_here
from ui.gradio_chat import ChatTab, new_session
from ui.gradio_usage import UsageTab
from ui.usage_view import USAGE_HEADERS, daily_series, usage_rows


def req(session: str, user: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(session_hash=session, username=user)


def chat(tab: ChatTab, text: str, request) -> str:
    _box, _chat, session = tab.send(text, new_session(), request)
    return list(tab.generate(session, "scripted/echo", None, request))[-1][1]["thread_id"]


def test_rows_and_daily_series_from_ledger_totals():
    groups = [{"model": "openai/x", "calls": 2, "prompt_tokens": 30, "completion_tokens": 10, "ttft_s": 0.25,
               "tokens_per_s": 40.0, "gpu_s": 0.0, "cost_usd": None, "priced_cost_usd": 0.002, "unpriced": 1,
               "outcomes": {"ok": 2}, "errors": {}}]
    rows = usage_rows(groups, "model")
    assert len(rows[0]) == 1 + len(USAGE_HEADERS) and rows[0][:2] == ["openai/x", 2]
    assert "unknown" in rows[0][-1] and rows[-1][0] == "total", "never a false $0 for unpriced calls"
    days = [{**groups[0], "day": "2026-01-02"}, {**groups[0], "day": "2026-01-01"}]
    tokens, cost = daily_series(days)
    assert [t["day"] for t in tokens] == ["2026-01-01"] * 2 + ["2026-01-02"] * 2
    assert cost[0] == {"day": "2026-01-01", "cost_usd": 0.002}


def test_the_tab_shows_the_cli_numbers_and_each_user_their_own(app: PodiumApp, capsys: pytest.CaptureFixture[str]):
    tab = ChatTab(app, auth=True)
    with gr.Blocks():
        tab.build(app.settings)
    alice = chat(tab, "alice asks", req("a", "alice"))
    chat(tab, "bob asks", req("b", "bob"))
    chat(tab, "bob again", req("b", "bob"))
    usage = UsageTab(app, tab)
    line, table, tokens, cost, picker = usage.show("thread", "", "", req("a2", "alice"))
    assert [r[0] for r in table.value["data"]] == [alice, "total"] and "**1 calls** in your threads" in line
    assert [c[1] for c in picker.choices] == ["", alice], "alice picks among her own threads"
    assert set(tokens["kind"]) == {"prompt", "completion"} and len(cost) == 1
    open_app = UsageTab(app, ChatTab(app))
    line, table, *_ = open_app.show("model", "", "", req("x"))
    code, out, _err = cli_here(capsys, "usage", "--json")
    cli = json.loads(out)
    calls = cli["total"]["calls"] if "total" in cli else sum(g["calls"] for g in cli["groups"])
    assert code == 0 and f"**{calls} calls** in all threads" in line and calls == 3, "the same totals as the CLI"
    line, table, *_ = open_app.show("day", "", "", req("x"))
    assert len(table.value["data"]) == 2 and table.value["headers"][0] == "day"
    with pytest.warns(UserWarning, match="Since"):
        assert open_app.show("model", "yesterday-ish", "", req("x")) == (gr.skip(),) * 5
