"""BM25 over a collection's chunks, cached on disk per collection version and rebuilt incrementally.

Chroma's embedded client has no BM25, so Podium keeps its own: bm25s's tokenizer
(English stop words) with Snowball stemming, and a term-major sparse matrix of
Lucene BM25 weights (the scoring bm25s calls ``lucene``) built with numpy. The
matrix keeps raw term frequencies too, so after an ingest only the new chunks are
tokenized: the postings of chunks that are still there are reused (a chunk id
names its content) and only the weights are recomputed, in one vectorized pass.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

K1, B = 1.5, 0.75
"""BM25's term-frequency saturation and length normalization (the usual defaults, as in bm25s)."""


@lru_cache(maxsize=1)
def _stem() -> Callable[[list[str]], list[str]]:
    import snowballstemmer

    return snowballstemmer.stemmer("english").stemWords


def _tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased words without English stop words, Snowball-stemmed ("dogs" finds "dog")."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stem(), return_ids=False, show_progress=False)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """The words BM25 indexes for each text: lower-cased, stop words dropped, Snowball-stemmed."""
    return _tokenize(texts)


@dataclass
class LexicalIndex:
    """BM25 over chunk ids, with each chunk's source for glob filters."""

    version: str
    ids: list[str]
    sources: list[str]
    terms: list[str] = field(default_factory=list)
    """The vocabulary; a term's position is its column."""
    indptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    """Postings of term ``t`` are ``[indptr[t], indptr[t + 1])`` in the arrays below."""
    docs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    tf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __post_init__(self) -> None:
        self.vocab = {t: i for i, t in enumerate(self.terms)}

    @classmethod
    def build(cls, version: str, ids: list[str], sources: list[str], texts: Sequence[str]) -> LexicalIndex:
        """Index ``texts`` (one per chunk id) from scratch."""
        return cls(version, [], []).updated(version, ids, sources, dict(zip(ids, texts, strict=True)))

    def updated(self, version: str, ids: list[str], sources: list[str], texts: dict[str, str]) -> LexicalIndex:
        """The index of the chunks ``ids`` now: postings reused for ids indexed here, ``texts`` for the rest."""
        where = {chunk: i for i, chunk in enumerate(self.ids)}
        old_to_new = np.full(len(self.ids), -1, np.int64)
        for new, chunk in enumerate(ids):
            if chunk in where:
                old_to_new[where[chunk]] = new
        term_of = np.repeat(np.arange(len(self.terms)), np.diff(self.indptr))
        kept = old_to_new[self.docs] >= 0 if len(self.docs) else np.zeros(0, bool)
        terms, vocab = list(self.terms), dict(self.vocab)
        fresh = [new for new, chunk in enumerate(ids) if chunk not in where]
        new_docs, new_terms = [], []
        for new, tokens in zip(fresh, _tokenize([texts[ids[n]] for n in fresh]), strict=True):
            new_terms += [vocab.setdefault(t, len(vocab)) for t in tokens]
            new_docs += [new] * len(tokens)
        terms += list(vocab)[len(terms):]
        # Count the new chunks' (term, doc) pairs once, and carry the kept postings' counts over.
        pairs = np.asarray(new_terms, np.int64) * max(len(ids), 1) + np.asarray(new_docs, np.int64)
        pairs, counts = np.unique(pairs, return_counts=True)
        all_terms = np.concatenate([term_of[kept], pairs // max(len(ids), 1)])
        all_docs = np.concatenate([old_to_new[self.docs[kept]], pairs % max(len(ids), 1)])
        all_tf = np.concatenate([self.tf[kept], counts]).astype(np.int32)
        order = np.argsort(all_terms, kind="stable")  # term-major; two sorted runs, so a merge
        return LexicalIndex._weighted(version, ids, sources, terms, all_terms[order], all_docs[order], all_tf[order])

    @classmethod
    def _weighted(cls, version: str, ids: list[str], sources: list[str], terms: list[str], term: np.ndarray,
                  doc: np.ndarray, tf: np.ndarray) -> LexicalIndex:
        """Lucene BM25: ``idf * tf / (tf + k1 * (1 - b + b * len / avg_len))``, idf = ``ln(1 + (N-df+.5)/(df+.5))``."""
        n = len(ids)
        df = np.bincount(term, minlength=len(terms)).astype(np.float64)
        length = np.bincount(doc, weights=tf, minlength=n)
        avg = length.mean() if n and length.sum() else 1.0
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        weights = idf[term] * tf / (tf + K1 * (1 - B + B * length[doc] / avg))
        indptr = np.concatenate([[0], np.cumsum(df.astype(np.int64))])
        return cls(version, list(ids), list(sources), terms, indptr, doc.astype(np.int32), tf,
                   weights.astype(np.float32))

    def search(self, query: str, n: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Top ``n`` ``(id, score)`` with a positive score, among sources in ``allowed`` when given.

        Scores are summed over the query terms' posting lists only, so a query costs what its
        terms occur in, not a pass over every chunk of the collection.
        """
        terms = sorted({self.vocab[t] for t in _tokenize([query])[0] if t in self.vocab})
        if not terms or n <= 0:
            return []
        spans = [slice(self.indptr[t], self.indptr[t + 1]) for t in terms]
        found, slot = np.unique(np.concatenate([self.docs[s] for s in spans]), return_inverse=True)
        scores = np.bincount(slot, weights=np.concatenate([self.weights[s] for s in spans]))
        if allowed is not None:
            keep = np.fromiter((self.sources[d] in allowed for d in found), dtype=bool, count=len(found))
            found, scores = found[keep], scores[keep]
        top = np.argsort(-scores, kind="stable")[:n]
        return [(self.ids[int(found[i])], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, folder: Path) -> None:
        """Write the index atomically (a new folder renamed into place)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}")
        staging.mkdir()
        np.savez(staging / "postings.npz", indptr=self.indptr, docs=self.docs, tf=self.tf, weights=self.weights)
        meta = {"version": self.version, "ids": self.ids, "sources": self.sources, "terms": self.terms}
        (staging / "chunks.json").write_text(json.dumps(meta))
        old = folder.with_name(f".{folder.name}.old.{uuid.uuid4().hex[:8]}")
        if folder.exists():
            folder.rename(old)
        staging.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path, version: str | None = None) -> LexicalIndex | None:
        """The saved index if it is of ``version`` (any version when ``None``), else ``None``."""
        try:
            meta = json.loads((folder / "chunks.json").read_text())
            if version is not None and meta["version"] != version:
                return None
            with np.load(folder / "postings.npz") as arrays:
                return cls(meta["version"], meta["ids"], meta["sources"], meta["terms"], arrays["indptr"],
                           arrays["docs"], arrays["tf"], arrays["weights"])
        except (OSError, ValueError, KeyError):
            return None  # missing or half-written: the caller rebuilds it


def rrf(rankings: list[list[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: ``sum 1/(k + rank)`` over the rankings, best first.

    ``k=60`` is the constant of Cormack et al. (2009); it damps the top ranks so one
    retriever's confident first hit cannot outvote agreement between both.
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
