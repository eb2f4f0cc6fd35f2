"""Routing by meaning: a message goes to the specialist whose routing examples it is nearest to.

Each specialist lists a few dozen example requests. They are embedded once with the
knowledge base's MiniLM (cached on disk, keyed by a hash of the model and the examples,
so a changed example re-embeds and a new specialist is picked up), and a message is
scored against them: a specialist's score is the mean of its ``k`` nearest examples.
The best one wins only when it clears a similarity threshold and beats the runner-up by
a margin; otherwise the guess is "unsure" and the caller decides (chat, or a capable
router model). Nothing here loads before the first guess.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

THRESHOLD = 0.25
"""Least similarity (mean of the ``K`` nearest examples) for a confident guess. MiniLM puts short requests of
one kind near 0.3-0.5 and unrelated ones near 0.1-0.25."""
MARGIN = 0.02
"""Least lead of the best specialist over the runner-up for a confident guess (less is a tie)."""
STRONG = 0.45
"""A guess at least this sure (and ``2 * MARGIN`` ahead) overrides a weak rule: the message is clearly like another
specialist's examples even though it names documents ('a training dataset from my notes')."""
K = 3
"""Nearest examples averaged per specialist (one odd example does not decide alone)."""
WORDS_MARGIN = 0.03
"""Least lead of the best specialist for the word vectors' first look to decide alone (otherwise the whole model
runs). Measured leaving the examples out one at a time: the 100 of 269 that the word vectors lead by this much
towards chat, tools or knowledge are all routed right (at 0.025: 109, 97% right; at 0.02: 121, 95%)."""
WORDS_THRESHOLD = 0.40
"""Least word-vector score (mean of the ``K`` nearest examples) for the first look to decide alone. Averaged word
pieces sit closer to each other than MiniLM's sentence vectors, so this is not comparable to :data:`THRESHOLD`."""


@dataclass(frozen=True)
class Guess:
    """What the router thinks of one message."""

    best: str
    """The nearest specialist."""
    score: float
    """Its score: mean cosine similarity of its nearest examples."""
    runner_up: str
    """The next nearest specialist ('' when there is only one)."""
    margin: float
    """``score`` minus the runner-up's score."""
    nearest: str
    """The single closest example (for the reason shown to users)."""
    confident: bool
    """Whether ``score`` clears the threshold and ``margin`` the margin."""
    strong: bool = False
    """Whether it is sure enough to override a weak rule (:data:`STRONG`)."""
    words: bool = False
    """Whether the word vectors decided it (a first look, :mod:`memory.word_vectors`) rather than the whole model."""

    def reason(self) -> str:
        """One line for ``route_reason``: the scores and the example that decided."""
        against = f", {self.margin:.2f} ahead of {self.runner_up}" if self.runner_up else ""
        how = "word vectors " if self.words else ""
        return f"meaning: {how}{self.score:.2f} like {self.best}'s examples{against} (nearest: {self.nearest!r})"


def examples_key(embedder: str, examples: Mapping[str, Sequence[str]]) -> str:
    """A hash of the embedding model and every example: the cache file's name."""
    blob = json.dumps([embedder, sorted((k, list(v)) for k, v in examples.items())], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


_MATRICES: dict[str, np.ndarray] = {}
"""Example embeddings by key, shared by every router of the process."""
_LOCK = threading.Lock()


class SemanticRouter:
    """Nearest-examples routing over one embedder; cheap to build, loads on the first guess."""

    def __init__(self, embedder: Any, examples: Mapping[str, Sequence[str]], cache_dir: Path | None = None, *,
                 threshold: float = THRESHOLD, margin: float = MARGIN, k: int = K) -> None:
        self.embedder = embedder
        self.examples = {name: list(texts) for name, texts in examples.items() if texts}
        self.cache_dir = cache_dir
        self.threshold, self.margin, self.k = threshold, margin, k
        self.key = examples_key(getattr(embedder, "name", type(embedder).__name__), self.examples)
        self._texts = [text for texts in self.examples.values() for text in texts]
        self._names = list(self.examples)
        width = max((len(texts) for texts in self.examples.values()), default=0)
        self._grid = np.zeros((len(self._names), width), dtype=np.intp)
        """Row ``i``: the matrix rows of specialist ``i``'s examples, padded (see ``_pad``): one gather per message."""
        self._pad = np.ones((len(self._names), width), dtype=bool)
        start = 0
        for row, texts in enumerate(self.examples.values()):
            self._grid[row, :len(texts)] = np.arange(start, start + len(texts))
            self._pad[row, :len(texts)] = False
            start += len(texts)
        self._counts = np.minimum((~self._pad).sum(axis=1), self.k)
        self._words: np.ndarray | None = None

    def matrix(self) -> np.ndarray:
        """The examples' vectors, one row each: from memory, the disk cache, or embedded now (then saved)."""
        with _LOCK:
            if self.key in _MATRICES:
                return _MATRICES[self.key]
            path = self.cache_dir / f"routing-{self.key}.npy" if self.cache_dir else None
            vectors = _load(path, len(self._texts))
            if vectors is None:
                vectors = np.asarray(self.embedder.embed(self._texts), dtype=np.float32)
                _save(path, vectors)
            _MATRICES[self.key] = vectors
            return vectors

    def word_matrix(self) -> np.ndarray | None:
        """The examples' word vectors (:meth:`memory.quantized.QuickMiniLM.word_vector`), or ``None`` when the
        embedder has none (then every guess runs the whole model)."""
        if self._words is None:
            vector = getattr(self.embedder, "word_vector", None)
            rows = [vector(text) for text in self._texts] if vector is not None else []
            self._words = (np.stack([r if r is not None else np.zeros(384, np.float32) for r in rows])
                           if rows and any(r is not None for r in rows) else np.zeros((0, 0), np.float32))
        return self._words if self._words.size else None

    def scores(self, text: str, among: Iterable[str] | None = None) -> dict[str, tuple[float, str]]:
        """``{specialist: (score, nearest example)}`` for the specialists in ``among`` (default: all)."""
        if not text.strip():
            return {}
        return self._rank(self.matrix() @ self.embedder.embed_query(text), among)

    def _rank(self, similarities: np.ndarray, among: Iterable[str] | None) -> dict[str, tuple[float, str]]:
        """Each specialist's mean of its ``k`` most similar examples, and its most similar one."""
        wanted = set(self.examples if among is None else among)
        grid = np.where(self._pad, -np.inf, similarities[self._grid])
        top = -np.sort(-grid, axis=1)[:, : self.k]
        means = np.where(np.isfinite(top), top, 0.0).sum(axis=1) / np.maximum(self._counts, 1)
        nearest = self._grid[np.arange(len(self._names)), grid.argmax(axis=1)]
        return {name: (float(means[i]), self._texts[nearest[i]]) for i, name in enumerate(self._names)
                if name in wanted}

    def guess(self, text: str, among: Iterable[str] | None = None, quick: Collection[str] = ()) -> Guess | None:
        """The nearest specialist among ``among`` and how sure that is; ``None`` when there is nothing to score.

        When the word vectors (a cheap first look) lead clearly to one of the specialists in ``quick``, that
        is the guess; otherwise the whole model decides.
        """
        names = [n for n in (among if among is not None else self.examples) if n in self.examples]
        if not names or not text.strip():
            return None
        if quick:
            first = self._quick(text, names, quick)
            if first is not None:
                return first
        return self._decide(self.scores(text, names), words=False)

    def _quick(self, text: str, names: list[str], quick: Collection[str]) -> Guess | None:
        """The word vectors' guess when it clears :data:`WORDS_THRESHOLD` and :data:`WORDS_MARGIN`, else ``None``."""
        words = self.word_matrix()
        vector = self.embedder.word_vector(text) if words is not None else None
        if words is None or vector is None:
            return None
        guess = self._decide(self._rank(words @ vector, names), words=True)
        sure = guess.score >= WORDS_THRESHOLD and guess.margin >= WORDS_MARGIN and guess.best in quick
        return guess if sure else None

    def _decide(self, scores: dict[str, tuple[float, str]], *, words: bool) -> Guess:
        scored = sorted(scores.items(), key=lambda item: item[1][0], reverse=True)
        (best, (score, nearest)), rest = scored[0], scored[1:]
        runner_up, second = (rest[0][0], rest[0][1][0]) if rest else ("", -1.0)
        margin = score - second
        if words:
            return Guess(best=best, score=score, runner_up=runner_up, margin=margin, nearest=nearest,
                         confident=True, words=True)
        return Guess(best=best, score=score, runner_up=runner_up, margin=margin, nearest=nearest,
                     confident=score >= self.threshold and margin >= self.margin,
                     strong=score >= STRONG and margin >= 2 * self.margin)


def build_router(settings: Any, examples: Mapping[str, Sequence[str]]) -> SemanticRouter:
    """The router of a process: the offline MiniLM (whatever the knowledge base uses), cached in the data dir.

    Routing always embeds with the shipped MiniLM, quantized for one short message at a time
    (:mod:`memory.quantized`): its thresholds were measured on it, and a turn must not wait for a
    remote embedding endpoint to be routed.
    """
    from memory.quantized import quick_minilm

    cache = settings.data_dir / "cache"
    return SemanticRouter(quick_minilm(cache), examples, cache)


def _load(path: Path | None, rows: int) -> np.ndarray | None:
    """Cached vectors, or ``None`` when missing, unreadable or of the wrong shape (then they are re-made)."""
    if path is None or not path.is_file():
        return None
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.info("routing cache %s unreadable (%s); re-embedding", path, exc)
        return None
    return vectors if vectors.ndim == 2 and vectors.shape[0] == rows else None


def _save(path: Path | None, vectors: np.ndarray) -> None:
    """Write the cache atomically; a data dir that cannot take it only costs the next process a re-embed."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        os.replace(partial, path)
    except OSError as exc:
        log.info("routing cache %s not written (%s)", path, exc)
