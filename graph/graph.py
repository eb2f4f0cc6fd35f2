"""The conductor graph, top to bottom: nodes, routers, edges, compile."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.messages import ToolMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agents.chat import chat
from agents.conductor import conductor
from agents.knowledge import knowledge
from agents.tools import approval, pending_calls, tools
from graph.context import Context, StudioContext
from graph.state import State

SPECIALISTS: dict[str, str] = {
    "chat": "general conversation, writing and explanations",
    "knowledge": "questions about the user's ingested documents, answered with citations",
    "tools": "arithmetic, unit conversions, the time, running python, reading workspace files",
}
"""Every specialist node and what it is for (the conductor and the router model read this)."""

Specialist = Literal["chat", "knowledge", "tools"]


def route_turn(state: State) -> Specialist:
    """Send the turn to the specialist the conductor chose."""
    route = state.get("route")
    if route not in SPECIALISTS:
        raise ValueError(f"conductor chose unknown specialist {route!r}; known: {sorted(SPECIALISTS)}")
    return route  # type: ignore[return-value]


def after_tools(state: State) -> Literal["approval", "tools", "__end__"]:
    """A call awaiting approval pauses; fresh results go back to the model; an answer ends the turn."""
    messages = state.get("messages", [])
    if pending_calls(messages):
        return "approval"
    if messages and isinstance(messages[-1], ToolMessage):
        return "tools"
    return END


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    interrupt_before: list[str] | None = None,
    context_schema: type = Context,
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda node: node,
) -> CompiledStateGraph:
    """Compile the conductor graph, with a checkpointer for durable threads.

    ``context_schema`` and ``wrap`` (applied to every node) let other hosts, such as
    LangGraph Studio, bring a context of their own.
    """
    builder = StateGraph(State, context_schema=context_schema)
    builder.add_node("conductor", wrap(conductor))
    builder.add_node("chat", wrap(chat))
    builder.add_node("knowledge", wrap(knowledge))
    builder.add_node("tools", wrap(tools))
    builder.add_node("approval", wrap(approval))

    # Every turn starts with a routing decision, so specialists never guess whose turn it is.
    builder.add_edge(START, "conductor")
    # The conductor's choice, read from state, picks exactly one specialist.
    builder.add_conditional_edges("conductor", route_turn, list(SPECIALISTS))
    # A specialist's answer ends the turn; the next user message starts a new one.
    builder.add_edge("chat", END)
    # A cited answer from the documents (or "nothing found") is the whole turn.
    builder.add_edge("knowledge", END)
    # Tool calls loop through approval (side effects wait for a human) and back until the model answers.
    builder.add_conditional_edges("tools", after_tools, ["approval", "tools", END])
    builder.add_edge("approval", "tools")

    return builder.compile(checkpointer=checkpointer, interrupt_before=interrupt_before or None, name="podium")


_STUDIO: dict[str, Any] = {}
"""The process-wide PodiumApp behind Studio runs, and the Context of each turn (by thread, message, overrides)."""
_STUDIO_LOCK = threading.Lock()


def _studio_context(state: State, given: Any) -> Context:
    """A full Context for a turn run by LangGraph's server, built from ``PODIUM_*`` once per turn.

    A turn is the thread plus its latest user message: every node of the turn (and a resume
    after an approval) shares one Context, so its ledger rows share one turn id.
    """
    from langchain_core.messages import HumanMessage
    from langgraph.config import get_config

    from graph.app import PodiumApp
    from podium.settings import load_settings

    thread = str(get_config().get("configurable", {}).get("thread_id") or "studio")
    asked = next((m.id for m in reversed(state.get("messages", [])) if isinstance(m, HumanMessage)), None)
    overrides = {k: v for k, v in vars(given).items() if v} if isinstance(given, StudioContext) else {}
    key = f"{thread}/{asked}/{json.dumps(overrides, sort_keys=True)}"  # a re-run with other settings is a new turn
    with _STUDIO_LOCK:
        contexts: dict[str, Context] = _STUDIO.setdefault("contexts", {})
        if key not in contexts:
            if "app" not in _STUDIO:
                _STUDIO["app"] = PodiumApp(load_settings())
            while len(contexts) >= 64:
                contexts.pop(next(iter(contexts)))
            contexts[key] = _STUDIO["app"].context(thread, **overrides)
        return contexts[key]


def _podium_context(node: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``node`` a full Podium Context when the run came with Studio's plain one (or none)."""
    @functools.wraps(node)
    def run(state: State, runtime: Runtime[Any]) -> Any:
        if not isinstance(runtime.context, Context):
            runtime = runtime.override(context=_studio_context(state, runtime.context))
        return node(state, runtime)

    return run


def make_graph() -> CompiledStateGraph:
    """Entry point for LangGraph's CLI and Studio (``langgraph.json``); they bring their own checkpointer.

    Runs there carry a :class:`StudioContext` (or nothing): models, ledger, knowledge base and
    tools come from the ``PODIUM_*`` environment, as for ``podium ask``.
    """
    return build_graph(context_schema=StudioContext, wrap=_podium_context)
