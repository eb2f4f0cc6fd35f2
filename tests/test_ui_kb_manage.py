"""The Knowledge tab's management (issue 17, Open WebUI items): a folder upload keeps sub-folder names; a
collection's documents open onto their chunks, can be deleted or read again; a collection can be deleted.
Handlers in-process on a real knowledge base (Chroma + MiniLM), no server."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from graph.app import PodiumApp
from ui.gradio_knowledge import KnowledgeTab
from ui.kb_view import relative_names

REQ = SimpleNamespace(session_hash="m", username=None)


def test_folder_uploads_keep_their_paths_inside_the_folder():
    uploaded = ["/tmp/g1/README.md", "/tmp/g2/README.md", "/tmp/g3/a.txt"]
    relative = ["docs/README.md", "docs/sub/README.md", "docs/sub/deeper/a.txt"]
    assert relative_names(uploaded, relative) == [
        ("/tmp/g1/README.md", "README.md"), ("/tmp/g2/README.md", "sub/README.md"),
        ("/tmp/g3/a.txt", "sub/deeper/a.txt")]
    assert relative_names(["/tmp/x/b.md"], []) == [("/tmp/x/b.md", "b.md")], "no paths sent: the file name"


@pytest.fixture
def folder(tmp_path: Path) -> tuple[list[str], str]:
    """What Gradio hands over for a folder: flat temporary files, and the browser's paths beside them."""
    files = []
    for i, (name, text) in enumerate((("README.md", "# Top\n\nThe top readme talks about installing."),
                                      ("README.md", "# Sub\n\nThe sub readme covers YAML settings."))):
        path = tmp_path / f"upload{i}" / name
        path.parent.mkdir()
        path.write_text(text)
        files.append(str(path))
    return files, json.dumps(["docs/README.md", "docs/sub/README.md"])


def test_a_collection_is_managed_from_the_tab(app: PodiumApp, folder: tuple[list[str], str]):
    tab = KnowledgeTab(app)
    files, paths = folder
    summary, rows, *_ = tab.ingest(None, files, paths, "docs", REQ, progress=lambda *a, **k: None)
    assert summary.startswith("**docs**: 2 added") and sorted(r[0] for r in rows) == ["README.md", "sub/README.md"]
    manager = tab.manager
    table, sources, _chunks, _source = manager.documents("docs", REQ)
    assert sources == ["README.md", "sub/README.md"] and [r[1] for r in table] == [1, 1]
    text, source = manager.open_document("docs", sources, SimpleNamespace(index=[1, 0]), REQ)
    assert source == "sub/README.md" and "YAML settings" in text and "<details>" in text
    kept = app.knowledge.folder / "uploads" / "docs" / "folder" / "sub" / "README.md"
    assert kept.read_text() == Path(files[1]).read_text(), "uploads are kept (Gradio's temporary files go)"
    kept.write_text("# Sub\n\nThe sub readme now covers TOML settings.")
    status, results = manager.read_again("docs", "sub/README.md", REQ)
    assert "1 updated" in status and results[0][:2] == ["sub/README.md", "updated"]
    assert "TOML" in manager.chunks("docs", "sub/README.md", REQ)[0]
    out = manager.drop_document("docs", "README.md", REQ)
    assert out[1] == ["sub/README.md"], "the list refreshes"
    with pytest.warns(UserWarning, match="Click a document"):
        manager.drop_document("docs", "", REQ)
    out = manager.drop_collection("docs", REQ)
    assert out[0] == [] and app.knowledge.collections() == []
    assert not (app.knowledge.folder / "uploads" / "docs").exists(), "its kept uploads go with it"
    with pytest.warns(UserWarning, match="unknown collection"):
        assert manager.drop_collection("docs", REQ) == (gr.skip(),) * 4
