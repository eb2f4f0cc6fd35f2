"""knowledge_search: the relevant passages of the user's ingested documents, fenced as quoted data, with sources."""

from __future__ import annotations

from typing import Any

from memory.passages import FENCE_NOTE, fence, plain, retrieve
from podium.errors import NotFoundError
from tools.registry import ToolError, tool

TOP_K = 4
"""Passages returned per search."""
PASSAGE_CHARS = 400
"""Characters of each passage shown (the source says where to read the rest)."""


def _answer(args: dict[str, Any], result: str) -> str:
    """The templated answer of a local model: the passages as plain lines, or what the search said."""
    lines = plain(result)
    return f"From the documents:\n{lines}" if lines else result


@tool(
    examples=[("Search my documents for the refund policy", {"query": "refund policy"})],
    answer=_answer,
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
        found = retrieve(kb, query, collection, TOP_K)
    except NotFoundError:
        names = ", ".join(c["name"] for c in kb.collections()) or "none yet"
        raise ToolError(f"there is no knowledge collection {collection!r} (collections: {names}); "
                        f"add documents with `podium ingest PATH`") from None
    if not found.relevant:  # below the relevance floor nothing reaches the model: it would only mislead
        closest = f"; the closest passage, in {found.closest.source}, is unrelated" if found.closest else ""
        return f"Nothing relevant to {query!r} in the knowledge collection {collection!r}{closest}."
    return f"{FENCE_NOTE}\n{fence(found.relevant, chars=PASSAGE_CHARS)}"
