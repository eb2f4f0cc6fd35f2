"""The specialists the conductor leads, in one place: adding one is a new file in ``agents/`` and one line here.

Order matters twice: it is the order of the graph's nodes, and the order in which the
specialists' routing rules are tried (the first match wins), so the narrowest rules come first.
"""

from __future__ import annotations

from agents import chat, datasets, evaluation, finetune, knowledge, tools
from agents.contract import Specialist

SPECIALISTS: tuple[Specialist, ...] = (
    chat.SPECIALIST,
    tools.SPECIALIST,
    datasets.SPECIALIST,
    evaluation.SPECIALIST,
    finetune.SPECIALIST,
    knowledge.SPECIALIST,
)
"""Every specialist node; ``graph.graph.build_graph`` adds one node (and its helpers) per entry."""


def find(name: str, specialists: tuple[Specialist, ...] = SPECIALISTS) -> Specialist | None:
    """The specialist called ``name``, if any."""
    return next((s for s in specialists if s.name == name), None)


def tool_users(specialists: tuple[Specialist, ...] = SPECIALISTS) -> dict[str, list[str]]:
    """For each tool name, the specialists allowed to call it."""
    users: dict[str, list[str]] = {}
    for specialist in specialists:
        for name in specialist.tools:
            users.setdefault(name, []).append(specialist.name)
    return users
