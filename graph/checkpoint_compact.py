"""``podium threads compact``: apply the retention policy to threads saved before it, and give the space back.

Each thread is pruned in its own transaction (:mod:`graph.checkpoint_retention`): every checkpoint
of its last ``keep_turns`` turns stays, so a turn that waits for an approval or at a breakpoint is
untouched and resumes as before; older turns keep their input and end, edits, forks and branch
tips. On SQLite, blobs saved before compression are compressed too, then the file is vacuumed;
on Postgres the freed rows are vacuumed for reuse.
"""

from __future__ import annotations

import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.checkpoint_retention import LEVEL, SMALL, SUFFIX, prune_postgres, prune_sqlite
from podium.errors import NotFoundError
from podium.settings import Settings

PLAIN_TYPES = ("null", "bytes", "bytearray")
"""Blob types stored as they are (no serializer output to compress)."""


@dataclass
class Compacted:
    """What ``compact`` did."""

    threads: int
    """Threads looked at."""
    removed: int
    """Checkpoints removed."""
    compressed: int
    """Blobs saved before compression that were compressed."""
    bytes_before: int
    """Size of the store before (SQLite: the file and its WAL; Postgres: the checkpoint tables)."""
    bytes_after: int
    """Size after."""

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        freed = max(self.bytes_before - self.bytes_after, 0)
        return (f"compacted {self.threads} thread{'s' * (self.threads != 1)}: removed {self.removed} checkpoints, "
                f"compressed {self.compressed} blobs; {_mb(self.bytes_before)} -> {_mb(self.bytes_after)} "
                f"({_mb(freed)} freed)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {**self.__dict__, "bytes_freed": max(self.bytes_before - self.bytes_after, 0)}


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def compact(settings: Settings, thread_id: str | None = None, keep_turns: int | None = None) -> Compacted:
    """Prune one thread (``thread_id``) or every thread, keeping every step of the last ``keep_turns`` turns."""
    keep = settings.checkpoint_keep_turns if keep_turns is None else keep_turns
    if settings.postgres_url:
        return _compact_postgres(settings.postgres_url, thread_id, keep)
    return _compact_sqlite(settings.data_dir / "checkpoints.sqlite", thread_id, keep)


def _threads(ids: list[str], thread_id: str | None) -> list[str]:
    if thread_id is None:
        return ids
    if thread_id not in ids:
        raise NotFoundError("thread", thread_id, hint="list threads with `podium threads`")
    return [thread_id]


def _sqlite_size(conn: sqlite3.Connection, path: Path) -> int:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _compress_sqlite(conn: sqlite3.Connection, thread_id: str) -> int:
    """Compress the thread's blobs saved before compression, in place (no deserializing)."""
    count = 0
    for table, column in (("checkpoints", "checkpoint"), ("writes", "value")):
        rows = conn.execute(f"SELECT rowid, type, {column} FROM {table} WHERE thread_id = ? "
                            f"AND type NOT LIKE '%{SUFFIX}' AND length({column}) >= ?", (thread_id, SMALL)).fetchall()
        updates = [(f"{typ}{SUFFIX}", zlib.compress(blob, LEVEL), rowid)
                   for rowid, typ, blob in rows if typ not in PLAIN_TYPES and blob is not None]
        conn.executemany(f"UPDATE {table} SET type = ?, {column} = ? WHERE rowid = ?", updates)
        count += len(updates)
    return count


def _compact_sqlite(path: Path, thread_id: str | None, keep: int) -> Compacted:
    if not path.exists():
        _threads([], thread_id)  # a thread named in an empty store does not exist
        return Compacted(0, 0, 0, 0, 0)
    conn = sqlite3.connect(path, timeout=30)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "checkpoints" not in tables:
            _threads([], thread_id)
            return Compacted(0, 0, 0, *(2 * [_sqlite_size(conn, path)]))
        ids = [r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id")]
        threads = _threads(ids, thread_id)
        before = _sqlite_size(conn, path)
        removed = compressed = 0
        for tid in threads:
            with conn:  # one transaction per thread: all of its pruning, or none
                removed += len(prune_sqlite(conn.cursor(), tid, keep).delete)
                compressed += _compress_sqlite(conn, tid)
        conn.execute("VACUUM")
        return Compacted(len(threads), removed, compressed, before, _sqlite_size(conn, path))
    finally:
        conn.close()


def _postgres_size(pg: Any) -> int:
    row = pg.execute("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS size FROM pg_class c "
                     "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
                     "AND n.nspname = current_schema() AND c.relname LIKE 'checkpoint%'").fetchone()
    return int(row["size"])


def _compact_postgres(url: str, thread_id: str | None, keep: int) -> Compacted:
    from graph.checkpoint import _unavailable_on_failure
    from podium.db import Database

    db = Database(url)
    with _unavailable_on_failure(), db.connection() as pg:
        if not db.columns("checkpoints"):
            _threads([], thread_id)
            return Compacted(0, 0, 0, 0, 0)
        ids = [r["thread_id"] for r in pg.execute("SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id")]
        threads = _threads(ids, thread_id)
        before = _postgres_size(pg)
        removed = 0
        for tid in threads:
            with pg.transaction(), pg.cursor() as cur:
                removed += len(prune_postgres(cur, tid, keep).delete)
        for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):
            pg.execute(f"VACUUM {table}")  # freed rows become reusable space (VACUUM FULL would lock the tables)
        return Compacted(len(threads), removed, 0, before, _postgres_size(pg))
