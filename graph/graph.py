"""The conductor graph, top to bottom: nodes, routers, edges, compile."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import ToolMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.chat import chat
from agents.conductor import conductor
from agents.knowledge import knowledge
from agents.tools import approval, pending_calls, tools
from graph.context import Context
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
) -> CompiledStateGraph:
    """Compile the conductor graph, with a checkpointer for durable threads."""
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("conductor", conductor)
    builder.add_node("chat", chat)
    builder.add_node("knowledge", knowledge)
    builder.add_node("tools", tools)
    builder.add_node("approval", approval)

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


def make_graph() -> CompiledStateGraph:
    """Entry point for LangGraph's CLI and Studio (``langgraph.json``); they bring their own checkpointer."""
    return build_graph()
