"""One writer per thread: concurrent turns on one thread lose nothing (enqueue), or say why (reject,
interrupt, rollback), in one process, across CLI processes, and on Postgres advisory locks.

A turn is held mid-answer by a callback that waits on an event, so the others really start while it
runs; without the thread lock they would fork from the same checkpoint and all but the last would vanish.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from graph.app import PodiumApp
from graph.locks import STRATEGIES, ThreadBusy, TurnSuperseded, check_strategy
from podium.errors import PodiumError
from podium.settings import Settings
from tests.conftest import ROOT

WAIT_S = 60


class Hold(BaseCallbackHandler):
    """Stops a turn at its first token until ``release`` is set."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.entered.set()
        assert self.release.wait(WAIT_S)


class Waiters:
    """Counts turns that found the thread busy and started waiting (wraps the lock's wait loop)."""

    def __init__(self, podium: PodiumApp) -> None:
        self.count = 0
        self.changed = threading.Condition()
        original = podium.locks._wait

        def counting(*args: Any, **kwargs: Any) -> Any:
            with self.changed:
                self.count += 1
                self.changed.notify_all()
            return original(*args, **kwargs)
        podium.locks._wait = counting  # type: ignore[method-assign]

    def reach(self, n: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.count >= n, WAIT_S)


def _turn(podium: PodiumApp, text: str, thread: str, results: dict[str, Any], **kwargs: Any) -> threading.Thread:
    def run() -> None:
        try:
            results[text] = podium.ask(text, thread, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[text] = exc
    worker = threading.Thread(target=run)
    worker.start()
    return worker


def _pairs(podium: PodiumApp, thread: str) -> list[tuple[str, str]]:
    messages = [m["content"] for m in podium.history(thread)]
    return list(zip(messages[::2], messages[1::2], strict=True))


@pytest.fixture(params=["sqlite", "postgres"])
def podium(request, tmp_path) -> PodiumApp:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return PodiumApp(Settings(home=tmp_path, model="scripted/echo", postgres_url=url))


def test_enqueued_turns_all_land_one_after_another(podium):
    thread = podium.ask("first").thread_id
    hold, waiters, results = Hold(), Waiters(podium), {}
    workers = [_turn(podium, "one", thread, results, callbacks=[hold])]
    assert hold.entered.wait(WAIT_S)
    workers += [_turn(podium, text, thread, results) for text in ("two", "three", "four")]
    waiters.reach(3)
    hold.release.set()
    for worker in workers:
        worker.join(WAIT_S)
    assert all(not isinstance(r, Exception) for r in results.values()), results
    pairs = _pairs(podium, thread)
    assert pairs[:2] == [("first", "You said: first"), ("one", "You said: one")]
    assert sorted(pairs[2:]) == sorted((t, f"You said: {t}") for t in ("two", "three", "four"))


def test_reject_fails_at_once_while_the_thread_is_busy(podium):
    thread = podium.ask("first").thread_id
    hold, results = Hold(), {}
    worker = _turn(podium, "one", thread, results, callbacks=[hold])
    assert hold.entered.wait(WAIT_S)
    with pytest.raises(ThreadBusy) as busy:
        podium.ask("two", thread, multitask="reject")
    assert "busy" in busy.value.message and busy.value.status == 409
    hold.release.set()
    worker.join(WAIT_S)
    assert [q for q, _ in _pairs(podium, thread)] == ["first", "one"]


@pytest.mark.parametrize("strategy", ["rollback", "interrupt"])
def test_a_newer_turn_stops_the_running_one(podium, strategy):
    thread = podium.ask("first").thread_id
    hold, waiters, results = Hold(), Waiters(podium), {}
    old = _turn(podium, "one", thread, results, callbacks=[hold])
    assert hold.entered.wait(WAIT_S)
    new = _turn(podium, "two", thread, results, multitask=strategy)
    waiters.reach(1)
    hold.release.set()
    old.join(WAIT_S)
    new.join(WAIT_S)
    assert isinstance(results["one"], TurnSuperseded) and results["one"].strategy == strategy
    assert results["two"].answer == "You said: two"
    kept = [("one", "You said: one [interrupted]")] if strategy == "interrupt" else []
    assert _pairs(podium, thread) == [("first", "You said: first"), *kept, ("two", "You said: two")]


def test_a_waiting_turn_gives_up_when_told_to(podium):
    thread = podium.ask("first").thread_id
    hold, results = Hold(), {}
    worker = _turn(podium, "one", thread, results, callbacks=[hold])
    assert hold.entered.wait(WAIT_S)
    stop = threading.Event()
    stop.set()  # e.g. the API client went away while the turn waited
    with pytest.raises(ThreadBusy):
        podium.ask("two", thread, stop=stop)
    hold.release.set()
    worker.join(WAIT_S)
    assert [q for q, _ in _pairs(podium, thread)] == ["first", "one"]


def test_unknown_strategy_is_a_one_line_error():
    assert check_strategy(None) == "enqueue" and set(STRATEGIES) == {"enqueue", "reject", "interrupt", "rollback"}
    with pytest.raises(PodiumError) as bad:
        check_strategy("later")
    assert "enqueue, reject, interrupt, rollback" in bad.value.hint


def test_concurrent_cli_turns_on_one_thread_all_land(tmp_path):
    """Three `podium ask --thread T` processes at once, on a slow remote model: every turn is kept."""
    from tests.fault_server import FaultServer

    podium = PodiumApp(Settings(home=tmp_path / "podium-home", model="scripted/echo"))
    thread = podium.ask("start").thread_id
    with FaultServer(default="slow", slow_s=1.0) as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-test-not-a-real-key",
               "PODIUM_RETRIES": "0"}
        procs = [subprocess.Popen([sys.executable, "-m", "ui.cli", "ask", "--thread", thread, "--model",
                                   "openai/fault-model", f"question {i}"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) for i in range(3)]
        outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    questions = [q for q, _ in _pairs(podium, thread)]
    assert questions[0] == "start" and sorted(questions[1:]) == [f"question {i}" for i in range(3)]


def test_cli_reject_reports_a_busy_thread(tmp_path, capsys):
    from tests.conftest import cli_here

    podium = PodiumApp(Settings(home=tmp_path / "podium-home", model="scripted/echo"))
    thread = podium.ask("first").thread_id
    hold, results = Hold(), {}
    worker = _turn(podium, "one", thread, results, callbacks=[hold])
    assert hold.entered.wait(WAIT_S)
    try:
        code, _, err = cli_here(capsys, "ask", "--thread", thread, "--multitask", "reject", "--model",
                                "scripted/echo", "two")
    finally:
        hold.release.set()
        worker.join(WAIT_S)
    assert code == 2 and "busy" in err and "Traceback" not in err
