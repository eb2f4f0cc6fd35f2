"""Citations as the web app shows them: numbered exactly as the answer cites them, each one opening its passage.

Pure functions (no Gradio). A source is a dict from the knowledge specialist's state
(``{n, source, heading, similarity, page, cited, text, chunk, collection}``).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

PASSAGE_CHARS = 1200
"""Characters of a cited passage shown when its source is opened (the Knowledge tab shows the whole chunk)."""


def source_label(source: dict[str, Any]) -> str:
    """``file — heading`` for one citation; absolute paths shortened to the file name."""
    name = str(source.get("source") or source.get("file") or "?")
    if Path(name).is_absolute():
        name = Path(name).name
    heading = source.get("heading") or ""
    return f"{name} — {heading}" if heading else name


def _facts(src: dict[str, Any]) -> str:
    similarity = src.get("similarity")
    facts = [f"similarity {similarity:.2f}" if isinstance(similarity, int | float) else "",
             f"p. {src['page']}" if src.get("page") else ""]
    joined = ", ".join(f for f in facts if f)
    return f" ({joined})" if joined else ""


def _where(src: dict[str, Any]) -> str:
    """Where the passage sits: its chunk of the document and its collection."""
    parts = []
    if isinstance(src.get("chunk"), int):
        parts.append(f"passage {src['chunk'] + 1} of {src['source']}")
    if src.get("collection"):
        parts.append(f"collection {src['collection']}")
    return " · ".join(parts)


def source_item(src: dict[str, Any], number: int) -> str:
    """One citation: ``[n] file — heading (similarity)``, opening onto the passage when its text is known.

    The number is written out, not left to a Markdown list, which would renumber "1, 4" as "1, 2".
    """
    head = f"[{number}] {escape(source_label(src))}{_facts(src)}"
    text = " ".join(str(src.get("text") or "").split())
    if not text:
        return f"<p class=\"podium-source\">{head}</p>"
    if len(text) > PASSAGE_CHARS:
        text = text[: PASSAGE_CHARS - 1] + "…"
    where = _where(src)
    foot = f"<br><small>{escape(where)}</small>" if where else ""
    return (f"<details class=\"podium-source\"><summary>{head}</summary>"
            f"<blockquote>{escape(text)}{foot}</blockquote></details>")


def sources_block(sources: list[dict[str, Any]]) -> str:
    """Citations under an answer, with file, heading, page and cosine similarity; each opens its passage.

    The similarity (0..1) is shown, not the rank-fusion score: a fused score of 0.03 would
    read as 3% confidence for a passage that matches the question well. When the specialist
    marks which passages the answer ``cited``, only those are listed, under the numbers the
    answer uses; otherwise every retrieved passage is.
    """
    if not sources:
        return ""
    shown = [s for s in sources if s.get("cited")] or sources
    items = [source_item(src, int(src.get("n") or i)) for i, src in enumerate(shown, 1)]
    return "**Sources**\n\n" + "\n".join(items)


def passages_block(sources: list[dict[str, Any]]) -> str:
    """Every passage a step retrieved (cited or not), for the Knowledge step's message."""
    return "\n".join(source_item(src, int(src.get("n") or i)) for i, src in enumerate(sources, 1))
