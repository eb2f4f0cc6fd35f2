"""Per-item results, cached by model file hash + benchmark + item + prompt, so an interrupted run resumes.

Each scored item is committed as soon as it is done; running the same command again
skips every item already in the cache (the prompt's hash is part of the key, so a change
of shots, template or model file never reuses a stale answer).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    item TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT NOT NULL
);
"""


class ItemCache:
    """Scored items of every run, in ``PODIUM_HOME/evals.sqlite``."""

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

    def file_hash(self, path: Path) -> str:
        """SHA-256 of a model file, computed once per (path, size, mtime)."""
        stat = path.stat()
        conn = self._conn()
        row = conn.execute("SELECT size, mtime, sha256 FROM file_hashes WHERE path = ?", (str(path),)).fetchone()
        if row and row[0] == stat.st_size and row[1] == stat.st_mtime:
            return row[2]
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        conn.execute("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)",
                     (str(path), stat.st_size, stat.st_mtime, digest.hexdigest()))
        return digest.hexdigest()

    @staticmethod
    def key(model_id: str, benchmark: str, mode: str, item: str, prompt: str) -> str:
        """The cache key of one item's outcome."""
        text = json.dumps([model_id, benchmark, mode, item, hashlib.sha256(prompt.encode()).hexdigest()])
        return hashlib.sha256(text.encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Cached outcomes among ``keys``."""
        out: dict[str, dict[str, Any]] = {}
        conn = self._conn()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, outcome in conn.execute(f"SELECT key, outcome FROM items WHERE key IN ({marks})", chunk):
                out[key] = json.loads(outcome)
        return out

    def put(self, key: str, model: str, benchmark: str, item: str, outcome: dict[str, Any]) -> None:
        """Store one item's outcome (committed at once: an interruption loses at most the item in flight)."""
        self._conn().execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?)",
                             (key, model, benchmark, item, json.dumps(outcome), time.time()))
