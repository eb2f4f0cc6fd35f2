"""Errors as the web app words them: its own controls, not the command line's flags.

Podium's errors name what to fix in terms of the CLI (``--model``, ``podium ingest PATH``);
in the browser the same advice points at the Model picker, the Settings panel and the
Knowledge tab. A prompt too long for a model also says why it "holds" fewer tokens than the
Models tab lists: the answer's share of the context is kept free.
"""

from __future__ import annotations

import re
from typing import Any

from podium.errors import ContextOverflowError, PodiumError

WEB_WORDS: tuple[tuple[str, str], ...] = (
    (r"(?<![\w-])--model: ", "Model: "),
    (r"\(--model\)", "(the Model picker)"),
    (r"(?<![\w-])--model\b", "the Model picker"),
    (r"(?<![\w-])--fallback: ", "Fallbacks: "),
    (r"\(--fallback\)", "(Settings: Fallbacks)"),
    (r"(?<![\w-])--fallback\b", "the Fallbacks setting"),
    (r"(?<![\w-])--policy: ", "Routing policy: "),
    (r"(?<![\w-])--policy\b", "the Routing policy setting"),
    (r"(?<![\w-])--collection:? ", "the Knowledge collection picker: "),
    (r"`?podium ingest PATH(?: --collection [\w.-]+)?`?", "the Knowledge tab (Add documents)"),
    (r"`?podium kb list`?", "the Knowledge tab"),
    (r"list threads with `podium threads`, or omit --thread to start one", "pick a thread from the list"),
    (r"`?podium resume [\w-]+(?: --approve \| --reject \| --edit (?:JSON|'\{\.\.\.\}'))?`?",
     "the Approve / Edit / Reject buttons"),
    (r"--approve, --reject or --edit '\{\.\.\.\}'", "Approve, Edit or Reject"),
)
"""(pattern, replacement) pairs applied in order."""


def web_words(text: str) -> str:
    """``text`` with command-line advice turned into the app's."""
    for pattern, replacement in WEB_WORDS:
        text = re.sub(pattern, replacement, text)
    return text


def context_note(exc: ContextOverflowError, pool: Any) -> str:
    """Why a model "holds" fewer tokens than its context: the rest is kept for the answer."""
    try:
        context = pool.spec(exc.model).context_length
    except (PodiumError, AttributeError):
        return ""
    kept = context - exc.context_length
    return f" ({context:,}-token context less {kept:,} kept for the answer)" if kept > 0 else ""


def friendly(exc: Exception) -> str:
    """An error as one line for a toast, in the app's words."""
    return web_words(exc.one_line()) if isinstance(exc, PodiumError) else f"{type(exc).__name__}: {exc}"


def web_error(exc: PodiumError, pool: Any = None) -> tuple[str, str]:
    """``(message, hint)`` of an error, worded for the web app."""
    message = exc.message
    if isinstance(exc, ContextOverflowError) and pool is not None:
        message += context_note(exc, pool)
    return web_words(message), web_words(exc.hint)
