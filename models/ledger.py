"""The cost ledger: every model call, one row (SQLite, or Postgres for replicas), written as the call starts.

A call is inserted with outcome ``running`` before the request goes out and
completed when it ends, so a crash in between still leaves the record of a call
that may have been billed. Each attempt is its own row; its outcome says what
happened next:

- ``ok``: it answered;
- ``retried``: it failed and the same model was tried again (after a backoff, or to repair its output);
- ``fell_back``: it failed and the next model in the chain was tried;
- ``failed``: it failed and no model was left;
- ``interrupted``: its process ended (killed, crashed) before the call finished; closed by the
  next process that starts on the same machine, or by the next turn on its thread.

``error_class`` names the provider's own exception (``RateLimitError``,
``ContextOverflowError``...). A ``NULL`` cost means the model has no price in the
table; ``NULL`` tokens mean nothing could count them (never a silent zero).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from podium.db import Database, open_database
from podium.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id {serial},
    ts {real} NOT NULL,
    turn TEXT,
    thread TEXT,
    node TEXT,
    provider TEXT,
    model TEXT,
    prompt_tokens INTEGER DEFAULT 0,
    completion_tokens INTEGER DEFAULT 0,
    token_source TEXT DEFAULT '',
    ttft_s {real},
    duration_s {real},
    tokens_per_s {real},
    cost_usd {real} DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT 'running',
    error_class TEXT,
    error TEXT,
    gpu_s {real} DEFAULT 0
)
"""
# Columns added after the first release, migrated in place on open.
_ADDED = {"attempt": "INTEGER DEFAULT 1", "status": "INTEGER", "retryable": "INTEGER", "note": "TEXT",
          "finish_reason": "TEXT", "owner": "TEXT", "endpoint": "TEXT"}
_INDEXES = """
CREATE INDEX IF NOT EXISTS calls_thread ON calls(thread);
CREATE INDEX IF NOT EXISTS calls_turn ON calls(turn);
CREATE INDEX IF NOT EXISTS calls_ts ON calls(ts);
CREATE INDEX IF NOT EXISTS calls_provider ON calls(provider, id);
CREATE INDEX IF NOT EXISTS calls_running ON calls(owner) WHERE outcome = 'running';
"""

OUTCOMES = ("running", "ok", "retried", "fell_back", "failed", "interrupted")
HOST = socket.gethostname()
INTERRUPTED = "the process making this call ended before it finished (killed or crashed)"
GROUPS = ("model", "node", "thread", "provider", "day")
"""What ``podium usage --by`` may group on: a column, or ``day`` (the local calendar day a call started)."""
_DAY = {False: "date(ts, 'unixepoch', 'localtime')", True: "to_char(to_timestamp(ts), 'YYYY-MM-DD')"}
"""SQL for a call's day, SQLite and Postgres."""


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
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    token_source: str = ""
    ttft_s: float | None = None
    duration_s: float | None = None
    tokens_per_s: float | None = None
    cost_usd: float | None = 0.0
    outcome: str = "running"
    error_class: str | None = None
    error: str | None = None
    gpu_s: float | None = 0.0
    attempt: int | None = 1
    status: int | None = None
    retryable: int | None = None
    note: str | None = None
    finish_reason: str | None = None
    """Why an answered call ended: ``stop``, ``length`` (the token limit), ``repetition`` (a loop was stopped)."""
    owner: str | None = None
    """``host:pid`` of the process that made the call (to close calls whose process died)."""
    endpoint: str | None = None
    """The server a remote call went to (``OPENAI_BASE_URL``); cooldowns are per provider and endpoint."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class Ledger:
    """The ledger on a SQLite file (a path) or a shared :class:`Database`; safe across threads and processes."""

    def __init__(self, target: Path | Database) -> None:
        self.db = target if isinstance(target, Database) else Database(target)
        db = self.db
        db.script(_SCHEMA.format(serial=db.serial, real=db.real))
        have = db.columns("calls")
        for column, decl in _ADDED.items():
            if column not in have:
                try:
                    db.execute(f"ALTER TABLE calls ADD COLUMN {'IF NOT EXISTS ' if db.postgres else ''}"
                               f"{column} {decl}")
                except Exception:  # noqa: BLE001 - SQLite: another process migrated it a moment ago
                    if db.postgres:
                        raise
        db.script(_INDEXES)

    def start(self, *, provider: str, model: str, turn: str | None, thread: str | None, node: str | None,
              attempt: int = 1, note: str | None = None, endpoint: str | None = None) -> int:
        """Record a call as it starts; returns its id."""
        rows = self.db.execute(
            "INSERT INTO calls (ts, turn, thread, node, provider, model, attempt, note, owner, endpoint)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (time.time(), turn, thread, node, provider, model, attempt, note, f"{HOST}:{os.getpid()}", endpoint),
        )
        return int(rows[0]["id"])

    def interrupt(self, *, turn: str | None = None, owner: str | None = None) -> int:
        """Close the ``running`` calls of a turn or process that ended mid-call as ``interrupted``; returns how many."""
        column, value = ("turn", turn) if turn is not None else ("owner", owner)
        if value is None:
            return 0
        rows = self.db.execute(
            "UPDATE calls SET outcome = 'interrupted', error_class = 'Interrupted', error = ?"
            f" WHERE outcome = 'running' AND {column} = ? RETURNING id", (INTERRUPTED, value))
        return len(rows)

    def close_stale(self) -> int:
        """Close the ``running`` calls of processes of this machine that are gone (run at start-up)."""
        rows = self.db.execute("SELECT DISTINCT owner FROM calls WHERE outcome = 'running' AND owner LIKE ?",
                               (f"{HOST}:%",))
        dead = [r["owner"] for r in rows if not _alive(r["owner"])]
        return sum(self.interrupt(owner=owner) for owner in dead)

    def finish(self, call_id: int, **fields: Any) -> None:
        """Complete a call's record (tokens, timings, cost, outcome, error)."""
        unknown = set(fields) - set(CallRecord.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown ledger fields: {sorted(unknown)}")
        if "outcome" in fields and fields["outcome"] not in OUTCOMES:
            raise ValueError(f"bad outcome {fields['outcome']!r}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE calls SET {cols} WHERE id = ?", (*fields.values(), call_id))

    def calls(self, *, turn: str | None = None, thread: str | None = None,
              since: float | None = None) -> list[CallRecord]:
        """Calls filtered by turn, thread and start time, oldest first."""
        where, args = _where(turn=turn, thread=thread, since=since)
        sql = "SELECT * FROM calls" + where + " ORDER BY id"
        return [CallRecord(**row) for row in self.db.execute(sql, args)]

    def spent(self, *, thread: str | None = None, since: float | None = None) -> float:
        """USD spent, by thread and/or since a time."""
        where, args = _where(thread=thread, since=since)
        rows = self.db.execute("SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM calls" + where, args)
        return float(rows[0]["spent"])

    def recent(self, provider: str, limit: int, endpoint: str | None = None) -> list[tuple[float, str, int | None]]:
        """The latest finished calls of a provider (at ``endpoint``) as ``(ended_ts, outcome, retryable)``, newest
        first."""
        rows = self.db.execute(
            "SELECT ts + COALESCE(duration_s, 0) AS ended, outcome, retryable FROM calls"
            " WHERE provider = ? AND COALESCE(endpoint, '') = ? AND outcome NOT IN ('running', 'interrupted')"
            " ORDER BY id DESC LIMIT ?", (provider, endpoint or "", limit))
        return [(row["ended"], row["outcome"], row["retryable"]) for row in rows]

    def totals(self, *, by: str = "model", thread: str | None = None, since: float | None = None,
               threads: list[str] | None = None) -> list[dict[str, Any]]:
        """Totals grouped by ``model``, ``node``, ``thread``, ``provider`` or ``day``, costliest first (days: newest).

        ``cost_usd`` is ``None`` for a group with calls of unknown cost (``unpriced`` counts them);
        ``priced_cost_usd`` is what its priced calls cost. ``threads`` keeps only those threads' calls.
        """
        if by not in GROUPS:
            raise ValueError(f"cannot group by {by!r}; choose one of {GROUPS}")
        where, args = _where(thread=thread, since=since, threads=threads)
        key = _DAY[self.db.postgres] if by == "day" else by
        groups: dict[str, dict[str, Any]] = {}
        for row in self.db.execute(
            f"SELECT {key} AS key, COUNT(*) AS calls, SUM(prompt_tokens) AS prompt_tokens,"
            " SUM(completion_tokens) AS completion_tokens, SUM(cost_usd) AS cost_usd,"
            " SUM(CASE WHEN cost_usd IS NULL AND outcome != 'running' THEN 1 ELSE 0 END) AS unpriced,"
            " SUM(gpu_s) AS gpu_s,"
            " SUM(duration_s) AS duration_s, AVG(ttft_s) AS ttft_s, AVG(tokens_per_s) AS tokens_per_s,"
            f" MIN(ts) AS first_ts, MAX(ts) AS last_ts FROM calls{where} GROUP BY {key}", args,
        ):
            groups[row["key"]] = {by: row["key"], **{k: row[k] for k in row.keys() if k != "key"},
                                  "outcomes": {}, "errors": {}}
        for row in self.db.execute(f"SELECT {key} AS key, outcome, error_class, COUNT(*) AS n FROM calls{where}"
                                   f" GROUP BY {key}, outcome, error_class", args):
            group = groups[row["key"]]
            group["outcomes"][row["outcome"]] = group["outcomes"].get(row["outcome"], 0) + row["n"]
            if row["error_class"]:
                group["errors"][row["error_class"]] = group["errors"].get(row["error_class"], 0) + row["n"]
        for group in groups.values():
            group["outcomes"] = {o: group["outcomes"][o] for o in OUTCOMES if o in group["outcomes"]}
            # SQL's SUM skips unknown costs; a group with any is unknown (its priced part stays readable).
            group["priced_cost_usd"] = round(group["cost_usd"] or 0.0, 8)
            group["cost_usd"] = None if group["unpriced"] else group["priced_cost_usd"]
        if by == "day":
            return sorted(groups.values(), key=lambda g: str(g["day"]), reverse=True)
        return sorted(groups.values(), key=lambda g: (-g["priced_cost_usd"], -g["calls"], str(g[by])))


def _alive(owner: str) -> bool:
    """Whether the process ``host:pid`` of this machine still runs (a pid of another user's counts as running)."""
    try:
        os.kill(int(owner.rsplit(":", 1)[1]), 0)
    except (ValueError, IndexError):
        return True  # not an owner this code wrote: leave it alone
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _where(**filters: Any) -> tuple[str, list[Any]]:
    where, args = [], []
    for column in ("turn", "thread"):
        if filters.get(column) is not None:
            where.append(f"{column} = ?")
            args.append(filters[column])
    if filters.get("since") is not None:
        where.append("ts >= ?")
        args.append(filters["since"])
    if filters.get("threads") is not None:
        names = list(filters["threads"])
        where.append(f"thread IN ({', '.join('?' * len(names))})" if names else "1 = 0")
        args += names
    return (" WHERE " + " AND ".join(where) if where else ""), args


def open_ledger(settings: Settings) -> Ledger:
    """The app's ledger: ``PODIUM_HOME/ledger.sqlite``, or the shared Postgres of ``PODIUM_POSTGRES_URL``."""
    return Ledger(open_database(settings, "ledger.sqlite"))


def summarize(calls: list[CallRecord]) -> dict[str, Any]:
    """Totals of a turn's calls, as ``podium ask --json`` reports them; ``calls`` lists every attempt.

    ``cost_usd`` is ``None`` when any call's cost is unknown; ``unpriced`` names those models.
    """
    answered = [c for c in calls if c.outcome == "ok"]
    last = answered[-1] if answered else None
    # A remote model missing from the price table has no cost: the turn's total is then unknown, never a false 0.
    unpriced = sorted({c.model for c in calls if c.cost_usd is None and c.outcome != "running"})
    return {
        "prompt_tokens": sum(c.prompt_tokens or 0 for c in calls),
        "completion_tokens": sum(c.completion_tokens or 0 for c in calls),
        "ttft_s": last.ttft_s if last else None,
        "latency_s": round(sum(c.duration_s or 0 for c in calls), 4),
        "cost_usd": None if unpriced else round(sum(c.cost_usd or 0 for c in calls), 8),
        "unpriced": unpriced,
        "gpu_s": round(sum(c.gpu_s or 0 for c in calls), 4),
        "outcomes": {o: n for o in OUTCOMES if (n := sum(c.outcome == o for c in calls))},
        "finish_reason": last.finish_reason if last else None,
        "calls": [c.to_dict() for c in calls],
    }
