"""Thread listings from a small index beside the checkpoints, so listing threads never reads their states.

Each thread's row (title, message and turn counts, last update) is written when a turn ends
and carries the id of the checkpoint it describes. A listing compares those ids with the
newest checkpoint of every thread (one indexed SQL query) and re-describes only threads that
moved on without the index (a fork, an old database), so ``podium threads`` needs neither
LangGraph nor a deserialized state when nothing changed (:func:`graph.checkpoint.list_threads`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podium.db import Database, open_database

TABLE = "podium_threads"
_DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (thread_id TEXT PRIMARY KEY, checkpoint_id TEXT NOT NULL, "
        "title TEXT NOT NULL, messages INTEGER NOT NULL, turns INTEGER NOT NULL, updated TEXT NOT NULL)")


@dataclass
class ThreadInfo:
    """One conversation thread as listings show it."""

    thread_id: str
    title: str
    messages: int
    """Every message, tool calls and results included."""
    updated: str
    turns: int = 0
    """Messages the user sent."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def describe(thread_id: str, messages: list[Any], updated: str) -> ThreadInfo:
    """A thread's listing from its messages: titled by the first thing the user said."""
    first = next((m for m in messages if getattr(m, "type", "") == "human"), None)
    title = str(first.content).replace("\n", " ")[:60] if first else "(empty)"
    turns = sum(getattr(m, "type", "") == "human" for m in messages)
    return ThreadInfo(thread_id, title, len(messages), updated, turns)


def history_rows(messages: list[Any]) -> list[dict[str, Any]]:
    """A thread's messages as ``{role, content}`` dicts; tool calls with their names and arguments."""
    roles = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
    out = []
    for m in messages:
        item = {"role": roles.get(m.type, m.type), "content": m.text if isinstance(m.text, str) else str(m.content)}
        if getattr(m, "tool_calls", None):  # a message that only calls tools: which, with what
            item["tool_calls"] = [{"name": c["name"], "args": c["args"]} for c in m.tool_calls]
        if m.type == "tool":
            item["name"] = getattr(m, "name", None) or ""
        out.append(item)
    return out


Describer = Callable[[str, str], "ThreadInfo | None"]
"""``(thread_id, checkpoint_id) -> ThreadInfo`` read from the checkpointer (``None``: gone meanwhile)."""


class ThreadIndex:
    """The ``podium_threads`` table in the checkpoint database (SQLite file or Postgres)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._ready = False

    @classmethod
    def open(cls, settings: Any) -> ThreadIndex:
        """The index of the configured checkpoint store."""
        return cls(open_database(settings, "checkpoints.sqlite"))

    def _setup(self) -> None:
        if not self._ready:
            self.db.script(_DDL)
            self._ready = True

    def save(self, info: ThreadInfo, checkpoint_id: str) -> None:
        """Record a thread's listing as of ``checkpoint_id`` (its newest checkpoint)."""
        self._setup()
        self.db.execute(f"INSERT INTO {TABLE} (thread_id, checkpoint_id, title, messages, turns, updated) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET "
                        "checkpoint_id = excluded.checkpoint_id, title = excluded.title, "
                        "messages = excluded.messages, turns = excluded.turns, updated = excluded.updated",
                        (info.thread_id, checkpoint_id, info.title, info.messages, info.turns, info.updated))

    def forget(self, thread_id: str) -> None:
        """Drop a deleted thread's row."""
        self._setup()
        self.db.execute(f"DELETE FROM {TABLE} WHERE thread_id = ?", (thread_id,))

    def newest(self) -> dict[str, str]:
        """Every thread's newest checkpoint id, read from the checkpoint table (``{}`` before the first turn)."""
        if not self.db.columns("checkpoints"):
            return {}
        rows = self.db.execute("SELECT thread_id, MAX(checkpoint_id) AS newest FROM checkpoints "
                               "WHERE checkpoint_ns = '' GROUP BY thread_id")
        return {row["thread_id"]: row["newest"] for row in rows}

    def list(self, describer: Describer) -> list[ThreadInfo]:
        """Every thread, most recently updated first; stale or missing rows are described again and saved."""
        self._setup()
        newest = self.newest()
        rows = {r["thread_id"]: r for r in self.db.execute(f"SELECT * FROM {TABLE}")}
        out = []
        for thread_id, checkpoint_id in newest.items():
            row = rows.get(thread_id)
            if row is not None and row["checkpoint_id"] == checkpoint_id:
                out.append(ThreadInfo(thread_id, row["title"], row["messages"], row["updated"], row["turns"]))
                continue
            info = describer(thread_id, checkpoint_id)
            if info is not None:
                self.save(info, checkpoint_id)
                out.append(info)
        for thread_id in set(rows) - set(newest):
            self.forget(thread_id)
        return sorted(out, key=lambda t: t.updated, reverse=True)

