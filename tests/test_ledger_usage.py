"""The ledger: crash safety, migration, concurrency, GPU-seconds, totals and the `podium usage` table."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from rich.console import Console

from agents.common import call_model
from graph.app import PodiumApp
from models.ledger import Ledger, summarize
from models.scripted import ScriptedChatModel
from podium.errors import ConfigError
from podium.settings import Settings
from ui.cli_usage import outcome_text, parse_since, render, total_of

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import FaultServer  # noqa: E402

from agents.contract import TurnOptions


def add(ledger: Ledger, model: str, outcome: str, *, thread: str = "th", node: str = "chat", cost: float | None = 0.0,
        error_class: str | None = None, tokens: tuple[int, int] = (10, 5)) -> int:
    call = ledger.start(provider=model.split("/")[0], model=model, turn="t", thread=thread, node=node)
    ledger.finish(call, outcome=outcome, cost_usd=cost, error_class=error_class, prompt_tokens=tokens[0],
                  completion_tokens=tokens[1], duration_s=0.5, ttft_s=0.1, tokens_per_s=20.0)
    return call


class Crash(BaseException):
    """Stands for the process dying (SIGKILL, power cut) in the middle of a call."""


class CrashingModel(ScriptedChatModel):
    """Streams one token, then the 'process dies'."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        yield from list(super()._stream(messages, stop, run_manager, **kwargs))[:1]
        raise Crash


def test_a_crash_mid_call_leaves_the_record_of_the_call(settings):
    app = PodiumApp(settings)
    app.models.spec("scripted/echo")
    app.models._models["scripted/echo"] = CrashingModel(script="echo")
    ctx = app.context("t-crash", options=TurnOptions(model="scripted/echo"))
    with pytest.raises(Crash):
        call_model(ctx, "chat", [HumanMessage("hello")])
    (row,) = Ledger(settings.data_dir / "ledger.sqlite").calls(turn=ctx.turn_id)  # as a new process sees it
    assert (row.outcome, row.model, row.thread, row.node) == ("running", "scripted/echo", "t-crash", "chat")
    assert abs(row.ts - time.time()) < 60


def test_old_ledgers_are_migrated_in_place(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, turn TEXT, "
                     "thread TEXT, node TEXT, provider TEXT, model TEXT, prompt_tokens INTEGER DEFAULT 0, "
                     "completion_tokens INTEGER DEFAULT 0, token_source TEXT DEFAULT '', ttft_s REAL, "
                     "duration_s REAL, tokens_per_s REAL, cost_usd REAL DEFAULT 0, outcome TEXT NOT NULL "
                     "DEFAULT 'running', error_class TEXT, error TEXT, gpu_s REAL DEFAULT 0)")
        conn.execute("INSERT INTO calls (ts, provider, model, outcome) VALUES (1.0, 'openai', 'openai/x', 'ok')")
    ledger = Ledger(path)
    (old,) = ledger.calls()
    assert old.model == "openai/x" and old.attempt == 1 and old.note is None
    add(ledger, "openai/x", "retried", error_class="RateLimitError")
    assert [c.outcome for c in Ledger(path).calls()] == ["ok", "retried"]


def test_concurrent_writers_lose_nothing(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")

    def work(i: int) -> None:
        for _ in range(25):
            add(ledger, f"llamacpp/m{i % 2}", "ok", thread=f"th{i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = ledger.calls()
    assert len(calls) == 200 and all(c.outcome == "ok" for c in calls)
    assert sorted(g["calls"] for g in ledger.totals(by="thread")) == [25] * 8


def test_totals_group_filter_and_count_outcomes(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    add(ledger, "openai/gpt-4o", "retried", cost=0.0, error_class="RateLimitError")
    add(ledger, "openai/gpt-4o", "ok", cost=0.002)
    add(ledger, "openai/mystery", "ok", cost=None, node="knowledge")
    add(ledger, "llamacpp/smollm2-135m", "ok", thread="other", node="knowledge")
    groups = ledger.totals(by="model")
    assert [g["model"] for g in groups] == ["openai/gpt-4o", "llamacpp/smollm2-135m", "openai/mystery"]
    top = groups[0]
    assert top["calls"] == 2 and top["outcomes"] == {"ok": 1, "retried": 1} and top["errors"] == {"RateLimitError": 1}
    assert top["cost_usd"] == pytest.approx(0.002) and top["prompt_tokens"] == 20
    assert outcome_text(top) == "ok 1 · retried 1 (RateLimitError 1)"
    assert groups[2]["unpriced"] == 1
    assert {g["node"]: g["calls"] for g in ledger.totals(by="node")} == {"chat": 2, "knowledge": 2}
    assert [g["thread"] for g in ledger.totals(by="thread", thread="other")] == ["other"]
    assert ledger.totals(since=time.time() + 5) == []
    total = total_of(groups)
    assert total["calls"] == 4 and total["unpriced"] == 1 and total["outcomes"] == {"ok": 3, "retried": 1}
    console = Console(record=True, width=200)
    console.print(render(groups, "model"))
    text = console.export_text()
    assert "openai/gpt-4o" in text and "$0.002000" in text and "unknown" in text and "total" in text
    with pytest.raises(ValueError):
        ledger.totals(by="weekday")
    with pytest.raises(ValueError):
        ledger.finish(1, outcome="exploded")


def test_totals_by_day_and_for_a_set_of_threads(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    add(ledger, "openai/gpt-4o", "ok", cost=0.002, thread="a")
    add(ledger, "llamacpp/smollm2-135m", "ok", thread="b", tokens=(7, 3))
    add(ledger, "openai/gpt-4o", "ok", cost=0.001, thread="c")
    (today,) = ledger.totals(by="day")
    assert today["day"] == datetime.now().strftime("%Y-%m-%d") and today["calls"] == 3, "the local calendar day"
    assert today["cost_usd"] == pytest.approx(0.003) and today["prompt_tokens"] == 27
    mine = ledger.totals(by="model", threads=["a", "b"])
    assert {g["model"]: g["calls"] for g in mine} == {"openai/gpt-4o": 1, "llamacpp/smollm2-135m": 1}
    assert ledger.totals(threads=[]) == [], "no threads: no calls (a user with no threads sees nothing)"


def test_summarize_reports_every_call_and_the_answering_one(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    add(ledger, "openai/x", "fell_back", error_class="InternalServerError", tokens=(7, 0))
    add(ledger, "llamacpp/y", "ok", tokens=(9, 4))
    usage = summarize(ledger.calls())
    assert usage["prompt_tokens"] == 16 and usage["completion_tokens"] == 4 and usage["ttft_s"] == 0.1
    assert usage["outcomes"] == {"ok": 1, "fell_back": 1} and len(usage["calls"]) == 2


def test_since_accepts_spans_and_iso_dates():
    now = 1_000_000.0
    assert parse_since("90s", now) == now - 90 and parse_since("1h", now) == now - 3600
    assert parse_since("2d", now) == now - 2 * 86400 and parse_since("1.5w", now) == now - 1.5 * 7 * 86400
    assert parse_since("2025-01-31") == datetime(2025, 1, 31).timestamp()
    assert parse_since("2025-01-31T09:30") == datetime(2025, 1, 31, 9, 30).timestamp()
    for bad in ("yesterday", "3x", ""):
        with pytest.raises(ConfigError) as info:
            parse_since(bad)
        assert info.value.setting == "--since"


def test_remote_gpu_calls_record_gpu_seconds_and_their_price(tmp_path):
    with FaultServer() as server:
        app = PodiumApp(Settings(home=tmp_path, openai_base_url=server.url, max_tokens=8))
        spec = app.models.spec("openai/gpu-model")
        # How a Modal-style provider describes itself: a remote GPU, priced per GPU-second.
        app.models._specs[spec.spec] = replace(spec, extra={**spec.extra, "remote_gpu": True,
                                                            "price_gpu_second": 0.01, "priced": False})
        ctx = app.context("t-gpu", options=TurnOptions(model="openai/gpu-model"))
        call_model(ctx, "chat", [HumanMessage("hi")])
    (row,) = app.ledger.calls(turn=ctx.turn_id)
    assert row.gpu_s == pytest.approx(row.duration_s) and row.gpu_s > 0
    assert row.cost_usd == pytest.approx(row.gpu_s * 0.01)
    assert summarize([row])["gpu_s"] == pytest.approx(row.gpu_s, abs=1e-4)
