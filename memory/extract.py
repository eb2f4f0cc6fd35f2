"""Extractive answers: the sentences of the retrieved passages that best answer a question.

A 135M model asked to restate a passage often loops or drifts even when the right
passage was retrieved. Quoting is safer: every sentence of the passages is scored
against the question by the embedding model (cosine) and by a lexical match (the
question's stemmed content words it contains, weighted by how rare they are among the
candidates), and the best ones are quoted verbatim with their passage numbers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory.embeddings import Embedder
from memory.lexical import tokenize

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*(?:[-*+]|\d+[.)]|#)\s)")
"""Sentence ends: punctuation then a capital, a blank line, or a new list item or heading."""
MIN_WORDS = 4
"""Shorter pieces ('Act 2', a bare heading) are not answers on their own."""
MAX_CHARS = 600
"""A "sentence" longer than this (a run-on line without punctuation) is cut at a word boundary."""
DENSE_WEIGHT = 0.5
"""Share of the embedding's cosine in a sentence's score; the lexical match has the rest."""
SECOND = 0.85
"""A second sentence is quoted when it scores at least this share of the best one."""


@dataclass(frozen=True)
class Quote:
    """One sentence chosen from a passage."""

    passage: int
    """1-based number of the passage it comes from (its citation)."""
    text: str
    score: float
    position: int
    """Its order within the passages, so quotes read in document order."""


def sentences(text: str) -> list[str]:
    """The sentences of a passage (headings and list items are their own), whitespace tidied."""
    out = []
    for piece in _SENTENCE_END.split(text):
        piece = " ".join(piece.split()).lstrip("#*-+ ").strip()
        if len(piece.split()) < MIN_WORDS:
            continue
        if len(piece) > MAX_CHARS:
            piece = piece[:MAX_CHARS].rsplit(" ", 1)[0] + " …"
        out.append(piece)
    return out


def lexical_scores(question: str, candidates: Sequence[str]) -> np.ndarray:
    """Share of the question's (stemmed, stop-word-free) words each candidate contains, rare words weighing more."""
    tokens = tokenize([question, *candidates])
    asked, bags = set(tokens[0]), [set(t) for t in tokens[1:]]
    if not asked or not bags:
        return np.zeros(len(candidates), np.float32)
    seen = Counter(term for bag in bags for term in bag & asked)
    weight = {t: math.log(1 + len(bags) / (1 + seen[t])) for t in asked}
    total = sum(weight.values())
    return np.array([sum(weight[t] for t in bag & asked) / total for bag in bags], np.float32)


def extract(question: str, passages: Sequence[str], embedder: Embedder, *, most: int = 2) -> list[Quote]:
    """The best sentences of ``passages`` for ``question`` (at most ``most``), in document order."""
    pool = [(n, s) for n, text in enumerate(passages, 1) for s in sentences(text)]
    # A sentence repeated (within a passage or across passages) is one candidate: quoting it twice says nothing new.
    firsts: dict[str, tuple[int, str]] = {}
    for n, s in pool:
        firsts.setdefault(" ".join(s.casefold().split()), (n, s))
    pool = list(firsts.values())
    if not pool:  # passages without a full sentence: quote their text as it is
        pool = [(n, " ".join(text.split())[:MAX_CHARS]) for n, text in enumerate(passages, 1) if text.strip()]
    if not pool:
        return []
    texts = [s for _, s in pool]
    dense = embedder.embed(texts) @ embedder.embed_query(question)
    scores = DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * lexical_scores(question, texts)
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    chosen = [i for i in order[:most] if i == order[0] or scores[i] >= SECOND * best]
    quotes = [Quote(pool[i][0], pool[i][1], float(scores[i]), int(i)) for i in chosen]
    return sorted(quotes, key=lambda q: q.position)


def render(quotes: Sequence[Quote]) -> str:
    """The answer: each sentence quoted, followed by its citation."""
    return "\n".join(f'"{q.text}" [{q.passage}]' for q in quotes)
