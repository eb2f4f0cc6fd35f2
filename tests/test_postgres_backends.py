"""PODIUM_POSTGRES_URL moves checkpoints, the ledger, API keys and thread locks to a real Postgres.

The same code runs on SQLite and Postgres; these tests run the same checks on both, and
check what only Postgres must do: a server restart is a clean error, then recovery
without restarting Podium.
"""

from __future__ import annotations

import time

import pytest

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.ledger import Ledger, open_ledger
from podium.db import Database, StoreUnavailable
from podium.errors import PodiumError
from podium.settings import Settings
from ui.api_keys import KeyStore, Refused


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path) -> Database:
    if request.param == "sqlite":
        return Database(tmp_path / "store.sqlite")
    return Database(request.getfixturevalue("postgres_url"))


def test_ledger_records_and_totals_the_same_on_both_backends(database):
    ledger = Ledger(database)
    first = ledger.start(provider="openai", model="openai/x", turn="t1", thread="a", node="chat")
    ledger.finish(first, outcome="retried", error_class="RateLimitError", prompt_tokens=10, completion_tokens=0,
                  cost_usd=0.0, duration_s=0.5, retryable=1)
    second = ledger.start(provider="openai", model="openai/x", turn="t1", thread="a", node="chat", attempt=2)
    ledger.finish(second, outcome="ok", prompt_tokens=10, completion_tokens=5, cost_usd=0.25, ttft_s=0.1,
                  duration_s=1.0)
    unpriced = ledger.start(provider="openai", model="openai/y", turn="t2", thread="b", node="chat")
    ledger.finish(unpriced, outcome="ok", prompt_tokens=3, completion_tokens=3, cost_usd=None)
    assert second > first
    assert [c.outcome for c in ledger.calls(turn="t1")] == ["retried", "ok"]
    assert ledger.spent(thread="a") == pytest.approx(0.25)
    assert ledger.spent(since=time.time() + 60) == 0
    by_model = {t["model"]: t for t in ledger.totals(by="model")}
    assert by_model["openai/x"]["calls"] == 2 and by_model["openai/x"]["completion_tokens"] == 5
    assert by_model["openai/x"]["outcomes"] == {"ok": 1, "retried": 1}
    assert by_model["openai/x"]["errors"] == {"RateLimitError": 1}
    assert by_model["openai/y"]["unpriced"] == 1
    assert ledger.recent("openai", 5)[0][1] == "ok"
    again = Ledger(database)  # a second process (replica) opening the same tables migrates nothing twice
    assert len(again.calls()) == 3


def test_a_timestamp_keeps_subsecond_precision_on_postgres(postgres_url):
    ledger = Ledger(Database(postgres_url))
    call = ledger.start(provider="p", model="m", turn=None, thread=None, node=None)
    (row,) = ledger.calls()
    assert row.id == call and abs(row.ts - time.time()) < 5  # a 4-byte REAL would be off by minutes


def test_keys_budgets_and_rate_limits_on_both_backends(database):
    keys = KeyStore(database)
    assert not keys.any()
    secret, key = keys.create("ci", budget_usd=1.0, rpm=2)
    assert keys.any() and secret.startswith("pk-") and secret not in str(database.execute("SELECT * FROM api_keys"))
    now = 60 * 1000 + 10.0
    assert keys.admit(secret, now=now).id == key.id
    keys.admit(secret, now=now + 1)
    with pytest.raises(Refused) as limited:
        keys.admit(secret, now=now + 2)
    assert limited.value.status == 429 and 1 <= limited.value.retry_after_s <= 50
    assert keys.admit(secret, now=now + 60).id == key.id, "a new minute, a new count"
    keys.charge(key.id, 1.5)
    with pytest.raises(Refused) as spent:
        keys.admit(secret, now=now + 120)
    assert spent.value.status == 403 and spent.value.code == "budget_exceeded"
    keys.revoke(key.id)
    with pytest.raises(Refused) as revoked:
        keys.admit(secret)
    assert revoked.value.status == 401 and "revoked" in revoked.value.message
    with pytest.raises(Refused):
        keys.admit("pk-nothing-like-it")
    assert [k.requests for k in keys.list()] == [3]


def test_threads_checkpoints_ledger_and_keys_live_in_postgres(postgres_url, tmp_path):
    settings = Settings(home=tmp_path / "a", model="scripted/echo", postgres_url=postgres_url)
    first = PodiumApp(settings).ask("hello there")
    # A replica with another data dir (nothing shared on disk) continues the thread.
    other = PodiumApp(Settings(home=tmp_path / "b", model="scripted/echo", postgres_url=postgres_url))
    second = other.ask("and again", first.thread_id)
    assert second.answer == "You said: and again"
    assert [m["content"] for m in other.history(first.thread_id)] == [
        "hello there", "You said: hello there", "and again", "You said: and again"]
    assert [t.thread_id for t in other.threads()] == [first.thread_id]
    assert {c.thread for c in open_ledger(other.settings).calls()} == {first.thread_id}
    assert not (tmp_path / "a" / "ledger.sqlite").exists() and not (tmp_path / "a" / "checkpoints.sqlite").exists()


def test_a_failed_turn_is_rolled_back_on_postgres(postgres_url, tmp_path):
    from models.scripted import register_script

    podium = PodiumApp(Settings(home=tmp_path, model="scripted/echo", postgres_url=postgres_url))
    kept = podium.ask("keep me")
    register_script("empty-api", [])  # the model fails on its first call
    with pytest.raises(PodiumError, match="called 1 times"):
        podium.ask("lose me", kept.thread_id, options=TurnOptions(model="scripted/empty-api"))
    assert [m["content"] for m in podium.history(kept.thread_id)] == ["keep me", "You said: keep me"]


def test_postgres_restart_fails_cleanly_then_recovers_without_restarting_podium(postgres_server, tmp_path):
    podium = PodiumApp(Settings(home=tmp_path, model="scripted/echo", postgres_url=postgres_server.new_database()))
    thread = podium.ask("before").thread_id
    postgres_server.stop()
    try:
        with pytest.raises(StoreUnavailable) as down:
            podium.ask("while down", thread)
        assert "unreachable" in down.value.message and down.value.hint
    finally:
        postgres_server.start()
    after = podium.ask("after", thread)  # the same PodiumApp: its pool replaced the dead connections
    assert after.answer == "You said: after"
    assert [m["content"] for m in podium.history(thread)][::2] == ["before", "after"]
