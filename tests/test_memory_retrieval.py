"""Dense, BM25 and hybrid search over real Chroma, source filters, and the lexical cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memory.ingest import ingest
from memory.lexical import LexicalIndex, _tokenize, rrf
from memory.store import KnowledgeBase
from podium.errors import ConfigError

DOCS = {
    "ops/disk.md": "# Disk errors\n\nError code E4711 means the disk quota for the project is exceeded. Delete old "
                   "checkpoints or ask for more space.\n",
    "ops/network.md": "# Network\n\nWhen the VPN drops, the sync job retries every five minutes until it reconnects.\n",
    "pets/cats.txt": "Cats sleep for about sixteen hours a day. They are most active at dawn and dusk.\n",
    "pets/dogs.txt": "Dogs need a walk twice a day, and puppies need to go out every few hours.\n",
    "food/bread.md": "# Bread\n\nA sourdough loaf needs a ripe starter, flour, water and salt, and a cold proof.\n",
}


@pytest.fixture
def base(settings, tmp_path: Path) -> KnowledgeBase:
    root = tmp_path / "docs"
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    kb = KnowledgeBase(settings)
    assert not ingest(kb, [root]).failed
    return kb


def test_every_mode_finds_the_right_document(base):
    for mode in ("dense", "bm25", "hybrid"):
        hits = base.search("how many hours do cats sleep", k=3, mode=mode)
        assert hits[0].source == "pets/cats.txt", mode
        assert hits[0].similarity > 0.5 and all(-1 <= h.similarity <= 1 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_keeps_an_exact_code_that_only_bm25_ranks_first(base):
    bm25 = base.search("E4711", k=5, mode="bm25")
    assert [h.source for h in bm25] == ["ops/disk.md"], "BM25 matches the rare token exactly"
    assert base.search("E4711", k=1, mode="hybrid")[0].source == "ops/disk.md"
    assert bm25[0].vector is not None and bm25[0].heading == "Disk errors"


def test_source_glob_filters_both_retrievers(base):
    for mode in ("dense", "bm25", "hybrid"):
        hits = base.search("how often does it retry every day", k=5, mode=mode, source="ops/*")
        assert hits and {h.source for h in hits} <= {"ops/disk.md", "ops/network.md"}, mode
    assert base.search("cats", k=5, mode="bm25", source="ops/*") == [], "no lexical match there: nothing, not junk"
    assert base.search("cats", source="nowhere/*") == []


def test_bad_arguments_are_config_errors(base):
    with pytest.raises(ConfigError, match="unknown search mode"):
        base.search("x", mode="fuzzy")
    with pytest.raises(ConfigError, match="k must be"):
        base.search("x", k=0)
    assert base.search("   ") == []


def test_lexical_index_is_cached_per_version_and_rebuilt_after_changes(base, settings, tmp_path):
    col = base.collection("default")
    version = col.metadata["podium_version"]
    folder = settings.home / "knowledge" / "lexical" / "default"
    assert LexicalIndex.load(folder, version) is not None, "ingest saved the BM25 index"
    fresh = KnowledgeBase(settings)
    assert fresh.lexical("default").version == version
    (tmp_path / "extra.md").write_text("Penguins huddle together to stay warm in the Antarctic winter.\n")
    ingest(base, [tmp_path / "extra.md"])
    assert fresh.search("penguins huddle", k=1, mode="bm25")[0].source == "extra.md", "another process's ingest is seen"


def test_rrf_rewards_agreement():
    fused = dict(rrf([["a", "b", "c"], ["c", "b", "d"]]))
    assert list(fused) == ["c", "b", "a", "d"], "found by both beats first in one"
    assert fused["c"] == pytest.approx(1 / 61 + 1 / 63) and fused["b"] == pytest.approx(2 / 62)


def test_bm25_matches_bm25s_and_incremental_updates_match_a_rebuild():
    import bm25s

    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(5, 60)))) for _ in range(400)]
    ids, sources = [f"c{i}" for i in range(400)], [f"s{i % 7}.md" for i in range(400)]
    index = LexicalIndex.build("v", ids, sources, texts)
    reference = bm25s.BM25()  # Lucene BM25, k1=1.5, b=0.75: the same formula, computed independently
    reference.index(_tokenize(texts), show_progress=False)
    for query in ("w1 w2 w3", "w250 w17 w17", "w99"):
        dense = reference.get_scores(sorted(set(_tokenize([query])[0])))
        got = index.search(query, 10)
        np.testing.assert_allclose([s for _, s in got], sorted((s for s in dense if s > 0), reverse=True)[:10],
                                   rtol=1e-5)
        assert all(dense[int(i[1:])] == pytest.approx(s, rel=1e-5) for i, s in got)
        assert all(int(i[1:]) % 7 == 3 for i, _ in index.search(query, 10, allowed={"s3.md"}))

    # Drop a third of the chunks, add new ones: only the new texts are given to the update.
    keep = [i for i in range(400) if i % 3]
    extra = [" ".join(rng.choice(words, size=20)) for _ in range(50)]
    now_ids = [ids[i] for i in keep] + [f"n{i}" for i in range(50)]
    now_sources = [sources[i] for i in keep] + ["new.md"] * 50
    updated = index.updated("v2", now_ids, now_sources, {f"n{i}": t for i, t in enumerate(extra)})
    rebuilt = LexicalIndex.build("v2", now_ids, now_sources, [texts[i] for i in keep] + extra)
    for query in ("w1 w2 w3", "w42", "w7 w8 w9 w10"):
        mine, fresh = dict(updated.search(query, 500)), dict(rebuilt.search(query, 500))
        assert mine.keys() == fresh.keys() and all(mine[k] == pytest.approx(fresh[k], rel=1e-5) for k in mine)
