"""Where the model layer's events go: the running graph's custom stream (notices, retractions), if any."""

from __future__ import annotations

from typing import Any

from langgraph.config import get_stream_writer


def stream_event(kind: str, **data: Any) -> None:
    """Send an event on the running graph's custom stream (shown live by every front end); a no-op outside a run."""
    try:
        get_stream_writer()({"kind": kind, **data})
    except RuntimeError:  # called outside a graph run (a unit test of a helper)
        pass
