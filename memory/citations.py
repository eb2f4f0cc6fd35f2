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


def attribute(answer: str, passage_vectors: Sequence[np.ndarray], embedder: Embedder,
              support: float = SUPPORT) -> list[int]:
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


_LINE = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*")


def quote(question: str, passages: Sequence[str], embedder: Embedder, *,
          numeric: bool = False) -> tuple[str, int] | None:
    """The sentence of the passages closest in meaning to ``question``, and its passage's number (1-based).

    What a small model may not restate faithfully ('30 days' coming back as '2 weeks'), a quote
    carries exactly. Headings are not sentences; ``numeric`` keeps only sentences with a number in
    them. ``None`` when no sentence of three words or more qualifies.
    """
    found = [(n, line.lstrip(">*- ").strip()) for n, text in enumerate(passages, 1)
             for line in _LINE.split(text.strip()) if not line.lstrip().startswith("#")]
    found = [(n, line) for n, line in found
             if len(line.split()) >= 3 and (not numeric or re.search(r"\d", line))]
    if not found:
        return None
    similarities = embedder.embed([line for _, line in found]) @ embedder.embed_query(question)
    n, line = found[int(np.argmax(similarities))]
    return line, n


def source_line(n: int, source: str, heading: str = "", page: int | None = None) -> str:
    """``[n] source > heading (p. 3)``, the way a citation is listed under an answer."""
    where = source + (f" > {heading}" if heading else "") + (f" (p. {page})" if page else "")
    return f"[{n}] {where}"


def footer(numbers: Sequence[int], lines: Sequence[str]) -> str:
    """The "Sources" list for the cited passage numbers (``lines`` are all passages' lines)."""
    if not numbers:
        return ""
    return "\n\nSources:\n" + "\n".join(lines[n - 1] for n in numbers)
