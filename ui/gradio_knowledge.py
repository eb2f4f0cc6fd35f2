"""The Knowledge tab: upload files or a folder into a collection, list collections, search them.

Thin wiring over ``memory`` (the knowledge specialist's store) and :mod:`ui.kb_view`.
Ingesting is queued one at a time (``ingest`` group: embedding is CPU-bound and the store
has one writer); listing and searching have no limit, so they never wait behind it.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from podium.errors import PodiumError
from ui.kb_view import (
    COLLECTION_HEADERS,
    FILE_HEADERS,
    HIT_HEADERS,
    collection_rows,
    file_rows,
    hit_rows,
    ingest_summary,
)

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "default"


class _Bar:
    """Reports ingest progress (``memory.ingest.Progress``) to a Gradio progress bar."""

    def __init__(self, progress: Any) -> None:
        self.progress, self.total, self.done, self.chunks = progress, 0, 0, 0

    def start(self, files: int) -> None:
        self.total = files
        self.progress((0, files), desc="reading files", unit="files")

    def file_done(self, result: Any) -> None:
        self.done += 1
        self.progress((self.done, self.total), desc=f"{result.source}: {result.status}", unit="files")

    def chunks_embedded(self, n: int) -> None:
        self.chunks += n


INGEST_OUTPUTS = 5
"""What an ingest updates: summary, per-file rows, the collections table and both collection pickers."""


def _refuse(message: str, outputs: int, duration: float = 8) -> Any:
    """A warning toast, and every output left as it is (a raised ``gr.Error`` would blank them)."""
    gr.Warning(message, duration=duration)
    return (gr.skip(),) * outputs if outputs > 1 else gr.skip()


def _friendly(exc: Exception) -> str:
    return exc.one_line() if isinstance(exc, PodiumError) else f"{type(exc).__name__}: {exc}"


class KnowledgeTab:
    """Handlers of the Knowledge tab: plain methods, so tests call them without a server."""

    def __init__(self, podium: Any) -> None:
        self.kb = podium.knowledge
        self.outputs: list[Any] = []
        """What :meth:`listing` updates: the collections table and both collection pickers."""

    @property
    def on_load(self) -> list[tuple[Any, Any, list[Any]]]:
        """Refreshed on every page load: the collections (ingested since, by the CLI too)."""
        return [(self.listing, None, self.outputs)] if self.outputs else []

    def names(self) -> list[str]:
        """Collection names (none before the first ingest)."""
        return [c["name"] for c in self.kb.collections()] if self.kb.usable() else []

    def listing(self) -> tuple[Any, ...]:
        """The collections table and the two collection pickers, refreshed."""
        rows = collection_rows(self.kb.collections()) if self.kb.usable() else []
        names = [r[0] for r in rows]
        search_value = names[0] if names else None
        return rows, gr.Dropdown(choices=names), gr.Dropdown(choices=names, value=search_value)

    def ingest(self, files: list[str] | None, folder: list[str] | None, collection: str,
               progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - Gradio's progress-injection idiom
        """Ingest the uploaded files and folder; returns summary, per-file rows, then :meth:`listing`."""
        from memory.ingest import ingest

        paths = [*(files or []), *(folder or [])]
        if not paths:
            return _refuse("Choose files or a folder to upload first.", INGEST_OUTPUTS, 6)
        try:
            report = ingest(self.kb, paths, (collection or DEFAULT_COLLECTION).strip(), progress=_Bar(progress))
        except PodiumError as exc:
            return _refuse(_friendly(exc), INGEST_OUTPUTS, 10)
        return ingest_summary(report), file_rows(report.files), *self.listing()

    def search(self, query: str, collection: str | None, k: float, mode: str) -> Any:
        """Ranked hits for a query in one collection."""
        if not (query or "").strip():
            return _refuse("Type something to search for.", 1, 5)
        if not collection:
            return _refuse("There is no collection yet: upload documents first.", 1, 6)
        try:
            hits = self.kb.search(query.strip(), collection, k=int(k), mode=mode)
        except PodiumError as exc:
            return _refuse(_friendly(exc), 1, 10)
        if not hits:
            gr.Info(f"No matches in {collection!r}.")
        return hit_rows(hits)

    def build(self, chat_collection: gr.Dropdown) -> None:
        """Lay out the tab (inside an open ``gr.Tab``) and wire its events."""
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                gr.Markdown("### Add documents\nMarkdown, text, HTML, reStructuredText, PDF, JSON and source "
                            "code. Unchanged files are skipped; a bad file is listed with its reason.")
                files = gr.File(file_count="multiple", label="Files", elem_id="podium-kb-files")
                folder = gr.File(file_count="directory", label="…or a folder", elem_id="podium-kb-folder")
                name = gr.Textbox(DEFAULT_COLLECTION, label="Collection", elem_id="podium-kb-collection")
                add = gr.Button("Ingest", variant="primary", elem_id="podium-kb-ingest")
                summary = gr.Markdown(elem_id="podium-kb-summary")
                results = gr.Dataframe(headers=FILE_HEADERS, interactive=False, wrap=True, visible=True,
                                       elem_id="podium-kb-files-result", label="Files")
            with gr.Column(scale=3):
                gr.Markdown("### Collections")
                table = gr.Dataframe(headers=COLLECTION_HEADERS, interactive=False, elem_id="podium-kb-collections")
                refresh = gr.Button("↻ Refresh", size="sm")
                gr.Markdown("### Search")
                with gr.Row():
                    query = gr.Textbox(show_label=False, placeholder="Search the collection", scale=4,
                                       elem_id="podium-kb-query")
                    where = gr.Dropdown([], label="Collection", scale=2, elem_id="podium-kb-search-collection")
                    find = gr.Button("Search", scale=1, elem_id="podium-kb-search")
                with gr.Row():
                    k = gr.Slider(1, 20, value=5, step=1, label="Hits")
                    mode = gr.Radio(["hybrid", "dense", "bm25"], value="hybrid", label="Mode")
                hits = gr.Dataframe(headers=HIT_HEADERS, interactive=False, wrap=True, elem_id="podium-kb-hits")
        listing = self.outputs = [table, chat_collection, where]
        add.click(self.ingest, [files, folder, name], [summary, results, *listing], api_name="ingest",
                  concurrency_id="ingest", concurrency_limit=1)
        refresh.click(self.listing, None, listing, api_name="collections", concurrency_limit=None)
        gr.on([query.submit, find.click], self.search, [query, where, k, mode], [hits], api_name="search",
              concurrency_limit=None)


def add_knowledge_tab(podium: Any, parts: Any) -> KnowledgeTab | None:
    """Add the Knowledge tab (inside ``gr.Tabs``) when this Podium has a knowledge base."""
    if getattr(podium, "knowledge", None) is None:
        return None
    tab = KnowledgeTab(podium)
    with gr.Tab("Knowledge", id="knowledge"):
        tab.build(parts.collection)
    return tab
