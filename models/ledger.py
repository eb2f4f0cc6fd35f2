"""The cost ledger: every model call, one SQLite row, written as the call starts.

A call is inserted with outcome ``running`` before the request goes out and
completed when it ends, so a crash in between still leaves the record of a call
that may have been billed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    turn TEXT,
    thread TEXT,
    node TEXT,
    provider TEXT,
    model TEXT,
    prompt_tokens INTEGER DEFAULT 0,
    completion_tokens INTEGER DEFAULT 0,
    token_source TEXT DEFAULT '',
    ttft_s REAL,
    duration_s REAL,
    tokens_per_s REAL,
    cost_usd REAL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT 'running',
    error_class TEXT,
    error TEXT,
    gpu_s REAL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS calls_thread ON calls(thread);
CREATE INDEX IF NOT EXISTS calls_turn ON calls(turn);
CREATE INDEX IF NOT EXISTS calls_ts ON calls(ts);
"""

OUTCOMES = ("running", "ok", "retried", "fell_back", "failed")


@dataclass
class CallRecord:
    """One model call as the ledger keeps it."""

    id: int
    ts: float
    turn: str | None
    thread: str | None
    node: str | None
    provider: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    token_source: str = ""
    ttft_s: float | None = None
    duration_s: float | None = None
    tokens_per_s: float | None = None
    cost_usd: float = 0.0
    outcome: str = "running"
    error_class: str | None = None
    error: str | None = None
    gpu_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class Ledger:
    """SQLite ledger under the data dir; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def start(self, *, provider: str, model: str, turn: str | None, thread: str | None, node: str | None) -> int:
        """Record a call as it starts; returns its id."""
        cur = self._conn().execute(
            "INSERT INTO calls (ts, turn, thread, node, provider, model) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), turn, thread, node, provider, model),
        )
        return int(cur.lastrowid or 0)

    def finish(self, call_id: int, **fields: Any) -> None:
        """Complete a call's record (tokens, timings, cost, outcome, error)."""
        unknown = set(fields) - set(CallRecord.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown ledger fields: {sorted(unknown)}")
        if "outcome" in fields and fields["outcome"] not in OUTCOMES:
            raise ValueError(f"bad outcome {fields['outcome']!r}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._conn().execute(f"UPDATE calls SET {cols} WHERE id = ?", (*fields.values(), call_id))

    def calls(self, *, turn: str | None = None, thread: str | None = None, since: float | None = None) -> list[CallRecord]:
        """Calls filtered by turn, thread and start time, oldest first."""
        where, args = [], []
        for column, value in (("turn", turn), ("thread", thread)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        sql = "SELECT * FROM calls" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [CallRecord(**dict(row)) for row in self._conn().execute(sql, args)]

    def spent(self, *, thread: str | None = None, since: float | None = None) -> float:
        """USD spent, by thread and/or since a time."""
        return sum(c.cost_usd or 0.0 for c in self.calls(thread=thread, since=since))


def summarize(calls: list[CallRecord]) -> dict[str, Any]:
    """Totals of a turn's calls, as ``podium ask --json`` reports them."""
    ok = [c for c in calls if c.outcome in ("ok", "retried")] or calls
    last = ok[-1] if ok else None
    return {
        "prompt_tokens": sum(c.prompt_tokens or 0 for c in calls),
        "completion_tokens": sum(c.completion_tokens or 0 for c in calls),
        "ttft_s": last.ttft_s if last else None,
        "latency_s": round(sum(c.duration_s or 0 for c in calls), 4),
        "cost_usd": round(sum(c.cost_usd or 0 for c in calls), 8),
        "calls": [c.to_dict() for c in calls],
    }
