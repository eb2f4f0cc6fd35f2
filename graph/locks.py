"""One writer per thread, across threads, processes and replicas.

Two turns started at once on one thread would both fork from the same checkpoint and the
newest would silently win ("double-texting"). A turn therefore holds its thread's lock from
before it reads the thread until its last checkpoint is written: a file lock (``flock``)
under ``PODIUM_HOME/locks`` on one machine, a Postgres advisory lock on a shared database.
Both vanish with the process that held them, so a killed replica never leaves a thread stuck.

A second turn chooses a strategy, as LangGraph's server offers:

- ``enqueue`` (default): wait for the running turn, then run on top of it;
- ``reject``: fail at once with :class:`ThreadBusy` (HTTP 409);
- ``interrupt``: stop the running turn at its next token, keep its question and partial
  answer in the thread, then run;
- ``rollback``: stop the running turn and remove it from the thread, then run.

Stopping another process's turn goes through a small table of stop requests (beside the
ledger); the running turn reads it from its token callback at most every ``POLL_S``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import BaseCallbackHandler

from podium.db import Database, StoreUnavailable, open_database
from podium.errors import Cancelled, PodiumError
from podium.settings import Settings

STRATEGIES = ("enqueue", "reject", "interrupt", "rollback")
"""What a turn does when its thread is busy; the first is the default."""
POLL_S = 0.05
"""How often a waiting turn retries the lock, and how often a running one looks for a stop request (x4)."""


class ThreadBusy(PodiumError):
    """The thread has a running turn and the request asked not to wait (``reject``), or waited too long."""

    status = 409

    def __init__(self, thread_id: str, *, waited_s: float | None = None) -> None:
        why = f"still busy after {waited_s:.0f}s" if waited_s is not None else "busy: another turn is running on it"
        super().__init__(f"thread {thread_id!r} is {why}",
                         hint="retry when it finishes, or choose another strategy (enqueue waits for it)")
        self.thread_id = thread_id


class TurnSuperseded(Cancelled):
    """A newer turn on the same thread stopped this one (``interrupt`` or ``rollback``)."""

    status = 409

    def __init__(self, thread_id: str, strategy: str) -> None:
        kept = "kept, marked interrupted" if strategy == "interrupt" else "rolled back"
        super().__init__(f"a newer message on thread {thread_id!r} stopped this turn ({strategy}: {kept})",
                         hint="the newer turn answers in its place")
        self.thread_id = thread_id
        self.strategy = strategy


def check_strategy(value: str | None) -> str:
    """A valid strategy name (``None`` means the default); anything else is a one-line error."""
    if value in (None, ""):
        return STRATEGIES[0]
    if value not in STRATEGIES:
        raise PodiumError(f"unknown multitask strategy {value!r}", hint=f"use one of {', '.join(STRATEGIES)}")
    return value


def _key(thread_id: str) -> int:
    """A signed 64-bit advisory-lock key for a thread id."""
    return int.from_bytes(hashlib.sha256(thread_id.encode()).digest()[:8], "big", signed=True)


class _FileLocks:
    """``flock`` on one file per thread: exclusive between any two open files, freed when the process dies."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def try_acquire(self, thread_id: str) -> Any:
        path = self.folder / f"{hashlib.sha256(thread_id.encode()).hexdigest()[:24]}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def release(self, handle: Any) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)

    def give_up(self) -> None:
        """Nothing is kept between tries."""


class _AdvisoryLocks:
    """A Postgres session advisory lock on a connection of its own, held for the turn."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._spare = threading.local()
        """A waiting thread's connection, kept between tries (not a new Postgres session every poll)."""

    def try_acquire(self, thread_id: str) -> Any:
        import psycopg

        conn = getattr(self._spare, "conn", None)
        self._spare.conn = None
        try:
            conn = conn or psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_key(thread_id),)).fetchone()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable("Postgres", str(exc).strip().splitlines()[0][:200]) from None
        if row and row[0]:
            return conn
        self._spare.conn = conn
        return None

    def give_up(self) -> None:
        """Close the connection a thread kept for waiting."""
        conn = getattr(self._spare, "conn", None)
        self._spare.conn = None
        if conn is not None:
            conn.close()

    def release(self, handle: Any) -> None:
        try:
            handle.close()  # ending the session frees its advisory locks
        except Exception:  # noqa: BLE001 - a connection lost to a restart has nothing left to free
            pass


class ThreadLocks:
    """The lock table of one data dir or Postgres database."""

    def __init__(self, settings: Settings) -> None:
        self._locks: _FileLocks | _AdvisoryLocks = (
            _AdvisoryLocks(settings.postgres_url) if settings.postgres_url else _FileLocks(settings.data_dir / "locks"))
        self.db: Database = open_database(settings, "runs.sqlite")
        self.db.script(f"CREATE TABLE IF NOT EXISTS thread_stops (thread_id TEXT PRIMARY KEY, ts {self.db.real} "
                       "NOT NULL, strategy TEXT NOT NULL);"
                       f"CREATE TABLE IF NOT EXISTS thread_runs (thread_id TEXT PRIMARY KEY, started {self.db.real} "
                       "NOT NULL, before_checkpoint TEXT)")

    @contextmanager
    def hold(self, thread_id: str, strategy: str = "enqueue", *, wait_s: float = 600,
             stop: threading.Event | None = None, on_wait: Any = None) -> Iterator[Turn]:
        """Hold the thread for one turn, following ``strategy`` when it is busy.

        ``stop`` abandons the wait (a client that went away); ``on_wait()`` is called once
        when the turn has to wait. Yields the :class:`Turn` whose ``watch`` callback stops
        this turn when a newer one asks to.
        """
        strategy = check_strategy(strategy)
        handle = self._locks.try_acquire(thread_id)
        if handle is None:
            if strategy == "reject":
                self._locks.give_up()
                raise ThreadBusy(thread_id)
            if strategy in ("interrupt", "rollback"):
                self.db.execute("INSERT INTO thread_stops (thread_id, ts, strategy) VALUES (?, ?, ?) ON CONFLICT"
                                " (thread_id) DO UPDATE SET ts = excluded.ts, strategy = excluded.strategy",
                                (thread_id, time.time(), strategy))
            if on_wait is not None:
                on_wait()
            handle = self._wait(thread_id, wait_s, stop or threading.Event())
        turn = Turn(self, thread_id)
        try:
            yield turn
        finally:
            self._locks.release(handle)

    def _wait(self, thread_id: str, wait_s: float, stop: threading.Event) -> Any:
        deadline = time.monotonic() + wait_s
        started = time.monotonic()
        try:
            while not stop.wait(POLL_S):
                handle = self._locks.try_acquire(thread_id)
                if handle is not None:
                    return handle
                if time.monotonic() > deadline:
                    raise ThreadBusy(thread_id, waited_s=time.monotonic() - started)
            raise ThreadBusy(thread_id)
        finally:
            self._locks.give_up()  # a no-op after success: the connection became the handle

    def begin(self, thread_id: str, before: str | None) -> str | None | Literal[False]:
        """Note that a turn starts on the thread from checkpoint ``before``; returns the checkpoint a turn
        that started earlier and never ended (its process died holding the lock) started from, else ``False``.

        Call it holding the lock: a run noted and not ended by then can only be a dead one.
        """
        rows = self.db.execute("SELECT before_checkpoint FROM thread_runs WHERE thread_id = ?", (thread_id,))
        self.db.execute("INSERT INTO thread_runs (thread_id, started, before_checkpoint) VALUES (?, ?, ?) ON CONFLICT"
                        " (thread_id) DO UPDATE SET started = excluded.started, before_checkpoint ="
                        " excluded.before_checkpoint", (thread_id, time.time(), before))
        return rows[0]["before_checkpoint"] if rows else False

    def end(self, thread_id: str) -> None:
        """The turn ended (answered, paused, or failed and rolled back): nothing to recover."""
        self.db.execute("DELETE FROM thread_runs WHERE thread_id = ?", (thread_id,))

    def stop_request(self, thread_id: str, since: float) -> str | None:
        """The strategy of a stop requested for the thread after ``since``, if any."""
        rows = self.db.execute("SELECT strategy FROM thread_stops WHERE thread_id = ? AND ts > ?", (thread_id, since))
        return rows[0]["strategy"] if rows else None


class Turn(BaseCallbackHandler):
    """The running turn's side of the lock: a run callback that stops it when a newer turn asks.

    ``raise_error`` makes LangChain re-raise, so the exception leaves the model's token loop.
    """

    raise_error = True

    def __init__(self, locks: ThreadLocks, thread_id: str) -> None:
        self.locks = locks
        self.thread_id = thread_id
        self.started = time.time()
        self._checked = time.monotonic()
        self.stopped_by: str | None = None

    def _check(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < POLL_S * 4:
            return
        self._checked = now
        try:
            strategy = self.locks.stop_request(self.thread_id, self.started)
        except StoreUnavailable:
            return  # the turn itself will fail on its next checkpoint write if the store is really gone
        if strategy:
            self.stopped_by = strategy
            raise TurnSuperseded(self.thread_id, strategy)

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> None:
        """Look for a stop request between tokens (throttled)."""
        self._check()

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, **kwargs: Any) -> None:
        """Look before a model call starts."""
        self._check(force=True)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        """Look once more before an answer is kept (a short answer may stream between two looks)."""
        self._check(force=True)

    def on_tool_start(self, serialized: dict[str, Any], input_str: str, **kwargs: Any) -> None:
        """Look before a tool runs."""
        self._check(force=True)
