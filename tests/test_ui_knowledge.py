"""The Knowledge tab: pure rows, then its handlers on a real knowledge base (Chroma + MiniLM, no server)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from graph.app import PodiumApp
from memory.ingest import FileResult, IngestReport
from models.scripted import register_script
from ui.gradio_chat import ChatTab, new_session
from ui.gradio_knowledge import KnowledgeTab
from ui.kb_view import COLLECTION_HEADERS, HIT_HEADERS, collection_rows, file_rows, hit_rows, ingest_summary

REQ = SimpleNamespace(session_hash="kb", username=None)

INSTALL = (
    "Run make run on a fresh machine to install Podium; it creates the virtual environment and starts the web app. "
)
THREADS = "Every conversation is a thread saved in SQLite; reopen any of them from the thread list on the left. "
GUIDE = f"# Podium guide\n\n## Install\n\n{INSTALL * 6}\n\n## Threads\n\n{THREADS * 6}\n"
"""Two sections long enough to be chunked apart, so hits carry their own heading."""


def test_rows_for_collections_files_and_hits():
    rows = collection_rows([{"name": "docs", "documents": 2, "chunks": 7, "embedder": "minilm", "updated": None}])
    assert rows[0][:5] == ["docs", 2, 7, "minilm", "-"] and len(rows[0]) == len(COLLECTION_HEADERS)
    files = [FileResult("a.md", "/u/a.md", "added", 3), FileResult("b.pdf", "/u/b.pdf", "failed", 0, "not a PDF")]
    assert file_rows(files) == [["b.pdf", "failed", 0, "not a PDF"], ["a.md", "added", 3, ""]]
    report = IngestReport("docs", files, seconds=1.25)
    summary = ingest_summary(report)
    assert summary.startswith("**docs**: 1 added, 1 failed · 3 chunks in 1.2s") and "could not be ingested" in summary
    hits = [
        {
            "source": "/x/guide.md",
            "heading": "Install",
            "score": 0.0312,
            "similarity": 0.71234,
            "text": "pip   install\npodium",
        },
        SimpleNamespace(source="faq.md", heading="", score=0.01, similarity=0.2, text="y" * 500),
    ]
    out = hit_rows(hits)
    assert len(out[0]) == len(HIT_HEADERS) and out[0] == [1, 0.712, "guide.md", "Install", "pip install podium"]
    assert out[1][0] == 2 and out[1][-1].endswith("…") and len(out[1][-1]) == 160


@pytest.fixture
def uploads(tmp_path: Path) -> list[str]:
    """What Gradio hands the handler: paths of uploaded files, good and bad."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    (folder / "guide.md").write_text(GUIDE)
    (folder / "notes.txt").write_text("The office plant is watered on Mondays.\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    return [str(p) for p in sorted(folder.iterdir())]


def test_upload_lists_bad_files_counts_collections_and_searches(app: PodiumApp, uploads: list[str]):
    tab = KnowledgeTab(app)
    assert tab.names(REQ) == []
    seen = []
    summary, rows, _chosen, table, chat_pick, search_pick, _manage = tab.ingest(
        uploads, None, "", "docs", REQ, progress=lambda *a, **k: seen.append(a)
    )
    assert summary.startswith("**docs**: 2 added, 2 failed")
    failed = {r[0]: r[3] for r in rows if r[1] == "failed"}
    assert set(failed) == {"broken.pdf", "photo.png"} and all(failed.values()), "every bad file says why"
    assert [r[1] for r in rows[:2]] == ["failed", "failed"], "failures are listed first"
    assert seen[0][0] == (0, 4) and seen[-1][0] == (4, 4), "the progress bar goes file by file"
    assert table[0][:3] == ["docs", 2, sum(r[2] for r in rows)]
    assert chat_pick.choices[-1] == ("docs", "docs") and search_pick.value == "docs"
    hits, found, passage = tab.search("how do I install it on a new machine", "docs", 3, "hybrid", REQ)
    assert hits[0][2:4] == ["guide.md", "Podium guide > Install"]
    assert "#1 · guide.md" in passage and INSTALL.strip()[:40] in passage, "the best passage opens in full"
    again, rows, *_ = tab.ingest(uploads[1:3], None, "", "docs", REQ, progress=lambda *a, **k: None)
    assert "2 unchanged" in again, "re-uploading an unchanged file skips it"


def test_bad_knowledge_input_is_a_friendly_error(app: PodiumApp, uploads: list[str]):
    """A warning toast, and every output left as it was (an error would blank the tab's tables)."""
    tab = KnowledgeTab(app)
    with pytest.warns(UserWarning, match="Choose files"):
        assert tab.ingest(None, [], "", "docs", REQ) == (gr.skip(),) * 3
    with pytest.warns(UserWarning, match="invalid collection name"):
        assert tab.ingest(uploads, None, "", "x", REQ, progress=lambda *a, **k: None) == (gr.skip(),) * 3
    with pytest.warns(UserWarning, match="Type something"):
        assert tab.search("  ", "docs", 5, "hybrid", REQ) == (gr.skip(),) * 3
    with pytest.warns(UserWarning, match="unknown collection 'nope'"):
        assert tab.search("install", "nope", 5, "hybrid", REQ) == (gr.skip(),) * 3
    assert tab.names(REQ) == [], "nothing was written"


def test_a_document_question_in_chat_shows_numbered_sources(app: PodiumApp, uploads: list[str]):
    KnowledgeTab(app).ingest(
        [u for u in uploads if u.endswith("guide.md")], None, "", "docs", REQ, progress=lambda *a, **k: None
    )
    model = register_script("ui-kb-answer", ["Run make run on a fresh machine [1]."])
    chat, req = ChatTab(app), SimpleNamespace(session_hash="kb", username=None)
    _box, _shown, session = chat.send("How do I install Podium?", new_session(), req)
    final = list(chat.generate(session, model, "docs", req))[-1][0]
    steps = [m["metadata"]["title"] for m in final if m.get("metadata")]
    assert steps == ["⚙ Conductor", "☰ Knowledge specialist"]
    answer = final[-1]["content"]
    assert answer.startswith(
        "Run make run on a fresh machine [1].\n\n**Sources**\n\n<details class=\"podium-source\"><summary>[1] "
        "guide.md — Podium guide &gt; Install (similarity "
    )
    assert "Sources:" not in answer
