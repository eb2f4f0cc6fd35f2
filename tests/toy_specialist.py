"""A toy specialist written exactly as one in ``agents/`` is, for the contract tests: it answers in capitals."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from agents.common import call_model, last_user_text
from agents.contract import Context, Rule, Specialist, State


def shout(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the turn's model, through the engine in the run context, and answer."""
    ctx = runtime.context
    reply = call_model(ctx, "shout", [SystemMessage("Answer in capitals."), HumanMessage(last_user_text(state))])
    return {"messages": [reply], "notices": [f"shouted with {ctx.model_for('shout')}"]}


SPECIALIST = Specialist(
    name="shout",
    node=shout,
    description="repeats what the user says, loudly",
    tools=("calculator",),
    examples=("shout hello", "shout that I am here"),
    rules=(Rule(re.compile(r"^\s*shout\b", re.I), "asks to shout"),),
)
