"""Numbered citations: read the ones an answer gives, and attribute an uncited answer to its passages.

A small local model often answers correctly from the passages but forgets to cite.
Rather than leave the answer unsourced or trust a guessed number, each sentence of
the answer is compared (cosine, same embedding model) with every passage it was
given, and cited to the passage that supports it best when that support is clear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from memory.embeddings import Embedder

_CITATION = re.compile(r"\[(\d{1,2})\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")

SUPPORT = 0.3
"""Least cosine similarity between an answer sentence and a passage to cite it."""


def cited(answer: str, passages: int) -> list[int]:
    """Passage numbers (1-based, in order of first use) that ``answer`` cites and that exist."""
    out: list[int] = []
    for match in _CITATION.finditer(answer):
        n = int(match.group(1))
        if 1 <= n <= passages and n not in out:
            out.append(n)
    return out


def attribute(answer: str, passage_vectors: np.ndarray, embedder: Embedder, support: float = SUPPORT) -> list[int]:
    """Passage numbers that best support some sentence of ``answer`` (each at least ``support``)."""
    sentences = [s for s in _SENTENCE.split(answer.strip()) if len(s.split()) >= 2]
    if not sentences or not len(passage_vectors):
        return []
    sims = embedder.embed(sentences) @ np.asarray(passage_vectors, dtype=np.float32).T
    out: list[int] = []
    for row in sims:
        best = int(np.argmax(row))
        if row[best] >= support and best + 1 not in out:
            out.append(best + 1)
    return out


def source_line(n: int, source: str, heading: str = "", page: int | None = None) -> str:
    """``[n] source > heading (p. 3)``, the way a citation is listed under an answer."""
    where = source + (f" > {heading}" if heading else "") + (f" (p. {page})" if page else "")
    return f"[{n}] {where}"


def footer(numbers: Sequence[int], lines: Sequence[str]) -> str:
    """The "Sources" list for the cited passage numbers (``lines`` are all passages' lines)."""
    if not numbers:
        return ""
    return "\n\nSources:\n" + "\n".join(lines[n - 1] for n in numbers)
