"""Retrieval evaluation: recall@k, MRR and nDCG@k of a collection against questions with gold sources.

A QA file has one JSON object per line, ``{"question": ..., "sources": [...]}``. A hit
matches a gold source when its source equals it or ends with it at a path boundary
(``docs/guide.md`` matches ``guide.md``). Each gold source counts once however many of
its chunks are retrieved, so the metrics measure documents found, not chunks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.errors import ConfigError, NotFoundError


@dataclass(frozen=True)
class QA:
    """One question and the sources that answer it."""

    question: str
    sources: tuple[str, ...]


def load_qa(path: Path) -> list[QA]:
    """Read a QA JSONL file; a malformed line is a :class:`ConfigError` naming it."""
    if not path.is_file():
        raise NotFoundError("QA file", str(path), hint='one JSON object a line: {"question": ..., "sources": [...]}')
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question, sources = row["question"], row["sources"]
            if isinstance(sources, str):
                sources = [sources]
            if not isinstance(question, str) or not question.strip() or not sources:
                raise ValueError("empty question or sources")
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path.name} line {number} is not a QA item ({exc})", setting="qa",
                              hint='each line must be {"question": "...", "sources": ["file", ...]}') from exc
        items.append(QA(question, tuple(str(s) for s in sources)))
    if not items:
        raise ConfigError(f"{path.name} has no questions", setting="qa")
    return items


def matches(source: str, gold: str) -> bool:
    """Whether a hit's source is the gold source, or ends with it at a path boundary."""
    source, gold = source.replace("\\", "/"), gold.replace("\\", "/").removeprefix("./")
    return source == gold or source.endswith("/" + gold)


def _relevance(ranked: Sequence[str], gold: Sequence[str], k: int) -> list[int]:
    """1 where a rank brings a gold source not seen at a better rank, else 0."""
    found: set[str] = set()
    out = []
    for source in ranked[:k]:
        new = next((g for g in gold if g not in found and matches(source, g)), None)
        if new is not None:
            found.add(new)
        out.append(int(new is not None))
    return out


def recall_at_k(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    """Share of the gold sources among the top ``k``."""
    return sum(_relevance(ranked, gold, k)) / len(gold)


def reciprocal_rank(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    """``1/rank`` of the first gold source within the top ``k`` (0 when none)."""
    rel = _relevance(ranked, gold, k)
    return 1.0 / (rel.index(1) + 1) if 1 in rel else 0.0


def ndcg_at_k(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    """Binary-relevance nDCG: DCG of the ranking over the DCG of the ideal one."""
    dcg = sum(r / math.log2(i + 2) for i, r in enumerate(_relevance(ranked, gold, k)))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal


@dataclass
class EvalReport:
    """Mean metrics over a QA set."""

    k: int
    mode: str
    questions: int
    recall: float
    mrr: float
    ndcg: float
    misses: list[dict[str, Any]] = field(default_factory=list)
    """Questions whose gold sources were all missed (question, gold, what came back)."""

    def to_dict(self, misses: int = 0) -> dict[str, Any]:
        """One JSON object, with up to ``misses`` missed questions."""
        return {"k": self.k, "mode": self.mode, "questions": self.questions, f"recall@{self.k}": round(self.recall, 4),
                "mrr": round(self.mrr, 4), f"ndcg@{self.k}": round(self.ndcg, 4), "misses": self.misses[:misses]}


def evaluate(search: Callable[[str], Sequence[str]], items: Sequence[QA], k: int, mode: str = "") -> EvalReport:
    """Run ``search`` (a question to its ranked hit sources) on every item and average the metrics."""
    recall = mrr = ndcg = 0.0
    misses = []
    for item in items:
        ranked = list(search(item.question))[:k]
        recall += recall_at_k(ranked, item.sources, k)
        rr = reciprocal_rank(ranked, item.sources, k)
        mrr += rr
        ndcg += ndcg_at_k(ranked, item.sources, k)
        if rr == 0:
            misses.append({"question": item.question, "gold": list(item.sources), "got": ranked})
    n = len(items)
    return EvalReport(k, mode, n, recall / n, mrr / n, ndcg / n, misses)
