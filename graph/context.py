"""Run context: the collaborators every node receives through LangGraph's runtime."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from models.ledger import Ledger
from models.registry import ModelPool
from podium.settings import Settings


@dataclass
class Context:
    """Built once per turn by the entry point (CLI, UI, API) and passed as ``context=``."""

    settings: Settings
    """The process's settings."""
    models: ModelPool
    """Lazily built models, shared across turns."""
    ledger: Ledger | None = None
    """Where every model call is recorded; ``None`` only in graph-structure tests."""
    model: str = ""
    """Spec of the model answering this turn (default: ``settings.model``)."""
    fallbacks: list[str] = field(default_factory=list)
    """Specs tried in order when ``model`` fails."""
    agent_models: dict[str, str] = field(default_factory=dict)
    """Per-specialist model specs, overriding ``model``."""
    policy: str = ""
    """Routing policy for this turn (default: ``settings.policy``); see :mod:`models.routing`."""
    system_prompt: str | None = None
    """System prompt for the chat specialist (default: ``settings.system_prompt``)."""
    few_shot: list[tuple[str, str]] = field(default_factory=list)
    """Example (user, assistant) exchanges placed before the conversation."""
    collection: str | None = None
    """Knowledge collection this turn is scoped to."""
    thread_id: str = ""
    """The thread being run."""
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Identifies this turn's ledger entries."""
    services: dict[str, Any] = field(default_factory=dict)
    """Other collaborators by name (knowledge base, tool registry...), built by the entry point."""

    def model_for(self, node: str) -> str:
        """The model spec a specialist uses this turn."""
        # A turn's explicit choice beats configuration; per-agent settings beat the default model.
        return (self.agent_models.get(node) or self.model or self.settings.agent_models.get(node)
                or self.settings.model)


@dataclass
class StudioContext:
    """What LangGraph Studio or ``langgraph dev`` may set for a run; the rest comes from ``PODIUM_*``.

    Plain fields, so Studio can show them as a form. ``make_graph`` turns them into a full
    :class:`Context` with the process's models, ledger, knowledge base and tools.
    """

    model: str = ""
    """Model spec answering the run (default: ``PODIUM_MODEL``)."""
    fallbacks: list[str] = field(default_factory=list)
    """Specs tried in order when ``model`` fails (default: ``PODIUM_FALLBACKS``)."""
    policy: str = ""
    """Routing policy (default: ``PODIUM_POLICY``)."""
    collection: str | None = None
    """Knowledge collection the run is scoped to."""
    system_prompt: str | None = None
    """System prompt of the chat specialist."""
