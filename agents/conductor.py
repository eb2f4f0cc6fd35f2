"""The conductor: picks the specialist for each turn by rules, never by a tiny model's whim."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from agents.common import call_model, notify
from graph.state import TURN_FIELDS

if TYPE_CHECKING:
    from graph.context import Context
    from graph.state import State


@dataclass(frozen=True)
class Rule:
    """Route a turn to ``route`` when ``pattern`` matches its text."""

    route: str
    pattern: re.Pattern[str]
    why: str


# Ordered: the first matching rule of an available specialist wins.
RULES: list[Rule] = []

ROUTER_PROMPT = (
    "Pick the specialist for the user's last message. Reply with exactly one word from: {routes}.\n"
    "{descriptions}"
)


def last_user_text(state: State) -> str:
    """Text of the most recent human message ('' when there is none)."""
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return message.text if isinstance(message.text, str) else str(message.content)
    return ""


def decide(text: str, available: dict[str, str], ctx: Context | None = None) -> tuple[str, str]:
    """Return ``(route, reason)`` for a message, among ``available`` specialists.

    Deterministic rules first; then, only when a capable router model is configured,
    that model picks; otherwise the chat specialist answers.
    """
    for rule in RULES:
        if rule.route in available and rule.pattern.search(text):
            return rule.route, f"rule: {rule.why}"
    router = ctx.settings.router_model if ctx else None
    if router and len(available) > 1 and not ctx.models.spec(router).local:
        choice = _ask_router(ctx, router, text, available)
        if choice:
            return choice, f"router model {router}"
    return "chat", "default: conversation"


def _ask_router(ctx: Context, router: str, text: str, available: dict[str, str]) -> str | None:
    descriptions = "\n".join(f"- {name}: {what}" for name, what in available.items())
    prompt = [
        SystemMessage(ROUTER_PROMPT.format(routes=", ".join(available), descriptions=descriptions)),
        HumanMessage(text),
    ]
    sub = replace(ctx, agent_models={"conductor": router}, fallbacks=[])
    answer = call_model(sub, "conductor", prompt).text.strip().lower()
    word = re.sub(r"[^a-z_]", "", answer.split()[0]) if answer.split() else ""
    return word if word in available else None


def conductor(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Choose this turn's specialist and reset the per-turn fields."""
    ctx = runtime.context
    available: dict[str, str] = ctx.services.get("specialists", {"chat": "general conversation"})
    route, reason = decide(last_user_text(state), available, ctx)
    notify("route", route=route, reason=reason)
    return {"route": route, "route_reason": reason, **{k: list(v) for k, v in TURN_FIELDS.items()}}
