"""The conductor graph, top to bottom: nodes, routers, edges, compile.

It is assembled from the specialist registry (:mod:`agents.registry`): each specialist
adds its node, its helper nodes and its exit edge; nothing here names one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.conductor import conductor
from agents.contract import Context, Specialist, State
from agents.registry import SPECIALISTS
from tools import select

RESERVED = frozenset({"conductor", START, END})
"""Node names a specialist cannot take."""


def router_for(specialists: Iterable[Specialist]) -> Callable[[State], str]:
    """The router after the conductor: the specialist it chose, which must be one of ``specialists``."""
    names = [s.name for s in specialists]

    def route_turn(state: State) -> str:
        """Send the turn to the specialist the conductor chose."""
        route = state.get("route")
        if route not in names:
            raise ValueError(f"conductor chose unknown specialist {route!r}; known: {sorted(names)}")
        return route

    return route_turn


route_turn = router_for(SPECIALISTS)
"""The router of the default registry."""


def check_registry(specialists: tuple[Specialist, ...]) -> None:
    """Raise at build time for a registry a graph cannot be made of (a developer's mistake, said plainly)."""
    seen: set[str] = set()
    for specialist in specialists:
        for name in (specialist.name, *specialist.helpers):
            if name in RESERVED:
                raise ValueError(f"specialist node name {name!r} is reserved")
            if name in seen:
                raise ValueError(f"specialist node {name!r} is registered twice")
            seen.add(name)
        if not specialist.description.strip():
            raise ValueError(f"specialist {specialist.name!r} needs a one-line description")
        select(specialist.tools)  # an unknown tool name raises ToolDefinitionError


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    specialists: tuple[Specialist, ...] = SPECIALISTS,
    interrupt_before: list[str] | None = None,
    context_schema: type = Context,
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda node: node,
) -> CompiledStateGraph:
    """Compile the conductor graph over ``specialists``, with a checkpointer for durable threads.

    ``context_schema`` and ``wrap`` (applied to every node) let other hosts, such as
    LangGraph Studio, bring a context of their own (see :mod:`graph.studio`).
    """
    check_registry(specialists)
    builder = StateGraph(State, context_schema=context_schema)
    builder.add_node("conductor", wrap(conductor))
    for specialist in specialists:
        builder.add_node(specialist.name, wrap(specialist.node))
        for name, helper in specialist.helpers.items():
            builder.add_node(name, wrap(helper))

    # Every turn starts with a routing decision, so specialists never guess whose turn it is.
    builder.add_edge(START, "conductor")
    # The conductor's choice, read from state, picks exactly one specialist.
    builder.add_conditional_edges("conductor", router_for(specialists), [s.name for s in specialists])
    for specialist in specialists:
        if specialist.after is None:
            # Its answer ends the turn; the next user message starts a new one.
            builder.add_edge(specialist.name, END)
        else:
            # It loops through its helpers (tools: approval, where side effects wait for a human) until it answers.
            builder.add_conditional_edges(specialist.name, specialist.after,
                                          [*specialist.helpers, specialist.name, END])
        for name in specialist.helpers:
            builder.add_edge(name, specialist.name)

    return builder.compile(checkpointer=checkpointer, interrupt_before=interrupt_before or None, name="podium")
