"""JSON Lines, read one way everywhere: datasets, fine-tuning conversations, ingested ``.jsonl`` documents.

Blank lines are skipped; the first line that is not JSON stops the read with its number, so each
caller can say which line of which file to fix in its own words.
"""

from __future__ import annotations

import json
from typing import Any


class BadLine(ValueError):
    """A line that is not JSON."""

    def __init__(self, line: int, error: json.JSONDecodeError) -> None:
        super().__init__(f"line {line}: {error.msg} (column {error.colno})")
        self.line = line
        """Its number, from 1."""
        self.msg = error.msg
        """What json found wrong."""
        self.column = error.colno
        """Where on the line, from 1."""


def records(text: str) -> list[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of ``text``; :class:`BadLine` for the first that is not JSON."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise BadLine(number, exc) from None
    return out
