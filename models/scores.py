"""Measured quality and speed of models: benchmark results and speed runs, one SQLite file.

``podium eval run`` and ``podium eval speed`` write here (``PODIUM_HOME/evals.sqlite``);
model cards, the leaderboard and the ``best-for`` routing policy read it. It lives in
``models/`` beside the ledger because routing reads it: the evaluation engine in
``tools/evals`` only writes through it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    metric TEXT NOT NULL,
    score REAL NOT NULL,
    ci_lo REAL, ci_hi REAL,
    n INTEGER NOT NULL,
    total INTEGER,
    shots INTEGER, seed INTEGER,
    mode TEXT,
    seconds REAL, items_per_s REAL, tokens INTEGER, cost_usd REAL,
    random_baseline REAL DEFAULT 0,
    extra TEXT DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS results_model ON results(model, benchmark);
CREATE TABLE IF NOT EXISTS speed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    runs INTEGER NOT NULL,
    tokens_per_s REAL, ttft_s REAL, p50_s REAL, p95_s REAL,
    prompt_tokens INTEGER, completion_tokens INTEGER,
    rate_limits TEXT DEFAULT '{}'
);
"""


@dataclass
class Result:
    """One benchmark run's summary."""

    model: str
    """Spec of the model scored."""
    benchmark: str
    """Benchmark name (``arc_easy``...)."""
    metric: str
    """What ``score`` measures: ``acc_norm``, ``exact_match (flexible)``, ``pass@1``..."""
    score: float
    """Percent, 0 to 100."""
    ci95: tuple[float, float]
    """95 % bootstrap interval of ``score``, in percent."""
    n: int
    """Items scored."""
    total: int = 0
    """Items in the benchmark (``n < total`` for a ``--limit`` sample)."""
    shots: int = 0
    """Few-shot examples in each prompt."""
    seed: int = 0
    """Seed of the ``--limit`` sample and the bootstrap."""
    mode: str = "loglik"
    """``loglik`` (scored by log-likelihood), ``generative``, or ``generative-mc`` (letter answers)."""
    seconds: float = 0.0
    """Wall-clock time of the run (cached items cost nothing)."""
    items_per_s: float = 0.0
    """Items scored per second."""
    tokens: int = 0
    """Tokens the model read and wrote."""
    cost_usd: float | None = 0.0
    """Dollars spent (``None`` for a remote model without a price)."""
    random_baseline: float = 0.0
    """The score of random guessing, in percent (the leaderboard's normalisation)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Other metrics (``acc`` beside ``acc_norm``, strict beside flexible...) and notes."""
    ts: float = field(default_factory=time.time)
    """When it ended (epoch seconds)."""

    def to_json(self) -> dict[str, Any]:
        """The ``podium eval run --json`` object."""
        return {"benchmark": self.benchmark, "model": self.model, "metric": self.metric,
                "score": round(self.score, 2), "n": self.n, "ci95": [round(self.ci95[0], 2), round(self.ci95[1], 2)],
                "seconds": round(self.seconds, 2), "items_per_s": round(self.items_per_s, 3), "tokens": self.tokens,
                "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6), "total": self.total,
                "shots": self.shots, "seed": self.seed, "mode": self.mode, **self.extra}

    @property
    def normalized(self) -> float:
        """The Open LLM Leaderboard's rescaling: random guessing 0, perfect 100 (never below 0)."""
        if self.random_baseline >= 100:
            return 0.0
        return max(0.0, (self.score - self.random_baseline) / (100 - self.random_baseline) * 100)


@dataclass
class Speed:
    """One ``podium eval speed`` measurement."""

    model: str
    """Spec of the model timed."""
    runs: int
    """Requests timed."""
    tokens_per_s: float | None
    """Median generation speed after the first token."""
    ttft_s: float | None
    """Median time to first token."""
    p50_s: float | None
    """Median end-to-end latency of one request."""
    p95_s: float | None
    """95th percentile latency."""
    prompt_tokens: int = 0
    """Prompt tokens of one request."""
    completion_tokens: int = 0
    """Tokens generated over all runs."""
    rate_limits: dict[str, str] = field(default_factory=dict)
    """Rate-limit headers the provider sent (``x-ratelimit-*``), last seen."""
    ts: float = field(default_factory=time.time)
    """When it ended."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class Scores:
    """The results file; safe to share between threads and processes (WAL, one connection per thread)."""

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
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def add(self, result: Result) -> None:
        """Record one benchmark run."""
        self._conn().execute(
            "INSERT INTO results (ts, model, benchmark, metric, score, ci_lo, ci_hi, n, total, shots, seed, mode, "
            "seconds, items_per_s, tokens, cost_usd, random_baseline, extra) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (result.ts, result.model, result.benchmark, result.metric, result.score, result.ci95[0], result.ci95[1],
             result.n, result.total, result.shots, result.seed, result.mode, result.seconds, result.items_per_s,
             result.tokens, result.cost_usd, result.random_baseline, json.dumps(result.extra)))

    def results(self, model: str | None = None, benchmark: str | None = None) -> list[Result]:
        """Every recorded run, oldest first, optionally for one model and/or benchmark."""
        where, args = [], []
        for column, value in (("model", model), ("benchmark", benchmark)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY ts, id"
        return [_result(row) for row in self._conn().execute(sql, args)]

    def best(self) -> dict[tuple[str, str], Result]:
        """The run that stands for each (model, benchmark): the largest sample, the latest among equals."""
        chosen: dict[tuple[str, str], Result] = {}
        for result in self.results():
            key = (result.model, result.benchmark)
            if key not in chosen or result.n >= chosen[key].n:
                chosen[key] = result
        return chosen

    def add_speed(self, speed: Speed) -> None:
        """Record one speed measurement."""
        self._conn().execute(
            "INSERT INTO speed (ts, model, runs, tokens_per_s, ttft_s, p50_s, p95_s, prompt_tokens, "
            "completion_tokens, rate_limits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (speed.ts, speed.model, speed.runs, speed.tokens_per_s, speed.ttft_s, speed.p50_s, speed.p95_s,
             speed.prompt_tokens, speed.completion_tokens, json.dumps(speed.rate_limits)))

    def speed(self, model: str) -> Speed | None:
        """The latest speed measurement of a model, or ``None``."""
        row = self._conn().execute("SELECT * FROM speed WHERE model = ? ORDER BY ts DESC, id DESC LIMIT 1",
                                   (model,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data.pop("id")
        data["rate_limits"] = json.loads(data["rate_limits"] or "{}")
        return Speed(**data)

    def speeds(self) -> dict[str, Speed]:
        """The latest speed measurement of every model."""
        models = [r[0] for r in self._conn().execute("SELECT DISTINCT model FROM speed")]
        return {m: s for m in models if (s := self.speed(m)) is not None}


def _result(row: sqlite3.Row) -> Result:
    data = dict(row)
    return Result(model=data["model"], benchmark=data["benchmark"], metric=data["metric"], score=data["score"],
                  ci95=(data["ci_lo"], data["ci_hi"]), n=data["n"], total=data["total"] or 0,
                  shots=data["shots"] or 0, seed=data["seed"] or 0, mode=data["mode"] or "",
                  seconds=data["seconds"] or 0.0, items_per_s=data["items_per_s"] or 0.0, tokens=data["tokens"] or 0,
                  cost_usd=data["cost_usd"], random_baseline=data["random_baseline"] or 0.0,
                  extra=json.loads(data["extra"] or "{}"), ts=data["ts"])


def open_scores(home: Path) -> Scores:
    """The results file under a data dir."""
    return Scores(home / "evals.sqlite")
