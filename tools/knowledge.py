"""knowledge_search: the most relevant passages of the user's ingested documents, with their sources."""

from __future__ import annotations

from typing import Any

from podium.errors import NotFoundError
from tools.registry import ToolError, tool

TOP_K = 4
"""Passages returned per search."""
PASSAGE_CHARS = 400
"""Characters of each passage shown (the source says where to read the rest)."""


@tool(
    examples=[("Search my documents for the refund policy", {"query": "refund policy"})],
    answer=lambda args, result: f"From the documents:\n{result}",
)
def knowledge_search(query: str, collection: str = "default", *, env: Any = None) -> str:
    """Search the user's ingested documents and return the most relevant passages with their sources.

    Args:
        query: What to look for, in the user's words, e.g. 'refund policy for damaged items'.
        collection: The knowledge collection to search; 'default' unless the user named another.
    """
    kb = getattr(env, "knowledge", None)
    if kb is None:
        raise ToolError("no knowledge base is configured")
    try:
        hits = kb.search(query, collection, k=TOP_K)
    except NotFoundError:
        names = ", ".join(c["name"] for c in kb.collections()) or "none yet"
        raise ToolError(f"there is no knowledge collection {collection!r} (collections: {names}); "
                        f"add documents with `podium ingest PATH`") from None
    if not hits:
        return "(nothing found)"
    lines = []
    for n, hit in enumerate(hits, 1):
        where = hit.source + (f" > {hit.heading}" if hit.heading else "")
        text = " ".join(hit.text.split())
        lines.append(f"[{n}] {where} (similarity {hit.similarity:.2f}): {text[:PASSAGE_CHARS]}")
    return "\n".join(lines)
