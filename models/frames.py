"""Streamed text joined into display frames: whoever reads the stream wakes at most once a frame.

Every piece a model streams costs more than its generation on the way to the reader: a chunk
object, the callbacks (LangGraph's ``messages`` stream, stop checks), a hand-off from the graph's
worker thread to the consumer's, an event, a fold. A local model on a fast machine yields a token
every few milliseconds, so on a small machine that path competed with llama.cpp for the CPU.
A display shows about 60 frames a second, so :class:`Frames` holds pieces that come sooner than
one frame after the last piece sent and sends them together with the next one: the first piece
goes at once (time to first token is untouched), nothing is lost or reordered, and a held piece
waits at most one token (the next piece, or the end of the stream, sends it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

FRAME_S = 0.016
"""Default frame: about one display refresh at 60 Hz."""


class Frames:
    """Decides which streamed text to send now; ``frame_s=0`` sends every piece as it comes."""

    def __init__(self, frame_s: float = FRAME_S, clock: Callable[[], float] = time.perf_counter) -> None:
        self.frame_s = frame_s
        self.clock = clock
        self.held = ""
        """Text received but not sent yet."""
        self._sent: float | None = None

    def add(self, text: str) -> str:
        """Take a piece; return the text to send now (``""``: hold it for now)."""
        self.held += text
        if not self.held:
            return ""
        now = self.clock()
        if self._sent is not None and now - self._sent < self.frame_s:
            return ""
        return self.flush(now)

    def flush(self, now: float | None = None) -> str:
        """Everything held, to send now (the stream ended, or something must not wait behind it)."""
        text, self.held = self.held, ""
        if text:
            self._sent = self.clock() if now is None else now
        return text
