"""Ingestion into real Chroma: incremental, per-file atomic, recoverable, one writer at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memory.ingest import ingest
from memory.store import KnowledgeBase
from podium.errors import ConfigError, NotFoundError
from podium.settings import Settings
from tests.conftest import ROOT
from tests.servers import free_port, serve

GUIDE = ("# Podium guide\n\n## Install\n\n" + "Run make run on a fresh machine to install Podium. " * 30
         + "\n\n## Threads\n\n" + "Every conversation is a thread saved in SQLite. " * 30 + "\n")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "guide.md").write_text(GUIDE)
    (folder / "sub" / "plants.txt").write_text("The office plant is watered on Mondays by the facilities team.\n")
    (folder / "sub" / "errors.md").write_text("# Errors\n\nError E4711 means the disk quota is exceeded.\n")
    (folder / ".hidden.md").write_text("never ingested\n")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    return folder


def kb(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase(settings)


def stored(base: KnowledgeBase, name: str = "default") -> dict[str, set[str]]:
    rows = base.collection(name).get(include=["metadatas"])
    out: dict[str, set[str]] = {}
    for meta in rows["metadatas"]:
        out.setdefault(meta["source"], set()).add(meta["doc_hash"])
    return out


def test_ingest_is_incremental_and_prunes(settings, docs):
    base = kb(settings)
    assert not base.usable()
    report = ingest(base, [docs])
    assert {f.source: f.status for f in report.files} == {  # files left out on purpose are named, with why
        "guide.md": "added", "sub/plants.txt": "added", "sub/errors.md": "added", ".hidden.md": "skipped",
        "image.png": "skipped"}
    assert base.usable() and base.catalog()["default"]["documents"] == 3
    guide_chunks = next(f.chunks for f in report.files if f.source == "guide.md")
    assert guide_chunks >= 2, "two long sections make at least two chunks"

    version = base.collection("default").metadata["podium_version"]
    again = ingest(base, [docs])
    assert again.count("unchanged") == 3 and again.chunks == 0
    assert base.collection("default").metadata["podium_version"] == version, "no change, no BM25 rebuild"

    (docs / "sub" / "plants.txt").write_text("The office plant is watered on Fridays now.\n")
    (docs / "guide.md").unlink()
    old_hashes = stored(base)["sub/plants.txt"]
    third = ingest(base, [docs], prune=True)
    assert {f.source: f.status for f in third.files} == {
        "sub/plants.txt": "updated", "sub/errors.md": "unchanged", "guide.md": "pruned", ".hidden.md": "skipped",
        "image.png": "skipped"}
    after = stored(base)
    assert set(after) == {"sub/plants.txt", "sub/errors.md"}
    assert len(after["sub/plants.txt"]) == 1 and after["sub/plants.txt"] != old_hashes, "old chunks are gone"
    assert base.search("when is the plant watered", k=1)[0].text.startswith("The office plant is watered on Fridays")


def test_single_files_are_named_by_file_name_and_missing_paths_fail(settings, docs, tmp_path):
    (docs / "sub" / "dangling.md").symlink_to(tmp_path / "moved-away.md")
    report = ingest(kb(settings), [docs / "sub", docs / "image.png"], "single")
    assert {f.source: (f.status, f.reason) for f in report.files} == {
        "errors.md": ("added", ""), "plants.txt": ("added", ""), "dangling.md": ("failed", "no such file or directory"),
        "image.png": ("failed", "binary file (contains NUL bytes)")}
    # A path the user typed that is not there is their mistake: an error before anything is written.
    with pytest.raises(NotFoundError, match="nope.md"):
        ingest(kb(settings), [docs / "sub", tmp_path / "nope.md"], "ghost")
    assert "ghost" not in kb(settings).catalog()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_reported(settings, docs):
    secret = docs / "secret.md"
    secret.write_text("# no\n")
    secret.chmod(0)
    report = ingest(kb(settings), [docs])
    assert [(f.source, f.reason) for f in report.failed] == [("secret.md", "permission denied")]


def test_huge_files_are_refused(settings, docs):
    report = ingest(kb(settings), [docs], max_bytes=1000)
    assert [f.source for f in report.failed] == ["guide.md"] and "too large" in report.failed[0].reason


def test_a_failed_add_leaves_no_partial_document(settings, docs, monkeypatch):
    base = kb(settings)
    ingest(base, [docs / "sub"])
    real_add = base.add_document

    def add_then_fail(col, source, doc_hash, chunks, vectors, path=None):
        if source == "guide.md":
            col.add(ids=["partial-0"], embeddings=vectors[:1], documents=["half"],
                    metadatas=[{"source": source, "doc_hash": doc_hash, "chunk": 0, "chunks": len(chunks)}])
            raise RuntimeError("disk full")
        return real_add(col, source, doc_hash, chunks, vectors, path)

    monkeypatch.setattr(base, "add_document", add_then_fail)
    report = ingest(base, [docs])
    assert [(f.source, f.reason) for f in report.failed] == [("guide.md", "store error: disk full")]
    monkeypatch.undo()
    # The fault left one chunk of an incomplete version, as a killed process would; the next run sweeps it.
    assert "guide.md" in stored(base)
    retry = ingest(base, [docs])
    assert {f.source: f.status for f in retry.files}["guide.md"] == "added"
    assert "half" not in base.collection("default").get(where={"source": "guide.md"})["documents"]


def test_a_writer_that_died_midway_is_repaired_by_the_next_run(settings, docs):
    base = kb(settings)
    ingest(base, [docs / "sub"])
    col = base.collection("default")
    base.begin(col)  # what a writer does before its first write... then it is killed mid-document:
    col.add(ids=["dead-0"], embeddings=[[0.05] * 384], documents=["half a document"],
            metadatas=[{"source": "x.md", "doc_hash": "h", "chunk": 0, "chunks": 3, "added": 1.0}])
    report = ingest(kb(settings), [docs / "sub"])
    assert report.count("unchanged") == 2, "the manifest no longer matches, so the collection was rescanned"
    assert "dead-0" not in base.collection("default").get(include=[])["ids"]


def test_real_add_rolls_back_its_own_batches(settings, docs, monkeypatch):
    base = kb(settings)
    ingest(base, [docs / "sub"])
    col = base.collection("default")
    calls = []
    original = type(col).add

    def second_batch_fails(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("connection reset")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(col), "add", second_batch_fails)
    monkeypatch.setattr(type(base.client), "get_max_batch_size", lambda self: 1)
    report = ingest(base, [docs / "guide.md"])
    assert report.failed and "connection reset" in report.failed[0].reason
    assert "guide.md" not in stored(base), "the first batch was removed again"


def test_collections_list_stats_delete_and_bad_names(settings, docs):
    base = kb(settings)
    ingest(base, [docs], "team-docs")
    [info] = base.collections()
    assert info["name"] == "team-docs" and info["documents"] == 3 and info["embedder"] == base.embedder.name
    stats = base.stats("team-docs")
    assert stats["documents"] == 3 and stats["file_types"] == {".md": 2, ".txt": 1} and stats["tokens"] > 100
    with pytest.raises(ConfigError, match="invalid collection name"):
        base.collection("a/b")
    with pytest.raises(NotFoundError):
        base.search("x", "nothing-here")
    base.delete("team-docs")
    assert base.collections() == [] and not base.usable()


def test_second_writer_waits_for_the_lock_and_says_so(settings, docs):
    base = kb(settings)
    with base.writing():
        proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "ingest", str(docs / "sub")], cwd=ROOT,
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=os.environ)
        deadline = time.monotonic() + 60
        line = ""
        while "waiting" not in line:
            assert time.monotonic() < deadline, "the second writer never said it was waiting"
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the second writer exited without waiting"
        assert proc.poll() is None, "it is still waiting while we hold the lock"
        assert "another process is writing" in line
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert set(stored(base)) == {"plants.txt", "errors.md"}


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        pytest.skip("the chroma server CLI is not installed")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(chroma), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)]
    with serve(command, f"{url}/api/v2/heartbeat", tmp_path / "chroma.log", startup_s=30):
        yield url


def test_chroma_server_through_http_client(settings, docs, chroma_server):
    remote = Settings(home=settings.home, chroma_url=chroma_server)
    report = ingest(kb(remote), [docs])
    assert report.count("added") == 3
    hits = kb(remote).search("disk quota error E4711", k=2)
    assert hits[0].source == "sub/errors.md"
    assert not (settings.home / "knowledge" / "chroma").exists(), "nothing was written to the embedded store"
    with pytest.raises(ConfigError, match="cannot reach the Chroma server"):
        kb(Settings(home=settings.home, chroma_url=f"http://127.0.0.1:{free_port()}")).collections()
