"""The knowledge commands as a user runs them: ingest, search, kb list/stats/eval/delete, ask --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli_here, run_cli

podium = cli_here


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "guide").mkdir(parents=True)
    (folder / "guide" / "install.md").write_text(
        "# Installing\n\n## Requirements\n\nPodium needs Python 3.11 and two gigabytes of disk space.\n")
    (folder / "cats.txt").write_text("Cats sleep for about sixteen hours a day.\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 truncated")
    return folder


def test_ingest_reports_bad_files_and_exits_nonzero(docs: Path):
    proc = run_cli("ingest", str(docs), "--collection", "handbook")
    assert proc.returncode == 1, proc.stderr
    assert "broken.pdf: corrupt PDF" in proc.stderr
    assert "handbook: 2 added, 0 updated, 0 unchanged, 1 failed, 0 pruned" in proc.stderr


def test_search_list_stats_eval_delete(capsys, docs: Path, tmp_path: Path):
    code, out, _ = podium(capsys, "ingest", str(docs / "guide"), str(docs / "cats.txt"), "--json")
    report = json.loads(out)
    assert code == 0 and report["added"] == 2 and report["collection"] == "default"

    code, out, _ = podium(capsys, "search", "how much disk space is needed", "--k", "2", "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and hits[0]["source"] == "install.md" and hits[0]["heading"] == "Installing > Requirements"
    assert {"source", "heading", "score", "similarity", "text"} <= set(hits[0]) and "vector" not in hits[0]
    code, out, _ = podium(capsys, "search", "cats", "--mode", "bm25")
    assert code == 0 and out.startswith("1. cats.txt")

    code, out, _ = podium(capsys, "kb", "list", "--json")
    assert [(c["name"], c["documents"]) for c in json.loads(out)] == [("default", 2)]
    code, out, _ = podium(capsys, "kb", "stats", "default")
    assert code == 0 and "documents: 2" in out and ".md 1, .txt 1" in out

    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "How long do cats sleep?", "sources": ["cats.txt"]}) + "\n"
                  + json.dumps({"question": "Which Python version is required?", "sources": ["guide/install.md"]}))
    code, out, _ = podium(capsys, "kb", "eval", str(qa), "--k", "1", "--json")
    metrics = json.loads(out)
    assert code == 0 and metrics["questions"] == 2 and metrics["mode"] == "hybrid" and "recall@1" in metrics
    assert metrics["recall@1"] == 0.5 and metrics["misses"][0]["gold"] == ["guide/install.md"], \
        "the source is install.md (the folder was given), so the gold path guide/install.md does not match"
    code, out, _ = podium(capsys, "kb", "eval", str(qa), "--mode", "dense")
    assert code == 0 and "recall@5" in out and "MRR" in out and "nDCG@5" in out

    code, _, err = podium(capsys, "kb", "delete", "default")
    assert code == 0 and "deleted collection 'default'" in err
    code, _, err = podium(capsys, "kb", "delete", "default")
    assert code == 2 and "unknown collection 'default'" in err and "hint:" in err


def test_ask_json_gains_sources_for_knowledge_turns(capsys, docs: Path):
    assert podium(capsys, "ingest", str(docs / "cats.txt"), "-c", "pets")[0] == 0
    code, out, _ = podium(capsys, "ask", "How long do cats sleep?", "--collection", "pets", "--model", "scripted/echo",
                          "--json")
    result = json.loads(out)
    assert code == 0 and result["route"] == ["conductor", "knowledge"]
    assert result["sources"][0]["source"] == "cats.txt" and {"source", "heading", "score"} <= set(result["sources"][0])
    code, out, _ = podium(capsys, "ask", "hello", "--model", "scripted/echo", "--json")
    assert json.loads(out)["sources"] == [], "a chat turn has no sources"
    code, _, err = podium(capsys, "ask", "hi", "--collection", "nope", "--model", "scripted/echo")
    assert code == 2 and "unknown collection 'nope'" in err
