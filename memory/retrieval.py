"""Search a collection: dense (Chroma), lexical (BM25) or both fused by reciprocal rank.

Every hit carries its cosine ``similarity`` to the query, whichever retriever found
it, so callers can tell "nothing relevant" apart from "the best of a bad lot".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal, Protocol

import numpy as np

from memory.embeddings import Embedder
from memory.lexical import LexicalIndex, rrf
from podium.errors import ConfigError


class Searchable(Protocol):
    """What a search needs from a knowledge base (:class:`memory.store.KnowledgeBase` is one)."""

    @property
    def embedder(self) -> Embedder:
        """The embedding model the collections were built with."""

    def collection(self, name: str) -> Any:
        """The Chroma collection called ``name``."""

    def lexical(self, name: str, col: Any) -> LexicalIndex:
        """The BM25 index of a collection."""


Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[str, ...] = ("dense", "bm25", "hybrid")


@dataclass
class Hit:
    """One retrieved chunk."""

    id: str
    source: str
    heading: str
    text: str
    score: float
    """The ranking score of the search mode: cosine (dense), BM25, or fused RRF (hybrid)."""
    similarity: float
    """Cosine similarity between the query and the chunk, for every mode."""
    page: int | None = None
    chunk: int = 0
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    """The chunk's stored embedding (for citation attribution); not part of :meth:`to_dict`."""

    @classmethod
    def from_row(cls, id_: str, text: str, meta: dict[str, Any], score: float, similarity: float,
                 vector: Any = None) -> Hit:
        """A hit from a Chroma row."""
        return cls(id=id_, source=meta.get("source", ""), heading=meta.get("heading", ""), text=text,
                   score=round(float(score), 6), similarity=round(float(similarity), 4), page=meta.get("page"),
                   chunk=int(meta.get("chunk", 0)), vector=None if vector is None else np.asarray(vector, np.float32))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the vector)."""
        return {k: v for k, v in asdict(self).items() if k != "vector"}


def _where(allowed: set[str] | None) -> dict[str, Any] | None:
    if allowed is None:
        return None
    return {"source": {"$in": sorted(allowed)}}


def _dense(col: Any, query: np.ndarray, n: int, allowed: set[str] | None) -> list[Hit]:
    res = col.query(query_embeddings=[query], n_results=n, where=_where(allowed),
                    include=["documents", "metadatas", "distances", "embeddings"])
    rows = zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], res["embeddings"][0],
               strict=True)
    # Collections use cosine space: distance = 1 - cosine similarity.
    return [Hit.from_row(i, d, m or {}, 1 - dist, 1 - dist, v) for i, d, m, dist, v in rows]


def _fetch(col: Any, ids: list[str], query: np.ndarray) -> dict[str, Hit]:
    """Rows found only by BM25, with their cosine similarity computed from the stored vectors."""
    if not ids:
        return {}
    res = col.get(ids=ids, include=["documents", "metadatas", "embeddings"])
    vectors = np.asarray(res["embeddings"], dtype=np.float32)
    sims = vectors @ query if len(vectors) else []
    return {i: Hit.from_row(i, d, m or {}, 0.0, s, v)
            for i, d, m, s, v in zip(res["ids"], res["documents"], res["metadatas"], sims, vectors, strict=True)}


def search(kb: Searchable, query: str, collection: str, k: int = 5, mode: str = "hybrid",
           source: str | None = None) -> list[Hit]:
    """The top ``k`` chunks of ``collection`` for ``query``, optionally only from sources matching a glob."""
    if mode not in MODES:
        raise ConfigError(f"unknown search mode {mode!r}", setting="mode", hint=f"use one of {', '.join(MODES)}")
    if k < 1:
        raise ConfigError(f"k must be at least 1, not {k}", setting="k")
    col = kb.collection(collection)
    lexical = kb.lexical(collection, col)
    allowed = None
    if source:
        allowed = {s for s in set(lexical.sources) if fnmatchcase(s, source)}
        if not allowed:
            return []
    total = len(lexical.ids)
    if not query.strip() or total == 0:
        return []
    vector = kb.embedder.embed_query(query)
    if mode == "dense":
        return _dense(col, vector, min(k, total), allowed)
    # Fusing needs more candidates than it returns: agreement lower down still counts.
    pool = min(max(4 * k, 20), total)
    lex = lexical.search(query, pool, allowed)
    if mode == "bm25":
        found = _fetch(col, [i for i, _ in lex[:k]], vector)
        return [_rescored(found[i], s) for i, s in lex[:k] if i in found]
    dense = _dense(col, vector, pool, allowed)
    fused = rrf([[h.id for h in dense], [i for i, _ in lex]])[:k]
    known = {h.id: h for h in dense}
    known.update(_fetch(col, [i for i, _ in fused if i not in known], vector))
    return [_rescored(known[i], s) for i, s in fused if i in known]


def _rescored(hit: Hit, score: float) -> Hit:
    hit.score = round(float(score), 6)
    return hit
