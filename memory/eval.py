"""Knowledge evaluation: retrieval (recall@k, MRR, nDCG@k) and answers (exact match, token F1).

A QA file has one JSON object per line, ``{"question": ..., "sources": [...], "answer": ...}``
(``answer``: one expected answer or a list of acceptable ones; each item needs sources, an
answer or both). A hit matches a gold source when its source equals it or ends with it at a
path boundary (``docs/guide.md`` matches ``guide.md``). Each gold source counts once however
many of its chunks are retrieved, so the metrics measure documents found, not chunks.
Answers are scored as SQuAD does: lower-cased, punctuation and articles removed, then exact
match and token F1 against the best of the acceptable answers.
"""

from __future__ import annotations

import json
import math
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.errors import ConfigError, NotFoundError


@dataclass(frozen=True)
class QA:
    """One question, the sources that answer it and the answers accepted."""

    question: str
    sources: tuple[str, ...]
    answers: tuple[str, ...] = ()


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
            question, sources, answers = row["question"], row.get("sources") or [], row.get("answer") or []
            sources = [sources] if isinstance(sources, str) else sources
            answers = [answers] if isinstance(answers, str) else answers
            if not isinstance(question, str) or not question.strip():
                raise ValueError("empty question")
            if not sources and not answers:
                raise ValueError("no sources and no answer")
            if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
                raise ValueError("answer must be text or a list of texts")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path.name} line {number} is not a QA item ({exc})", setting="qa",
                              hint='each line: {"question": "...", "sources": ["file", ...], "answer": "..."} '
                                   "(sources, answer or both)") from exc
        items.append(QA(question, tuple(str(s) for s in sources), tuple(answers)))
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
    """Run ``search`` (a question to its ranked hit sources) on every item with sources and average the metrics."""
    recall = mrr = ndcg = 0.0
    misses = []
    items = [item for item in items if item.sources]
    for item in items:
        ranked = list(search(item.question))[:k]
        recall += recall_at_k(ranked, item.sources, k)
        rr = reciprocal_rank(ranked, item.sources, k)
        mrr += rr
        ndcg += ndcg_at_k(ranked, item.sources, k)
        if rr == 0:
            misses.append({"question": item.question, "gold": list(item.sources), "got": ranked})
    n = len(items)
    return EvalReport(k, mode, n, recall / max(n, 1), mrr / max(n, 1), ndcg / max(n, 1), misses)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CITATIONS = re.compile(r"\s*\[\d{1,2}\]")
_SOURCES = re.compile(r"\n\s*Sources:\s*\n.*\Z", re.DOTALL)


def normalize(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_text(answer: str) -> str:
    """A knowledge answer as it is scored: without its "Sources:" list and ``[n]`` citations."""
    return _CITATIONS.sub("", _SOURCES.sub("", answer)).strip()


def exact_match(predicted: str, golds: Sequence[str]) -> float:
    """1.0 when the normalized prediction equals one normalized gold answer."""
    return float(any(normalize(predicted) == normalize(g) for g in golds))


def token_f1(predicted: str, golds: Sequence[str]) -> float:
    """The best token-overlap F1 between the prediction and one gold answer."""
    pred = normalize(predicted).split()
    best = 0.0
    for gold in golds:
        truth = normalize(gold).split()
        common = sum((Counter(pred) & Counter(truth)).values())
        if not pred or not truth:
            best = max(best, float(pred == truth))
        elif common:
            precision, recall = common / len(pred), common / len(truth)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


@dataclass
class AnswerReport:
    """Mean answer accuracy of one answering mode over the items with expected answers."""

    mode: str
    questions: int
    exact_match: float
    f1: float
    seconds: float
    """Wall-clock seconds for all answers."""
    worst: list[dict[str, Any]] = field(default_factory=list)
    """The lowest-F1 answers (question, expected, got, f1), worst first."""

    def to_dict(self, worst: int = 0) -> dict[str, Any]:
        """One JSON object, with up to ``worst`` of the weakest answers."""
        return {"mode": self.mode, "questions": self.questions, "exact_match": round(self.exact_match, 4),
                "f1": round(self.f1, 4), "seconds": round(self.seconds, 2),
                "seconds_per_question": round(self.seconds / max(self.questions, 1), 3), "worst": self.worst[:worst]}


def evaluate_answers(answer: Callable[[str], str], items: Sequence[QA], mode: str,
                     progress: Callable[[], None] | None = None) -> AnswerReport:
    """Answer every item that has expected answers with ``answer`` and average exact match and token F1."""
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for item in _with_answers(items):
        got = answer_text(answer(item.question))
        rows.append({"question": item.question, "expected": list(item.answers), "got": got,
                     "exact_match": exact_match(got, item.answers), "f1": round(token_f1(got, item.answers), 4)})
        if progress:
            progress()
    n = len(rows)
    return AnswerReport(mode, n, sum(r["exact_match"] for r in rows) / max(n, 1),
                        sum(r["f1"] for r in rows) / max(n, 1), time.perf_counter() - started,
                        sorted(rows, key=lambda r: r["f1"]))


def _with_answers(items: Sequence[QA]) -> Iterator[QA]:
    return (item for item in items if item.answers)
