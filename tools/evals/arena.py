"""Arena votes: stored in ``PODIUM_HOME/evals.sqlite``, imported in Chatbot Arena's format, rated by Bradley-Terry.

A vote is ``{"model_a", "model_b", "winner"}`` with ``winner`` one of ``model_a``,
``model_b``, ``tie`` or ``tie (bothbad)``. Each vote records where it came from: a person
in the app (``human``), an imported file (``import``) or an LLM judge (``judge``, with
the judge's spec), so judge votes can be shown or left out.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.errors import PodiumError
from tools.evals.stats import bootstrap_ratings, bradley_terry

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
"""Allowed ``winner`` values (Chatbot Arena's)."""
SOURCES = ("human", "import", "judge")
"""Where a vote came from."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    winner TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'human',
    judge TEXT,
    question TEXT
);
"""


class VotesFileError(PodiumError):
    """A votes file cannot be imported; ``line`` says where (0: the file as a whole)."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        where = f"{path.name} line {line}" if line else path.name
        super().__init__(f"{where}: {problem}",
                         hint='each line must be {"model_a": ..., "model_b": ..., "winner": "model_a"|"model_b"|'
                              '"tie"|"tie (bothbad)"}; nothing was imported')
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Vote:
    """One pairwise verdict."""

    model_a: str
    """The model shown first (left)."""
    model_b: str
    """The model shown second (right)."""
    winner: str
    """``model_a``, ``model_b``, ``tie`` or ``tie (bothbad)``."""
    source: str = "human"
    """``human``, ``import`` or ``judge``."""
    judge: str | None = None
    """The judge model's spec, for judge votes."""
    question: str | None = None
    """The prompt both models answered, where known."""


def check_vote(raw: Any) -> tuple[str, str, str] | str:
    """``(model_a, model_b, winner)`` of a raw vote, or what is wrong with it."""
    if not isinstance(raw, dict):
        return "not a JSON object"
    missing = [k for k in ("model_a", "model_b", "winner") if k not in raw]
    if missing:
        return f"missing {', '.join(missing)}"
    a, b, winner = raw["model_a"], raw["model_b"], raw["winner"]
    if not isinstance(a, str) or not isinstance(b, str) or not a.strip() or not b.strip():
        return "model_a and model_b must be non-empty strings"
    if a == b:
        return f"a model cannot play itself ({a})"
    if winner not in WINNERS:
        return f"winner must be one of {', '.join(WINNERS)}, not {winner!r}"
    return a, b, winner


class Arena:
    """The votes table; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def add(self, votes: list[Vote]) -> int:
        """Store votes in one transaction (all or none); returns how many."""
        conn = self._conn()
        now = time.time()
        with _transaction(conn):
            conn.executemany("INSERT INTO votes (ts, model_a, model_b, winner, source, judge, question) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(now, v.model_a, v.model_b, v.winner, v.source, v.judge, v.question) for v in votes])
        return len(votes)

    def votes(self, sources: tuple[str, ...] = SOURCES) -> list[Vote]:
        """Stored votes from the given sources, oldest first."""
        marks = ",".join("?" * len(sources))
        rows = self._conn().execute(f"SELECT model_a, model_b, winner, source, judge, question FROM votes "
                                    f"WHERE source IN ({marks}) ORDER BY id", sources)
        return [Vote(*row) for row in rows]

    def import_file(self, path: Path) -> int:
        """Import a ``.jsonl`` (or ``.json`` list) of votes; every line is checked before anything is stored."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise VotesFileError(path, 0, f"cannot be read ({exc})") from exc
        if not text.strip():
            raise VotesFileError(path, 0, "the file is empty")
        votes = []
        for number, raw in _lines(path, text):
            checked = check_vote(raw)
            if isinstance(checked, str):
                raise VotesFileError(path, number, checked)
            votes.append(Vote(*checked, source="import"))
        return self.add(votes)

    def leaderboard(self, sources: tuple[str, ...] = SOURCES, seed: int = 0) -> list[dict[str, Any]]:
        """Bradley-Terry ratings with bootstrap 95 % intervals, best first."""
        votes = self.votes(sources)
        battles = [(v.model_a, v.model_b, v.winner) for v in votes]
        ratings, intervals = bradley_terry(battles), bootstrap_ratings(battles, seed=seed)
        table = []
        for model, rating in ratings.items():
            mine = [v for v in votes if model in (v.model_a, v.model_b)]
            wins = sum(1 for v in mine if (v.winner == "model_a" and v.model_a == model)
                       or (v.winner == "model_b" and v.model_b == model))
            lo, hi = intervals.get(model, (rating, rating))
            table.append({"model": model, "rating": round(rating, 1), "ci95": [round(lo, 1), round(hi, 1)],
                          "votes": len(mine), "wins": wins,
                          "judge_votes": sum(1 for v in mine if v.source == "judge")})
        return sorted(table, key=lambda row: -row["rating"])


def _lines(path: Path, text: str) -> list[tuple[int, Any]]:
    """(line number, parsed value) of a JSON Lines file, or the items of a JSON list (numbered from 1)."""
    if path.suffix == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise VotesFileError(path, getattr(exc, "lineno", 0), f"not valid JSON ({exc.args[0]})") from exc
        if not isinstance(data, list):
            raise VotesFileError(path, 0, "a .json votes file must hold a list of votes")
        return list(enumerate(data, start=1))
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except ValueError as exc:
            raise VotesFileError(path, number, f"not valid JSON ({exc.args[0]})") from exc
    return out


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error (nothing half-written)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.conn.execute("ROLLBACK" if kind else "COMMIT")


def open_arena(home: Path) -> Arena:
    """The votes of a data dir."""
    return Arena(home / "evals.sqlite")
