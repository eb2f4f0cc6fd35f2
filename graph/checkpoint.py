"""Durable threads: the SQLite checkpointer in the data dir (Postgres for many replicas)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from graph.threads import Describer, ThreadIndex, ThreadInfo, describe
from podium.db import Database, StoreUnavailable
from podium.errors import ConfigError
from podium.settings import Settings

if TYPE_CHECKING:  # LangGraph loads when a checkpointer opens: `podium threads` lists from the index without it
    from langgraph.checkpoint.base import BaseCheckpointSaver

_SET_UP: set[str] = set()


class _NeedsSetup(Protocol):
    """A checkpointer whose tables are created by ``setup()`` (LangGraph's SQL savers; not on the base class)."""

    def setup(self) -> None:
        """Create or migrate the tables."""


def _setup_once(saver: _NeedsSetup, url: str) -> None:
    """Create or migrate the checkpoint tables once per process and URL (replicas may race: retry once)."""
    if url in _SET_UP:
        return
    try:
        saver.setup()
    except Exception:  # noqa: BLE001 - two replicas creating the same table at once: the second try sees it
        saver.setup()
    _SET_UP.add(url)


class _Turns(threading.local):
    """The thread whose new turn's input checkpoint is being written by this OS thread, if any."""

    thread: str | None = None


def _turn_input(config: Any, metadata: Any) -> str | None:
    """The thread id when a checkpoint about to be saved is a turn's input (time to prune the thread)."""
    configurable = config["configurable"]
    if (metadata or {}).get("source") != "input" or configurable.get("checkpoint_ns", ""):
        return None
    return str(configurable["thread_id"])


def _retaining_sqlite(keep_turns: int) -> type:
    """``SqliteSaver`` that prunes a thread (:mod:`graph.checkpoint_retention`) when a turn's input is saved."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.checkpoint_retention import prune_sqlite

    class RetainingSqliteSaver(SqliteSaver):
        turns = _Turns()
        cutoffs: dict[str, str] = {}  # noqa: RUF012 - per class, and a class per store: where pruning got to

        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            self.turns.thread = _turn_input(config, metadata) if keep_turns > 0 else None
            try:
                return super().put(config, checkpoint, metadata, new_versions)
            finally:
                self.turns.thread = None

        @contextmanager
        def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
            with super().cursor(transaction) as cur:
                yield cur
                thread = self.turns.thread
                if transaction and thread:  # same transaction as the insert: committed together
                    self.cutoffs[thread] = prune_sqlite(cur, thread, keep_turns, self.cutoffs.get(thread, "")).cutoff

    return RetainingSqliteSaver


def _guarded(saver_class: type, keep_turns: int = 0) -> type:
    """``PostgresSaver`` whose connection failures are :class:`StoreUnavailable` (a clean, one-line error)
    and which prunes a thread when a turn's input is saved, like the SQLite saver."""
    from graph.checkpoint_retention import prune_postgres

    class GuardedPostgresSaver(saver_class):
        turns = _Turns()
        cutoffs: dict[str, str] = {}  # noqa: RUF012 - where each thread's last pruning's window started

        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            self.turns.thread = _turn_input(config, metadata) if keep_turns > 0 else None
            try:
                return super().put(config, checkpoint, metadata, new_versions)
            finally:
                self.turns.thread = None

        @contextmanager
        def _cursor(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            # Wraps LangGraph's own (private) cursor helper: every read and write goes through it.
            with _unavailable_on_failure():
                with super()._cursor(*args, **kwargs) as cur:
                    yield cur
                    thread = self.turns.thread
                    if thread:
                        self.cutoffs[thread] = prune_postgres(cur, thread, keep_turns,
                                                             self.cutoffs.get(thread, "")).cutoff

    return GuardedPostgresSaver


@contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StoreUnavailable("Postgres", (str(exc).strip().splitlines() or [""])[0][:200]) from None


def open_checkpointer(settings: Settings) -> BaseCheckpointSaver:
    """SQLite under ``PODIUM_HOME`` by default; Postgres when ``PODIUM_POSTGRES_URL`` is set."""
    from graph.checkpoint_retention import StoreSerializer
    if settings.postgres_url:
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError as exc:
            raise ConfigError("Postgres checkpoints need extra packages", setting="PODIUM_POSTGRES_URL",
                              hint="pip install 'podium[postgres]'") from exc
        # The process's pool (shared with the ledger): a connection lost to a Postgres restart is replaced.
        db = Database(settings.postgres_url)
        saver = _guarded(PostgresSaver, settings.checkpoint_keep_turns)(db.pool, serde=StoreSerializer())
        with db.connection():  # a server that is down is a one-line error, not a traceback
            _setup_once(saver, settings.postgres_url)
        return saver
    conn = sqlite3.connect(settings.data_dir / "checkpoints.sqlite", check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = _retaining_sqlite(settings.checkpoint_keep_turns)(conn, serde=StoreSerializer())
    saver.setup()
    return saver


def latest_checkpoint_id(saver: BaseCheckpointSaver, thread_id: str) -> str | None:
    """Id of the thread's newest checkpoint, ``None`` for a thread that does not exist (its state is not read)."""
    sql = "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' " \
          "ORDER BY checkpoint_id DESC LIMIT 1"
    conn = getattr(saver, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        with saver.lock:  # type: ignore[attr-defined]
            row = conn.execute(sql, (thread_id,)).fetchone()
        return str(row[0]) if row else None
    if conn is not None:  # Postgres (a pool): the same table
        with _unavailable_on_failure(), conn.connection() as pg:
            found_row = pg.execute(sql.replace("?", "%s"), (thread_id,)).fetchone()
        return str(found_row["checkpoint_id"]) if found_row else None
    found = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
    return found.config["configurable"]["checkpoint_id"] if found else None


def describer(saver: BaseCheckpointSaver) -> Describer:
    """Describe a thread for the listing from one of its checkpoints (read and deserialized by ``saver``)."""
    def read(thread_id: str, checkpoint_id: str) -> ThreadInfo | None:
        found = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": "",
                                                  "checkpoint_id": checkpoint_id}})
        if found is None:
            return None
        return describe(thread_id, found.checkpoint["channel_values"].get("messages", []), found.checkpoint["ts"])
    return read


def list_threads(settings: Settings) -> list[ThreadInfo]:
    """Every saved thread, newest first; LangGraph is imported only when a row must be described again."""
    described: list[Describer] = []

    def lazy(thread_id: str, checkpoint_id: str) -> ThreadInfo | None:
        if not described:
            described.append(describer(open_checkpointer(settings)))
        return described[0](thread_id, checkpoint_id)

    return ThreadIndex.open(settings).list(lazy)

def rollback(saver: BaseCheckpointSaver, thread_id: str, keep: str | None) -> None:
    """Remove what a failed turn wrote: every checkpoint of the thread newer than ``keep``.

    A failed turn must leave its thread as it was; ``keep=None`` removes a thread the
    failed turn created.
    """
    if keep is None:
        saver.delete_thread(thread_id)
        return
    conn = getattr(saver, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        with saver.lock:  # type: ignore[attr-defined]
            conn.execute("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id > ?", (thread_id, keep))
            conn.execute("DELETE FROM writes WHERE thread_id = ? AND checkpoint_id > ?", (thread_id, keep))
            conn.commit()
        return
    if conn is not None:  # Postgres (a pool): same tables, same ordering of uuid6 checkpoint ids
        with _unavailable_on_failure(), conn.connection() as pg:
            for table in ("checkpoints", "checkpoint_writes"):
                pg.execute(f"DELETE FROM {table} WHERE thread_id = %s AND checkpoint_id > %s", (thread_id, keep))
