"""A key's budget holds under concurrency: requests hold their worst-case cost before they call a model.

Many requests at once on one key, from many threads, connections or API replicas, never spend
more than the budget plus one request's cost: each checks and holds in one transaction that
locks the key (SQLite ``BEGIN IMMEDIATE``, Postgres ``SELECT ... FOR UPDATE``), on both backends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from graph.app import PodiumApp
from podium.db import Database
from podium.settings import Settings
from tests.fault_server import FaultServer
from ui.api import create_app
from ui.api_keys import HOLD_TTL_S, KeyStore, Refused

CHAT = "/v1/chat/completions"
N = 8


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path) -> str:
    """Where the keys live: a SQLite file or a fresh Postgres database."""
    if request.param == "sqlite":
        return str(tmp_path / "keys.sqlite")
    return request.getfixturevalue("postgres_url")


def at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for ``i < n`` in ``n`` threads released together; a refusal is returned, not raised."""
    gate = threading.Barrier(n)

    def one(i: int) -> Any:
        gate.wait()
        try:
            return work(i)
        except Refused as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


class Interleaved(Database):
    """A database whose transactions pause after reading a key's holds until every thread has read them (or
    0.5 s passed): without a lock all would decide on the same stale sum; with it the others wait outside."""

    gate = threading.Barrier(N)

    @contextmanager
    def transaction(self) -> Iterator[Callable[..., list[dict[str, Any]]]]:
        with super().transaction() as run:
            def paused(sql: str, args: Any = ()) -> list[dict[str, Any]]:
                rows = run(sql, args)
                if "SUM(usd)" in sql:
                    try:
                        self.gate.wait(timeout=0.5)
                    except threading.BrokenBarrierError:
                        pass  # the lock kept the others out: nobody else can arrive
                return rows
            yield paused


def test_concurrent_holds_never_promise_more_than_the_budget(target):
    # Each thread has its own store and connection, as replicas have; each pauses inside its check.
    Interleaved.gate = threading.Barrier(N)
    stores = [KeyStore(Interleaved(target)) for _ in range(N)]
    _, key = stores[0].create("shared", budget_usd=1.0)
    results = at_once(N, lambda i: stores[i].reserve(key.id, f"r{i}", 0.3))
    admitted = [f"r{i}" for i, r in enumerate(results) if not isinstance(r, Refused)]
    assert len(admitted) == 3, "0.9 of 1.0 held; a fourth 0.3 would cross it"
    assert {r.code for r in results if isinstance(r, Refused)} == {"budget_exceeded"}
    assert stores[0].held(key.id) == pytest.approx(0.9)
    for hold in admitted:
        stores[0].settle(key.id, hold, 0.25)  # each cost less than its estimate
    assert stores[0].held(key.id) == 0 and stores[0].get(key.id).spent_usd == pytest.approx(0.75)


def test_a_nearly_spent_key_lets_one_request_in_at_a_time(target):
    stores = [KeyStore(Database(target)) for _ in range(N)]
    _, key = stores[0].create("nearly", budget_usd=1.0)
    stores[0].charge(key.id, 0.95)
    results = at_once(N, lambda i: stores[i].reserve(key.id, f"r{i}", 0.3))
    admitted = [f"r{i}" for i, r in enumerate(results) if not isinstance(r, Refused)]
    assert len(admitted) == 1, "with nothing in flight one request may use what is left, and only one"
    refused = next(r for r in results if isinstance(r, Refused))
    assert "in flight" in refused.message and refused.status == 403
    stores[0].settle(key.id, admitted[0], 0.3)
    assert stores[0].get(key.id).spent_usd == pytest.approx(1.25), "the bound: the budget plus one request"
    with pytest.raises(Refused, match="has spent its budget"):
        stores[0].reserve(key.id, "late", 0.0)


def test_a_failed_request_releases_its_hold_and_a_dead_ones_hold_expires(target):
    keys = KeyStore(Database(target))
    _, key = keys.create("holds", budget_usd=1.0)
    keys.reserve(key.id, "failed", 0.8, now=1000.0)
    with pytest.raises(Refused):
        keys.reserve(key.id, "blocked", 0.8, now=1001.0)
    keys.settle(key.id, "failed", 0.0)  # it failed before any billed call
    keys.reserve(key.id, "dead", 0.8, now=1002.0)  # its process is killed: never settled
    with pytest.raises(Refused):
        keys.reserve(key.id, "waits", 0.8, now=1002.0 + HOLD_TTL_S - 1)
    keys.reserve(key.id, "after", 0.8, now=1003.0 + HOLD_TTL_S)
    assert keys.held(key.id, now=1003.0 + HOLD_TTL_S) == pytest.approx(0.8) and keys.get(key.id).spent_usd == 0
    _, free = keys.create("no budget")
    keys.reserve(free.id, "x", 100.0)
    assert keys.held(free.id) == 0, "a key without a budget holds nothing"


def test_concurrent_requests_through_two_apps_on_one_sqlite_spend_one_requests_worth(tmp_path):
    """Two app instances (replicas) on one SQLite home; 6 requests at once on a key with $1 left of nothing
    spent: the fault server's answer costs several dollars, so exactly one is let in."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fault-model": [1_000_000, 1_000_000]}))  # $1 a token
    with FaultServer(default="slow", slow_s=1.5) as server:
        settings = Settings(home=tmp_path, model="scripted/echo", openai_base_url=server.url,
                            openai_api_key="sk-test-budget-key", prices_file=prices, retries=0)
        apps = [PodiumApp(settings) for _ in range(2)]
        stores = [KeyStore(Database(tmp_path / "keys.sqlite")) for _ in range(2)]
        secret, key = stores[0].create("budget", budget_usd=1.0)
        clients = [TestClient(create_app(app, keys)) for app, keys in zip(apps, stores, strict=True)]
        body = {"model": "openai/fault-model", "messages": [{"role": "user", "content": "spend"}]}
        responses = at_once(6, lambda i: clients[i % 2].post(
            CHAT, json=body, headers={"Authorization": f"Bearer {secret}"}))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [403] * 5, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 403} == {"budget_exceeded"}
    spent = stores[1].get(key.id).spent_usd
    assert spent == pytest.approx(apps[0].ledger.spent()) and spent > 1.0, "one request's cost, billed"
    assert stores[1].held(key.id) == 0


def test_keys_list_shows_what_requests_in_flight_hold_beside_spent_and_budget(capsys):
    """An operator sees why a key with budget left gets 403: other requests hold the rest."""
    from podium.settings import load_settings
    from tests.conftest import cli_here
    from ui.api_keys import open_keys

    keys = open_keys(load_settings())
    _, key = keys.create("busy", budget_usd=1.0)
    _, idle = keys.create("idle", budget_usd=2.0)
    keys.charge(key.id, 0.2)
    keys.reserve(key.id, "a", 0.3)
    keys.reserve(key.id, "b", 0.25)
    keys.reserve(idle.id, "dead", 1.5, now=keys.clock() - HOLD_TTL_S - 1)  # a dead process's hold: not counted
    with pytest.raises(Refused, match="held by 2 request"):
        keys.reserve(key.id, "c", 0.4)  # 0.2 + 0.55 + 0.4 > 1.0 though 0.8 of the budget is unspent
    code, out, _ = cli_here(capsys, "keys", "list", "--json")
    listed = {k["id"]: k for k in json.loads(out)}
    assert code == 0
    assert listed[key.id]["held_usd"] == pytest.approx(0.55) and listed[key.id]["in_flight"] == 2
    assert listed[key.id]["spent_usd"] == pytest.approx(0.2) and listed[key.id]["budget_usd"] == 1.0
    assert listed[idle.id]["held_usd"] == 0 and listed[idle.id]["in_flight"] == 0
    assert {"id", "name", "user", "created", "revoked", "rpm", "requests"} <= set(listed[key.id]), "stable fields"
    code, out, _ = cli_here(capsys, "keys", "list")
    row = next(line for line in out.splitlines() if key.id in line)
    assert code == 0 and "held $" in out and "0.5500" in row and "0.2000" in row
    keys.settle(key.id, "a", 0.1)
    keys.settle(key.id, "b", 0.0)
    after = {k.id: k for k in keys.list()}[key.id]
    assert after.held_usd == 0 and after.in_flight == 0 and after.spent_usd == pytest.approx(0.3)
