"""The conductor's state: the conversation plus what specialists produce each turn."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class State(TypedDict, total=False):
    """Graph state, checkpointed after every step.

    ``messages`` accumulate over the thread; the other fields describe the
    current turn and are reset by the conductor when a turn starts.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    """The whole conversation (trimmed only in what is sent to a model, never here)."""
    route: str
    """The specialist the conductor chose for this turn."""
    route_reason: str
    """Why it chose it (the rule, the similarity, or the router model's answer)."""
    query: str
    """This turn's question as specialists should search with it: the message itself, or joined to
    the previous question when it only follows that one up ("And when are they active?")."""
    collection: str | None
    """The knowledge collection this turn is scoped to (``--collection``, or the one a follow-up followed)."""
    sources: list[dict[str, Any]]
    """Citations of this turn's answer: ``{source, heading, score, ...}``."""
    tool_calls: list[dict[str, Any]]
    """Tool calls of this turn: ``{name, args, result, error, approved}`` in call order."""
    artifacts: list[dict[str, Any]]
    """Files, datasets, reports or models a specialist produced this turn."""
    notices: list[str]
    """Things the user should know about this turn (trimmed history, escalations, budget)."""


TURN_FIELDS: dict[str, Any] = {"sources": [], "tool_calls": [], "artifacts": [], "notices": []}
"""Per-turn fields and their empty values, reset at the start of every turn."""
