"""Pure conversions for the Knowledge tab: collections, ingest reports and search hits as table rows."""

from __future__ import annotations

import time
from typing import Any

from ui.chat_view import source_label

COLLECTION_HEADERS = ["collection", "documents", "chunks", "embedding model", "updated"]
"""Columns of the collections table."""
FILE_HEADERS = ["file", "status", "chunks", "reason"]
"""Columns of the per-file ingest results."""
HIT_HEADERS = ["#", "score", "similarity", "source", "heading", "text"]
"""Columns of the search results."""


def _get(item: Any, key: str, default: Any = None) -> Any:
    return item.get(key, default) if isinstance(item, dict) else getattr(item, key, default)


def when(ts: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM`` local time ("-" when unknown)."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def collection_rows(collections: list[dict[str, Any]]) -> list[list[Any]]:
    """``KnowledgeBase.collections()`` as table rows."""
    return [[c["name"], c.get("documents", 0), c.get("chunks", 0), c.get("embedder", "?"), when(c.get("updated"))]
            for c in collections]


def file_rows(files: list[Any]) -> list[list[Any]]:
    """Per-file ingest results, failures first (they are what the user must act on)."""
    ordered = sorted(files, key=lambda f: _get(f, "status") != "failed")
    return [[_get(f, "source"), _get(f, "status"), _get(f, "chunks", 0), _get(f, "reason", "") or ""] for f in ordered]


def ingest_summary(report: Any) -> str:
    """One Markdown line: counts per status, chunks written and time taken."""
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("added", "updated", "unchanged", "failed") if report.count(s))
    head = f"**{report.collection}**: {counts or 'no files'} · {report.chunks} chunks in {report.seconds:.1f}s"
    if report.failed:
        head += f"  \n⚠ {len(report.failed)} file(s) could not be ingested; see the reasons below."
    return head


def hit_rows(hits: list[Any], snippet: int = 240) -> list[list[Any]]:
    """Ranked search hits (``memory.retrieval.Hit`` or dicts) as table rows, best first."""
    rows = []
    for rank, hit in enumerate(hits, 1):
        text = " ".join(str(_get(hit, "text", "") or "").split())
        score, similarity = _get(hit, "score"), _get(hit, "similarity")
        rows.append([rank, round(score, 4) if isinstance(score, int | float) else "-",
                     round(similarity, 3) if isinstance(similarity, int | float) else "-",
                     source_label({"source": _get(hit, "source", "?")}), _get(hit, "heading", "") or "",
                     text if len(text) <= snippet else text[: snippet - 1] + "…"])
    return rows
