"""Duplicate removal: exact (normalized text) and near (embedding cosine above a threshold).

A row's *text* is what makes it what it is: its free-text values (labels such as enums
and numbers alone do not make two tickets different), or the whole row when it has none.
Exact duplicates compare that text lower-cased with whitespace collapsed; near duplicates
compare its MiniLM embedding with every kept row's (a matrix product; 10k rows x 384
floats is 15 MB).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.92
"""Cosine similarity from which two rows count as near duplicates (``--dedup``)."""


def row_text(row: dict[str, Any], schema: dict[str, Any] | None = None) -> str:
    """The text that identifies a row: free-text values in field order (chat: every message)."""
    if "messages" in row and isinstance(row["messages"], list):
        return "\n".join(str(m.get("content", "")) for m in row["messages"] if isinstance(m, dict))
    props = (schema or {}).get("properties", {})
    parts = []
    for key, value in row.items():
        if key == "_meta" or (props and key not in props) or "enum" in props.get(key, {}):
            continue
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            parts.append("; ".join(value))
    if parts:
        return "\n".join(parts)
    return json.dumps({k: v for k, v in row.items() if k != "_meta"}, sort_keys=True, ensure_ascii=False)


def _key(text: str) -> str:
    normal = re.sub(r"\s+", " ", text.strip().lower())
    return hashlib.sha1(normal.encode("utf-8")).hexdigest()


class Deduper:
    """Remembers kept rows and says whether a new one repeats one of them."""

    def __init__(self, embed: Any = None, threshold: float | None = DEFAULT_THRESHOLD) -> None:
        """``embed`` maps texts to normalized vectors; ``threshold`` None (or no ``embed``): exact only."""
        self.embed = embed if threshold is not None else None
        self.threshold = threshold
        self._keys: set[str] = set()
        self._vectors: np.ndarray | None = None
        self._count = 0

    def seed(self, texts: Sequence[str]) -> None:
        """Remember rows kept before (a resumed run), in one batch."""
        for text in texts:
            self._keys.add(_key(text))
        if self.embed is not None and texts:
            self._add(np.asarray(self.embed(list(texts)), dtype=np.float32))

    def check(self, text: str) -> tuple[str | None, np.ndarray | None]:
        """``("exact" | "near", None)`` when ``text`` repeats a kept row, else ``(None, its vector)``."""
        if _key(text) in self._keys:
            return "exact", None
        if self.embed is None or self.threshold is None:  # no embed whenever there is no threshold
            return None, None
        vector = np.asarray(self.embed([text]), dtype=np.float32)[0]
        kept = self._vectors[:self._count] if self._vectors is not None else None
        if kept is not None and self._count and float(np.max(kept @ vector)) >= self.threshold:
            return "near", None
        return None, vector

    def keep(self, text: str, vector: np.ndarray | None) -> None:
        """Remember a row that was kept (``vector`` from :meth:`check`)."""
        self._keys.add(_key(text))
        if vector is not None:
            self._add(vector[None, :])

    def _add(self, rows: np.ndarray) -> None:
        if self._vectors is None:
            self._vectors = np.empty((max(256, len(rows)), rows.shape[1]), dtype=np.float32)
        needed = self._count + len(rows)
        if needed > len(self._vectors):  # grow by doubling: appends stay amortized O(1)
            grown = np.empty((max(needed, 2 * len(self._vectors)), rows.shape[1]), dtype=np.float32)
            grown[:self._count] = self._vectors[:self._count]
            self._vectors = grown
        self._vectors[self._count:needed] = rows
        self._count = needed

    @property
    def vectors(self) -> np.ndarray:
        """The kept rows' vectors (empty when near-duplicate removal is off)."""
        return self._vectors[:self._count] if self._vectors is not None else np.zeros((0, 1), np.float32)
