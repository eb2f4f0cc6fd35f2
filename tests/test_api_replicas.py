"""Two `podium serve` replicas on one Postgres and one Chroma server: shared threads, keys, budgets and
rate limits, 50 concurrent sessions without cross-talk, a replica killed mid-stream, Postgres restarted
under load. Everything is a real process on 127.0.0.1; the model is scripted (or the fault server)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from graph.app import PodiumApp
from podium.db import Database
from podium.settings import Settings
from tests.conftest import ROOT
from tests.fault_server import FaultServer
from tests.servers import chroma_server, podium_serve
from tests.test_api_openai import clean_env

CHAT = "/chat/completions"


class Cluster:
    """The replicas' URLs and their shared settings."""

    def __init__(self, urls: list[str], procs: list[subprocess.Popen], env: dict[str, str], tmp: Path,
                 faults: FaultServer) -> None:
        self.urls, self.procs, self.env, self.tmp, self.faults = urls, procs, env, tmp, faults

    def podium(self) -> PodiumApp:
        """A PodiumApp on the shared stores (what a third replica sees)."""
        return PodiumApp(Settings(home=self.tmp / "reader", postgres_url=self.env["PODIUM_POSTGRES_URL"],
                                  chroma_url=self.env["PODIUM_CHROMA_URL"]))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "PODIUM_HOME": str(self.tmp / "cli")}
        return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=180)


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("replicas")
    prices = tmp / "prices.json"
    prices.write_text(json.dumps({"fault-model": [100_000, 100_000]}))  # $0.1 a token: budgets run out fast
    with ExitStack() as stack:
        faults = stack.enter_context(FaultServer(trickle_s=0.3, slow_s=1.0))
        chroma = stack.enter_context(chroma_server(tmp / "chroma", tmp / "chroma.log"))
        env = clean_env(tmp / "unused", PODIUM_MODEL="scripted/echo",
                        PODIUM_POSTGRES_URL=postgres_server.new_database(), PODIUM_CHROMA_URL=chroma,
                        OPENAI_BASE_URL=faults.url, OPENAI_API_KEY="sk-replica-test-key-123",
                        PODIUM_PRICES_FILE=str(prices), PODIUM_RETRIES="0")
        urls, procs = [], []
        for name in ("a", "b"):
            replica_env = {**env, "PODIUM_HOME": str(tmp / name)}  # nothing shared on disk
            url, proc = stack.enter_context(podium_serve(replica_env, tmp / f"{name}.log"))
            urls.append(url)
            procs.append(proc)
        yield Cluster(urls, procs, env, tmp, faults)


def chat(url: str, text: str, *, thread: str | None = None, key: str | None = None, **body: object) -> httpx.Response:
    headers = {**({"X-Podium-Thread": thread} if thread else {}), **({"Authorization": f"Bearer {key}"} if key else {})}
    payload = {"model": "podium", "messages": [{"role": "user", "content": text}], **body}
    return httpx.post(url + CHAT, json=payload, headers=headers, timeout=60)


def test_a_thread_started_on_one_replica_continues_on_the_other(cluster):
    a, b = cluster.urls
    first = chat(a, "hello from a")
    thread = first.headers["x-podium-thread"]
    second = chat(b, "hello from b", thread=thread)
    assert second.status_code == 200 and second.json()["podium"]["thread_id"] == thread
    assert [m["content"] for m in cluster.podium().history(thread)] == [
        "hello from a", "You said: hello from a", "hello from b", "You said: hello from b"]


def test_knowledge_ingested_once_is_searched_by_every_replica(cluster, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ops.md").write_text("# Key rotation\n\nRotate the API keys every 90 days with the vault CLI.\n")
    done = cluster.cli("ingest", str(docs), "--collection", "handbook", "--json")
    assert done.returncode == 0, done.stderr
    for url in cluster.urls:
        reply = chat(url, "How often do we rotate the API keys?", podium={"collection": "handbook"}).json()
        assert reply["podium"]["route"] == ["conductor", "knowledge"]
        assert reply["podium"]["sources"][0]["source"] == "ops.md"


def test_keys_budgets_and_rate_limits_hold_across_replicas(cluster):
    try:
        for attempt in range(2):  # a burst straddling a minute counts in two: then once more, on a fresh key
            created = cluster.cli("keys", "create", "--name", f"shared{attempt}", "--rpm", "3", "--json")
            assert created.returncode == 0, created.stderr
            key = json.loads(created.stdout)["key"]
            gate = threading.Barrier(6)

            def one(i: int, key: str = key, gate: threading.Barrier = gate) -> int:
                gate.wait()
                return chat(cluster.urls[i % 2], f"limited {i}", key=key).status_code

            with ThreadPoolExecutor(6) as pool:  # 6 at once, 3 on each replica
                statuses = sorted(pool.map(one, range(6)))
            if statuses == [200] * 3 + [429] * 3:
                break
        assert statuses == [200] * 3 + [429] * 3, "3 per minute in total, whichever replica answers"
        listed = json.loads(cluster.cli("keys", "list", "--json").stdout)
        assert {k["name"]: k["requests"] for k in listed}[f"shared{attempt}"] == 3, "refused ones are not counted"
        budget = json.loads(cluster.cli("keys", "create", "--budget-usd", "1", "--json").stdout)["key"]
        paid = chat(cluster.urls[0], "spend it", key=budget, podium={"model": "openai/fault-model"})
        assert paid.status_code == 200, paid.text
        refused = chat(cluster.urls[1], "more", key=budget, podium={"model": "openai/fault-model"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "budget_exceeded"
    finally:  # the other tests run without keys
        Database(cluster.env["PODIUM_POSTGRES_URL"]).execute("DELETE FROM api_keys")


def test_a_budget_holds_against_concurrent_requests_on_both_replicas(cluster):
    """6 requests at once, 3 per replica, on a key whose $1 covers less than one call (a slow one): one is let
    in and billed, the others are refused before any model is called; nothing stays held."""
    key = json.loads(cluster.cli("keys", "create", "--name", "race", "--budget-usd", "1", "--json").stdout)["key"]
    paid = {"model": "openai/fault-model"}
    cluster.faults.set(default="slow")
    calls_before = len(cluster.faults.seen)
    try:
        gate = threading.Barrier(6)

        def one(i: int) -> httpx.Response:
            gate.wait()
            return chat(cluster.urls[i % 2], f"race {i}", key=key, podium=paid)

        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(one, range(6)))
    finally:
        cluster.faults.set(default="ok")
        db = Database(cluster.env["PODIUM_POSTGRES_URL"])
        (row,) = db.execute("SELECT spent_usd, id FROM api_keys WHERE name = 'race'")
        held = db.execute("SELECT COUNT(*) AS n FROM api_holds")[0]["n"]
        db.execute("DELETE FROM api_keys")  # the other tests run without keys
    assert sorted(r.status_code for r in responses) == [200] + [403] * 5, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 403} == {"budget_exceeded"}
    assert len(cluster.faults.seen) - calls_before == 1, "refused requests never reach the model"
    winner = next(r for r in responses if r.status_code == 200).json()["podium"]
    assert row["spent_usd"] == pytest.approx(winner["cost_usd"]) and row["spent_usd"] > 1 and held == 0


def test_concurrent_api_turns_on_one_thread_all_land_or_are_rejected(cluster):
    """Double-texting across replicas: 4 turns at once on one thread (a slow model) all land; `reject` gets 409."""
    thread = chat(cluster.urls[0], "start").headers["x-podium-thread"]
    slow = {"model": "openai/fault-model"}
    cluster.faults.set(default="slow")
    before = len(cluster.faults.seen)  # earlier tests' slow requests do not count
    try:
        with ThreadPoolExecutor(5) as pool:
            futures = [pool.submit(chat, cluster.urls[i % 2], f"Hello, this is session {i}, message 0.", thread=thread,
                                   podium=slow)
                       for i in range(4)]
            deadline = time.monotonic() + 60
            while not any(s.fault == "slow" for s in cluster.faults.seen[before:]):  # a turn is running now
                assert time.monotonic() < deadline
                wait(futures, timeout=0.05, return_when=FIRST_EXCEPTION)  # poll: a failed turn would end the wait
            rejected = chat(cluster.urls[1], "rejected", thread=thread,
                            podium={**slow, "multitask_strategy": "reject"})
            statuses = [f.result().status_code for f in futures]
    finally:
        cluster.faults.set(default="ok")
    assert statuses == [200] * 4 and rejected.status_code == 409
    assert rejected.json()["error"]["code"] == "thread_busy"
    history = [m["content"] for m in cluster.podium().history(thread)]
    assert history[:2] == ["start", "You said: start"]
    assert sorted(history[2::2]) == [f"Hello, this is session {i}, message 0." for i in range(4)]
    assert set(history[3::2]) == {"Hello from the fault server."}


def test_fifty_concurrent_streamed_sessions_do_not_cross_talk(cluster):
    async def session(client: httpx.AsyncClient, i: int) -> tuple[str, list[str]]:
        url = cluster.urls[i % 2]
        thread, answers = None, []
        for turn in range(2):
            text = f"Hello, this is session {i}, message {turn}."  # chat-like: this test is about sessions
            headers = {"X-Podium-Thread": thread} if thread else {}
            async with client.stream("POST", url + CHAT, headers=headers, json={
                    "model": "podium", "stream": True, "messages": [{"role": "user", "content": text}]}) as response:
                assert response.status_code == 200
                thread = response.headers["x-podium-thread"]
                pieces = []
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        chunk = json.loads(line[6:])
                        pieces += [c["delta"].get("content") or "" for c in chunk["choices"]]
                answers.append("".join(pieces))
        return thread, answers

    async def run() -> list[tuple[str, list[str]]]:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=100)) as client:
            return await asyncio.gather(*(session(client, i) for i in range(50)))

    results = asyncio.run(run())
    reader = cluster.podium()
    assert len({thread for thread, _ in results}) == 50
    for i, (thread, answers) in enumerate(results):
        assert answers == [f"You said: Hello, this is session {i}, message {t}." for t in range(2)]
        assert [m["content"] for m in reader.history(thread)] == [
            x for t in range(2) for x in (f"Hello, this is session {i}, message {t}.",
                                      f"You said: Hello, this is session {i}, message {t}.")]


def test_postgres_restart_under_load_fails_cleanly_then_recovers(cluster, postgres_server):
    statuses: list[int] = []
    stop = threading.Event()

    def load(url: str) -> None:
        thread = None
        while not stop.is_set():
            try:
                response = chat(url, "under load", thread=thread)
            except httpx.HTTPError:
                statuses.append(-1)
                continue
            statuses.append(response.status_code)
            if response.status_code == 200:
                thread = response.headers["x-podium-thread"]
            else:
                assert response.json()["error"]["code"] in ("store_unavailable", "thread_busy"), response.text

    workers = [threading.Thread(target=load, args=(url,)) for url in cluster.urls for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        postgres_server.restart()
    finally:
        # Recovery without restarting Podium: each replica answers again within a deadline.
        deadline = time.monotonic() + 60
        for url in cluster.urls:
            while chat(url, "recovered?").status_code != 200:
                assert time.monotonic() < deadline, "a replica did not recover"
        stop.set()
        for worker in workers:
            worker.join(60)
    assert -1 not in statuses and 500 not in statuses, statuses
    assert set(statuses) <= {200, 503, 409}, statuses


def test_a_replica_killed_mid_stream_loses_nothing(cluster):
    """SIGKILL a replica while it streams; the other continues the thread; the cut call's ledger row stays.

    The last test of the module: replica a stays dead."""
    (url, proc), other = (cluster.urls[0], cluster.procs[0]), cluster.urls[1]
    thread = chat(url, "kept before the crash").headers["x-podium-thread"]
    cluster.faults.set(default="trickle")
    try:
        body = {"model": "podium", "stream": True, "podium": {"model": "openai/fault-model"},
                "messages": [{"role": "user", "content": "cut me off"}]}
        with httpx.stream("POST", url + CHAT, json=body, headers={"X-Podium-Thread": thread}, timeout=60) as r:
            for line in r.iter_lines():
                if '"content"' in line:
                    break  # the answer is streaming: kill the replica now
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        cluster.faults.set(default="ok")
        after = chat(other, "after the crash", thread=thread)
        assert after.status_code == 200, after.text  # the dead replica's thread lock died with it
    finally:
        cluster.faults.set(default="ok")
    reader = cluster.podium()
    assert [m["content"] for m in reader.history(thread)] == [
        "kept before the crash", "You said: kept before the crash", "after the crash", "You said: after the crash"]
    cut = [c for c in reader.ledger.calls(thread=thread) if c.model == "openai/fault-model"]
    assert len(cut) == 1 and cut[0].outcome == "interrupted", "the cut call is on record (it may have been billed)"
