"""What every specialist shares: calling its model through the run context, streaming events, reading the turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agents.contract import Context, State
from models import routing
from models.call import CallSite
from models.events import stream_event
from models.fit import fit_to_context
from models.structured import Schema

__all__ = ["call_model", "check_fit", "fit_to_context", "last_user_text", "model_chain", "notify", "say",
           "this_turn"]

notify = stream_event
"""Send an event on the graph's custom stream (shown live in the CLI, the UI and traces)."""


def model_chain(ctx: Context, node: str) -> list[str]:
    """The specs a node may use this turn, primary first (before the policy orders them)."""
    return routing.chain(ctx.model_for(node), ctx.fallbacks)


def site(ctx: Context, node: str) -> CallSite:
    """Who calls: ``node`` of this turn, with its model chain and policy."""
    return CallSite(node=node, models=model_chain(ctx, node), policy=ctx.options.policy,
                    thread=ctx.thread_id, turn=ctx.turn_id)


def call_model(ctx: Context, node: str, messages: list[BaseMessage], *, schema: Schema | None = None,
               **options: Any) -> AIMessage:
    """One answer for ``node`` from the turn's engine (see :meth:`models.call.ModelCaller.call`)."""
    # The turn's temperature and token limit apply unless the caller fixes its own (a tool plan at temperature 0).
    return ctx.engine.call(site(ctx, node), messages, schema=schema, **{**ctx.sampling(), **options})


def check_fit(ctx: Context, node: str, messages: list[BaseMessage]) -> None:
    """Raise :class:`~podium.errors.ContextOverflowError` only when no model in the node's chain holds ``messages``."""
    ctx.engine.check_fit(model_chain(ctx, node), messages)


def say(node: str, text: str) -> AIMessage:
    """An answer that did not come from a model, streamed like a model's so every front end shows it the same way."""
    notify("token", node=node, text=text)
    return AIMessage(text)


def last_user_text(state: State) -> str:
    """Text of the most recent human message ('' when there is none)."""
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return message.text if isinstance(message.text, str) else str(message.content)
    return ""


def this_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The current turn: the last human message and everything after it."""
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return list(messages[index:])
    return list(messages)
