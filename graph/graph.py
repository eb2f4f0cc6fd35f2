"""The conductor graph, top to bottom: nodes, routers, edges, compile.

It is assembled from the specialist registry (:mod:`agents.registry`): each specialist
adds its node, its helper nodes and its exit edge; nothing here names one. Three nodes run
plans, whatever the specialists (:mod:`agents.plans`): ``plan_step``, ``plan`` and ``plan_approval``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from agents.conductor import conductor
from agents.contract import Context, Specialist, State
from agents.plans import next_steps, plan, plan_approval, plan_step
from agents.registry import SPECIALISTS
from tools import select

RESERVED = frozenset({"conductor", "plan", "plan_step", "plan_approval", START, END})
"""Node names a specialist cannot take."""


def router_for(specialists: Iterable[Specialist]) -> Callable[[State], str | list[Send]]:
    """The router after the conductor: the specialist it chose (one of ``specialists``), or a plan's first steps."""
    names = [s.name for s in specialists]

    def route_turn(state: State) -> str | list[Send]:
        """Send the turn to the specialist the conductor chose, or a plan's ready steps to ``plan_step``."""
        route = state.get("route")
        if route == "plan":
            sends = next_steps(state)
            if not isinstance(sends, list):  # a fresh plan always has a step that uses no other
                raise ValueError(f"the conductor's plan has no step ready to run: {state.get('plan')}")
            return sends
        if route not in names:
            raise ValueError(f"conductor chose unknown specialist {route!r}; known: {sorted(names)}")
        return route

    return route_turn


def after_plan(state: State) -> list[Send] | Literal["plan_approval", "__end__"]:
    """Run the plan's next ready steps, go on with one waiting at a helper, or end the turn with the answer."""
    return next_steps(state)


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
) -> CompiledStateGraph[State, Any, State, State]:
    """Compile the conductor graph over ``specialists``, with a checkpointer for durable threads.

    ``context_schema`` and ``wrap`` (applied to every node) let other hosts, such as
    LangGraph Studio, bring a context of their own (see :mod:`graph.studio`).
    """
    check_registry(specialists)
    builder = StateGraph(State, context_schema=context_schema)
    builder.add_node("conductor", wrap(conductor))
    builder.add_node("plan_step", wrap(plan_step))
    builder.add_node("plan", wrap(plan))
    builder.add_node("plan_approval", wrap(plan_approval))
    for specialist in specialists:
        builder.add_node(specialist.name, wrap(specialist.node))
        for name, helper in specialist.helpers.items():
            builder.add_node(name, wrap(helper))

    # Every turn starts with a routing decision, so specialists never guess whose turn it is.
    builder.add_edge(START, "conductor")
    # The conductor's choice, read from state, picks exactly one specialist, or sends a plan's ready steps.
    builder.add_conditional_edges("conductor", router_for(specialists), [*(s.name for s in specialists), "plan_step"])
    # Steps sent together join before the plan goes on: the next ready steps, a waiting step, or the answer.
    builder.add_edge("plan_step", "plan")
    builder.add_conditional_edges("plan", after_plan, ["plan_step", "plan_approval", END])
    # A step stopped at a helper (an approval) went on from there; the plan picks up where it paused.
    builder.add_edge("plan_approval", "plan")
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
