"""The Knowledge tab: upload files or a folder into a collection, list collections, search them, manage them.

Thin wiring over ``memory`` and :mod:`ui.kb_view`. Every handler works on the knowledge base as
the signed-in user sees it (:func:`memory.access.scoped`): their collections and those shared with
them; without ``--auth`` the app is the machine's own and sees all. Ingesting is queued one at a
time (``ingest`` group: embedding is CPU-bound and the store has one writer); listing and
searching have no limit, so they never wait behind it. Managing a collection (documents, chunks,
delete, re-ingest, share) is :mod:`ui.gradio_kb_manage`.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from memory.access import scoped
from podium.errors import PodiumError
from ui.gradio_events import PRIVATE
from ui.gradio_kb_manage import KnowledgeManager
from ui.kb_view import (
    COLLECTION_HEADERS,
    FILE_HEADERS,
    HIT_HEADERS,
    collection_rows,
    file_rows,
    hit_detail,
    hit_rows,
    ingest_summary,
    relative_names,
)
from ui.web_errors import friendly

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "default"
NO_COLLECTION = ("No collection: Podium decides", "")
"""The Chat tab's first collection choice."""
GRAB_FOLDER_PATHS = """
document.addEventListener('change', (event) => {
  const input = event.target;
  if (!input || !input.matches || !input.matches('input[type=file][webkitdirectory]')) return;
  const box = document.querySelector('#podium-kb-folder-paths textarea, #podium-kb-folder-paths input');
  if (!box) return;
  box.value = JSON.stringify(Array.from(input.files).map((f) => f.webkitRelativePath || f.name));
  box.dispatchEvent(new Event('input', {bubbles: true}));
}, true);
"""
"""Page script: a folder upload keeps only file names, so the browser's paths inside the folder are sent beside it."""


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


def refuse(message: str, outputs: int, duration: float = 8) -> Any:
    """A warning toast, and every output left as it is (a raised ``gr.Error`` would blank them)."""
    gr.Warning(message, duration=duration)
    return (gr.skip(),) * outputs if outputs > 1 else gr.skip()


class KnowledgeTab:
    """Handlers of the Knowledge tab: plain methods, so tests call them without a server."""

    def __init__(self, podium: Any, chat: Any = None) -> None:
        self.podium = podium
        self.chat = chat
        """The Chat tab's handlers: who the signed-in user is."""
        self.outputs: list[Any] = []
        """What :meth:`listing` updates: the collections table and the collection pickers."""
        self.manager = KnowledgeManager(self)

    def kb(self, request: gr.Request | None) -> Any:
        """The knowledge base as this user sees it."""
        user = self.chat.user(request) if self.chat is not None else None
        return scoped(self.podium.knowledge, user)

    @property
    def on_load(self) -> list[tuple[Any, Any, list[Any]]]:
        """Refreshed on every page load: the collections (ingested since, by the CLI too)."""
        return [(self.listing, None, self.outputs)] if self.outputs else []

    def names(self, request: gr.Request | None) -> list[str]:
        """Collections this user can use (none before the first ingest)."""
        kb = self.kb(request)
        return [c["name"] for c in kb.collections()] if kb.usable() else []

    def listing(self, request: gr.Request) -> tuple[Any, ...]:
        """The collections table and the pickers (chat, search, manage), refreshed."""
        kb = self.kb(request)
        rows = collection_rows(kb.collections()) if kb.usable() or kb.catalog() else []
        names = [r[0] for r in rows]
        first = names[0] if names else None
        return (rows, gr.Dropdown(choices=[NO_COLLECTION, *names]), gr.Dropdown(choices=names, value=first),
                gr.Dropdown(choices=names, value=first))

    def ingest(self, files: list[str] | None, folder: list[str] | None, folder_paths: str, collection: str,
               request: gr.Request, progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - Gradio's idiom
        """Ingest the uploaded files and folder (kept in the data dir, so re-ingesting can read them again)."""
        from memory.ingest import ingest

        outputs = 3 + len(self.outputs)
        if not files and not folder:
            return refuse("Choose files or a folder to upload first.", outputs, 6)
        name = (collection or DEFAULT_COLLECTION).strip()
        kb = self.kb(request)
        try:
            kb.collection(name, create=True)  # ownership and the name are checked before anything is copied
            keep = self.podium.knowledge.folder / "uploads" / name
            named = [(Path(f).name, self._keep(f, keep / "files" / Path(f).name)) for f in files or []]
            try:
                relative = json.loads(folder_paths or "[]")
            except ValueError:
                relative = []
            named += [(rel, self._keep(f, keep / "folder" / rel)) for f, rel in relative_names(folder or [], relative)]
            report = ingest(kb, [], name, named=named, progress=_Bar(progress))
        except PodiumError as exc:
            return refuse(friendly(exc), outputs, 10)
        return ingest_summary(report), file_rows(report.files), "", *self.listing(request)

    @staticmethod
    def _keep(upload: str, target: Path) -> Path:
        """A copy of an upload in the data dir (Gradio's temporary files do not last)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(upload, target)
        return target

    def search(self, query: str, collection: str | None, k: float, mode: str,
               request: gr.Request) -> tuple[Any, Any, Any]:
        """Ranked hits for a query in one collection, and the hits themselves (a clicked row opens one)."""
        if not (query or "").strip():
            return refuse("Type something to search for.", 3, 5)
        if not collection:
            return refuse("There is no collection yet: upload documents first.", 3, 6)
        try:
            hits = self.kb(request).search(query.strip(), collection, k=int(k), mode=mode)
        except PodiumError as exc:
            return refuse(friendly(exc), 3, 10)
        if not hits:
            gr.Info(f"No matches in {collection!r}.")
        found = [h.to_dict() for h in hits]
        return hit_rows(hits), found, hit_detail(found[0], 1) if found else ""

    @staticmethod
    def open_hit(found: list[dict[str, Any]], evt: gr.SelectData) -> str:
        """A clicked hit, in full."""
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        return hit_detail(found[row], row + 1) if found and 0 <= int(row) < len(found) else ""

    def build(self, chat_collection: gr.Dropdown) -> None:
        """Lay out the tab (inside an open ``gr.Tab``) and wire its events."""
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                gr.Markdown("### Add documents\nMarkdown, text, HTML, reStructuredText, PDF, JSON and source "
                            "code. Unchanged files are skipped; a bad file is listed with its reason.")
                files = gr.File(file_count="multiple", label="Files", elem_id="podium-kb-files")
                folder = gr.UploadButton("Choose a folder…", file_count="directory", elem_id="podium-kb-folder",
                                         size="sm")
                folder_paths = gr.Textbox(visible="hidden", elem_id="podium-kb-folder-paths")
                chosen = gr.Markdown(elem_id="podium-kb-folder-chosen")
                name = gr.Textbox(DEFAULT_COLLECTION, label="Collection", elem_id="podium-kb-collection")
                add = gr.Button("Ingest", variant="primary", elem_id="podium-kb-ingest")
                summary = gr.Markdown(elem_id="podium-kb-summary")
                results = gr.Dataframe(headers=FILE_HEADERS, interactive=False, wrap=True, label="Files",
                                       elem_id="podium-kb-files-result", column_widths=["28%", "19%", "18%", "35%"])
            with gr.Column(scale=3, min_width=300):
                gr.Markdown("### Collections")
                table = gr.Dataframe(headers=COLLECTION_HEADERS, interactive=False, wrap=True,
                                     elem_id="podium-kb-collections",  # every column in view, owner and sharing too
                                     column_widths=["16%", "13%", "10%", "20%", "16%", "10%", "15%"])
                refresh = gr.Button("↻ Refresh", size="sm")
                gr.Markdown("### Search\nHits are ranked by the mode's score (hybrid: dense and BM25 fused by "
                            "rank); **similarity** is the passage's cosine similarity to the query (0 to 1).")
                with gr.Row():
                    query = gr.Textbox(show_label=False, placeholder="Search the collection", scale=4,
                                       elem_id="podium-kb-query")
                    where = gr.Dropdown([], label="Collection", scale=2, elem_id="podium-kb-search-collection")
                    find = gr.Button("Search", scale=1, elem_id="podium-kb-search")
                with gr.Row():
                    k = gr.Slider(1, 20, value=5, step=1, label="Hits")
                    mode = gr.Radio(["hybrid", "dense", "bm25"], value="hybrid", label="Mode")
                hits = gr.Dataframe(headers=HIT_HEADERS, interactive=False, wrap=True, elem_id="podium-kb-hits",
                                    column_widths=["6%", "16%", "19%", "17%", "42%"])
                found = gr.State([])
                passage = gr.Markdown(elem_id="podium-kb-passage")
                manage = self.manager.build()
        self.outputs = [table, chat_collection, where, manage]
        folder.upload(lambda fs: f"{len(fs or [])} files chosen from the folder.", [folder], [chosen], **PRIVATE,
                      concurrency_limit=None, show_progress="hidden")
        add.click(self.ingest, [files, folder, folder_paths, name], [summary, results, chosen, *self.outputs],
                  api_name="ingest", concurrency_id="ingest", concurrency_limit=1)
        refresh.click(self.listing, None, self.outputs, api_name="collections", concurrency_limit=None)
        gr.on([query.submit, find.click], self.search, [query, where, k, mode], [hits, found, passage],
              api_name="search", concurrency_limit=None)
        hits.select(self.open_hit, [found], [passage], **PRIVATE, concurrency_limit=None)
        self.manager.wire(self.outputs)


def add_knowledge_tab(podium: Any, parts: Any) -> KnowledgeTab | None:
    """Add the Knowledge tab (inside ``gr.Tabs``) when this Podium has a knowledge base."""
    if getattr(podium, "knowledge", None) is None:
        return None
    tab = KnowledgeTab(podium, parts.chat)
    with gr.Tab("Knowledge", id="knowledge"):
        tab.build(parts.collection)
    return tab
