"""Where the model layer's events go: the running graph's custom stream (notices, retractions), if any."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from langgraph.config import get_stream_writer

PLAN_STEP: ContextVar[int | None] = ContextVar("podium_plan_step", default=None)
"""The plan step whose work runs in this context: its events carry the step's number, and its answer tokens
and retractions become ``step_token``/``step_retract`` (the step's output; the plan's answer comes at its end)."""
_STEP_KINDS = {"token": "step_token", "retract": "step_retract"}


def stream_event(kind: str, **data: Any) -> None:
    """Send an event on the running graph's custom stream (shown live by every front end); a no-op outside a run."""
    step = PLAN_STEP.get()
    if step is not None:
        kind, data = _STEP_KINDS.get(kind, kind), {**data, "step": step}
    try:
        get_stream_writer()({"kind": kind, **data})
    except RuntimeError:  # called outside a graph run (a unit test of a helper)
        pass
