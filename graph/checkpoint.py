"""Durable threads: the SQLite checkpointer in the data dir (Postgres for many replicas)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from graph.threads import Describer, ThreadIndex, ThreadInfo, describe
from podium.db import Database, StoreUnavailable
from podium.errors import ConfigError
from podium.settings import Settings

if TYPE_CHECKING:  # LangGraph loads when a checkpointer opens: `podium threads` lists from the index without it
    from langgraph.checkpoint.base import BaseCheckpointSaver

_SET_UP: set[str] = set()


def _setup_once(saver: BaseCheckpointSaver, url: str) -> None:
    """Create or migrate the checkpoint tables once per process and URL (replicas may race: retry once)."""
    if url in _SET_UP:
        return
    try:
        saver.setup()
    except Exception:  # noqa: BLE001 - two replicas creating the same table at once: the second try sees it
        saver.setup()
    _SET_UP.add(url)


def _guarded(saver_class: type) -> type:
    """``PostgresSaver`` whose connection failures are :class:`StoreUnavailable` (a clean, one-line error)."""

    class GuardedPostgresSaver(saver_class):  # type: ignore[misc, valid-type]
        @contextmanager
        def _cursor(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            # Wraps LangGraph's own (private) cursor helper: every read and write goes through it.
            with _unavailable_on_failure():
                with super()._cursor(*args, **kwargs) as cur:
                    yield cur

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
    if settings.postgres_url:
        try:
            from langgraph.checkpoint.postgres import PostgresSaver  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ConfigError("Postgres checkpoints need extra packages", setting="PODIUM_POSTGRES_URL",
                              hint="pip install 'podium[postgres]'") from exc
        # The process's pool (shared with the ledger): a connection lost to a Postgres restart is replaced.
        db = Database(settings.postgres_url)
        saver = _guarded(PostgresSaver)(db.pool)
        with db.connection():  # a server that is down is a one-line error, not a traceback
            _setup_once(saver, settings.postgres_url)
        return saver
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(settings.data_dir / "checkpoints.sqlite", check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


def latest_checkpoint_id(saver: BaseCheckpointSaver, thread_id: str) -> str | None:
    """Id of the thread's newest checkpoint, ``None`` for a thread that does not exist."""
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
