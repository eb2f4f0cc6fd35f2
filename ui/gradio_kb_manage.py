"""The Knowledge tab's "Manage a collection" section: its documents and their chunks, delete a document or the
collection, read documents again from their files, share the collection with other users.

Changes are for the collection's owner; anyone who may read it may look. Every change takes the
knowledge base's writer lock, like an ingest, so it never interleaves with one.
"""

from __future__ import annotations

import shutil
from typing import Any

import gradio as gr

from memory.access import share
from memory.documents import delete_document, document_chunks, document_list, reingest
from memory.owners import describe
from podium.errors import PodiumError
from ui.kb_view import DOCUMENT_HEADERS, chunks_markdown, document_rows, file_rows, ingest_summary
from ui.web_errors import friendly

CONFIRM_DROP = ("(name, ...rest) => { if (!confirm(`Delete collection ${name} and everything ingested into it?`)) "
                "throw new Error('cancelled'); return [name, ...rest]; }")
"""Asks before a collection is deleted."""


def _warn(exc: Exception) -> None:
    gr.Warning(friendly(exc), duration=10)


class KnowledgeManager:
    """Handlers of the section (plain methods, so tests call them without a server)."""

    def __init__(self, tab: Any) -> None:
        """``tab``: the :class:`ui.gradio_knowledge.KnowledgeTab` this section belongs to."""
        self.tab = tab
        self.parts: dict[str, Any] = {}

    def documents(self, collection: str | None, request: gr.Request) -> tuple[Any, ...]:
        """A collection's documents, with nothing opened yet."""
        if not collection:
            return [], [], "", ""
        try:
            docs = document_list(self.tab.kb(request), collection)
        except PodiumError as exc:
            _warn(exc)
            return [], [], "", ""
        return document_rows(docs), [d["source"] for d in docs], "", ""

    def open_document(self, collection: str | None, sources: list[str], evt: gr.SelectData,
                      request: gr.Request) -> tuple[str, str]:
        """A clicked document: its chunks, and it becomes the selected document."""
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        if not collection or not sources or not 0 <= int(row) < len(sources):
            return "", ""
        return self.chunks(collection, sources[int(row)], request)

    def chunks(self, collection: str, source: str, request: gr.Request) -> tuple[str, str]:
        """One document's chunks (Markdown) and its name."""
        try:
            return chunks_markdown(source, document_chunks(self.tab.kb(request), collection, source)), source
        except PodiumError as exc:
            _warn(exc)
            return "", ""

    def drop_document(self, collection: str | None, source: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Delete the selected document (owner only); the lists refresh."""
        if not collection or not source:
            gr.Warning("Click a document in the list first.", duration=6)
            return (gr.skip(),) * (4 + len(self.tab.outputs))
        try:
            gone = delete_document(self.tab.kb(request), collection, source)
        except PodiumError as exc:
            _warn(exc)
            return (gr.skip(),) * (4 + len(self.tab.outputs))
        gr.Info(f"Deleted {source} ({gone} chunks) from {collection}.", duration=5)
        return *self.documents(collection, request), *self.tab.listing(request)

    def read_again(self, collection: str | None, source: str | None, request: gr.Request) -> tuple[Any, Any]:
        """Read the selected document (or, with none selected, every document) again from its file."""
        if not collection:
            gr.Warning("Pick a collection first.", duration=6)
            return gr.skip(), gr.skip()
        try:
            report = reingest(self.tab.kb(request), collection, [source] if source else None)
        except PodiumError as exc:
            _warn(exc)
            return gr.skip(), gr.skip()
        return ingest_summary(report), file_rows(report.files)

    def drop_collection(self, collection: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Delete the collection (owner only) with its kept uploads."""
        if not collection:
            gr.Warning("Pick a collection first.", duration=6)
            return (gr.skip(),) * (4 + len(self.tab.outputs))
        kb = self.tab.kb(request)
        try:
            with kb.writing():
                kb.delete(collection)
        except PodiumError as exc:
            _warn(exc)
            return (gr.skip(),) * (4 + len(self.tab.outputs))
        shutil.rmtree(self.tab.podium.knowledge.folder / "uploads" / collection, ignore_errors=True)
        gr.Info(f"Deleted collection {collection}.", duration=5)
        return [], [], "", "", *self.tab.listing(request)

    def share(self, collection: str | None, who: str, revoke: bool, request: gr.Request) -> tuple[Any, ...]:
        """Share the collection with a user (or ``all``), or stop; the collections table shows who may read it."""
        if not collection or not (who or "").strip():
            gr.Warning("Pick a collection and type a user name (or all).", duration=6)
            return (gr.skip(),) * (1 + len(self.tab.outputs))
        try:
            shared = share(self.tab.kb(request), collection, who.strip(), revoke=revoke)
        except PodiumError as exc:
            _warn(exc)
            return (gr.skip(),) * (1 + len(self.tab.outputs))
        gr.Info(f"{collection} is now shared with {describe(shared)}.", duration=5)
        return "", *self.tab.listing(request)

    def share_with(self, collection: str | None, who: str, request: gr.Request) -> tuple[Any, ...]:
        """The Share button."""
        return self.share(collection, who, False, request)

    def unshare(self, collection: str | None, who: str, request: gr.Request) -> tuple[Any, ...]:
        """The Stop sharing button."""
        return self.share(collection, who, True, request)

    def build(self) -> gr.Dropdown:
        """Lay out the section; returns its collection picker (refreshed with the others)."""
        gr.Markdown("### Manage a collection")
        picker = gr.Dropdown([], label="Collection", elem_id="podium-kb-manage-collection")
        docs = gr.Dataframe(headers=DOCUMENT_HEADERS, interactive=False, wrap=True, label="Documents (click one)",
                            elem_id="podium-kb-documents")
        with gr.Row():
            drop_doc = gr.Button("Delete document", size="sm", elem_id="podium-kb-delete-doc")
            again = gr.Button("Re-ingest (the clicked document, else all)", size="sm", elem_id="podium-kb-reingest")
            drop = gr.Button("Delete collection", size="sm", variant="stop", elem_id="podium-kb-delete")
        with gr.Row():
            who = gr.Textbox(show_label=False, placeholder="user name, or all", scale=3, elem_id="podium-kb-share-with")
            give = gr.Button("Share", size="sm", scale=1, elem_id="podium-kb-share")
            take = gr.Button("Stop sharing", size="sm", scale=1, elem_id="podium-kb-unshare")
        status = gr.Markdown(elem_id="podium-kb-manage-status")
        self.parts = {"picker": picker, "docs": docs, "sources": gr.State([]), "source": gr.State(""),
                      "chunks": gr.Markdown(elem_id="podium-kb-chunks"), "status": status, "drop_doc": drop_doc,
                      "again": again, "drop": drop, "who": who, "give": give, "take": take,
                      "results": gr.Dataframe(headers=["file", "status", "chunks", "reason"], interactive=False,
                                              wrap=True, visible=True, elem_id="podium-kb-reingest-files")}
        return picker

    def wire(self, listing: list[Any]) -> None:
        """Connect the section's controls (``listing``: what refreshes the collections everywhere)."""
        p, light = self.parts, {"concurrency_limit": None, "api_name": False}
        docs_out = [p["docs"], p["sources"], p["chunks"], p["source"]]
        p["picker"].change(self.documents, [p["picker"]], docs_out, **light)
        p["docs"].select(self.open_document, [p["picker"], p["sources"]], [p["chunks"], p["source"]], **light)
        writer = {"concurrency_id": "ingest", "concurrency_limit": 1}
        p["drop_doc"].click(self.drop_document, [p["picker"], p["source"]], [*docs_out, *listing],
                            api_name="delete_document", **writer)
        p["again"].click(self.read_again, [p["picker"], p["source"]], [p["status"], p["results"]],
                         api_name="reingest", **writer)
        p["drop"].click(self.drop_collection, [p["picker"]], [*docs_out, *listing], api_name="delete_collection",
                        js=CONFIRM_DROP, **writer)
        p["give"].click(self.share_with, [p["picker"], p["who"]], [p["who"], *listing], api_name="share", **writer)
        p["take"].click(self.unshare, [p["picker"], p["who"]], [p["who"], *listing], api_name="unshare", **writer)
