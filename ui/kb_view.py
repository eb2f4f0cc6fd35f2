"""Pure conversions for the Knowledge tab: collections, documents, chunks, ingest reports and search hits."""

from __future__ import annotations

import time
from html import escape
from pathlib import PurePosixPath
from typing import Any

from memory.owners import describe
from ui.sources_view import source_label

COLLECTION_HEADERS = ["collection", "documents", "chunks", "embedding model", "updated", "owner", "shared with"]
"""Columns of the collections table."""
FILE_HEADERS = ["file", "status", "chunks", "reason"]
"""Columns of the per-file ingest results."""
HIT_HEADERS = ["#", "similarity", "source", "heading", "passage (click a row to read it all)"]
"""Columns of the search results: ranked by the mode's score, showing each passage's cosine similarity."""
DOCUMENT_HEADERS = ["document", "chunks", "tokens", "added"]
"""Columns of a collection's documents."""
PREVIEW_CHARS = 160
"""Characters of a passage shown in the hits table (the whole passage opens below it)."""


def _get(item: Any, key: str, default: Any = None) -> Any:
    return item.get(key, default) if isinstance(item, dict) else getattr(item, key, default)


def when(ts: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM`` local time ("-" when unknown)."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def collection_rows(collections: list[dict[str, Any]]) -> list[list[Any]]:
    """``KnowledgeBase.collections()`` as table rows."""
    return [[c["name"], c.get("documents", 0), c.get("chunks", 0), c.get("embedder", "?"), when(c.get("updated")),
             c.get("owner", "-"), describe(c.get("shared") or [])] for c in collections]


def file_rows(files: list[Any]) -> list[list[Any]]:
    """Per-file ingest results, failures first (they are what the user must act on), reasons in full."""
    ordered = sorted(files, key=lambda f: _get(f, "status") != "failed")
    return [[_get(f, "source"), _get(f, "status"), _get(f, "chunks", 0), _get(f, "reason", "") or ""] for f in ordered]


def ingest_summary(report: Any) -> str:
    """One Markdown line: counts per status, chunks written and time taken."""
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("added", "updated", "unchanged", "failed") if report.count(s))
    head = f"**{report.collection}**: {counts or 'no files'} · {report.chunks} chunks in {report.seconds:.1f}s"
    if report.failed:
        head += f"  \n⚠ {len(report.failed)} file(s) could not be ingested; see the reasons below."
    return head


def hit_rows(hits: list[Any]) -> list[list[Any]]:
    """Ranked search hits (``memory.retrieval.Hit`` or dicts) as table rows, best first."""
    rows = []
    for rank, hit in enumerate(hits, 1):
        text = " ".join(str(_get(hit, "text", "") or "").split())
        similarity = _get(hit, "similarity")
        rows.append([rank, round(similarity, 3) if isinstance(similarity, int | float) else "-",
                     source_label({"source": _get(hit, "source", "?")}), _get(hit, "heading", "") or "",
                     text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"])
    return rows


def hit_detail(hit: dict[str, Any], rank: int) -> str:
    """One hit in full: where it is (document, heading, passage number, page), its scores and its whole text."""
    where = [f"passage {int(hit.get('chunk', 0)) + 1}"]
    if hit.get("page"):
        where.append(f"p. {hit['page']}")
    score = hit.get("score")
    scores = f"similarity {hit.get('similarity', 0):.3f}" + (f" · rank score {score:.4f}" if score is not None else "")
    head = f"**#{rank} · {escape(source_label(hit))}** ({', '.join(where)}; {scores})"
    return f"{head}\n\n<blockquote>{escape(str(hit.get('text', '')))}</blockquote>"


def document_rows(documents: list[dict[str, Any]]) -> list[list[Any]]:
    """``memory.documents.document_list`` as table rows."""
    return [[d["source"], d["chunks"], d["tokens"], when(d.get("added"))] for d in documents]


def chunks_markdown(source: str, chunks: list[dict[str, Any]]) -> str:
    """A document's chunks in order, each one opening onto its text."""
    if not chunks:
        return ""
    parts = [f"**{escape(source)}**: {len(chunks)} chunks, {sum(c['tokens'] for c in chunks)} tokens"]
    for c in chunks:
        label = f"{c['chunk'] + 1}. {escape(c['heading'] or '(no heading)')}" + (f" · p. {c['page']}" if c.get("page")
                                                                             else "") + f" · {c['tokens']} tokens"
        parts.append(f"<details><summary>{label}</summary><blockquote>{escape(c['text'])}</blockquote></details>")
    return "\n".join(parts)


def relative_names(uploaded: list[str], relative: list[str]) -> list[tuple[str, str]]:
    """``(temp path, name inside the chosen folder)`` for a folder upload.

    The browser knows each file's path inside the folder (``webkitRelativePath``: ``docs/sub/a.md``);
    the upload keeps only the file name, so names are matched by file name, in order. The folder's own
    name is dropped, as the command line names files relative to the folder it was given.
    """
    pool: dict[str, list[str]] = {}
    for rel in relative:
        parts = PurePosixPath(rel).parts
        pool.setdefault(parts[-1] if parts else rel, []).append("/".join(parts[1:]) if len(parts) > 1 else rel)
    out = []
    for path in uploaded:
        name = PurePosixPath(path.replace("\\", "/")).name
        matches = pool.get(name) or []
        out.append((path, matches.pop(0) if matches else name))
    return out
