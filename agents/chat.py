"""The chat specialist: streams an answer with a system prompt and few-shot examples."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from agents.common import call_model, fit_to_context, notify
from podium.errors import ContextOverflowError

if TYPE_CHECKING:
    from graph.context import Context
    from graph.state import State


def build_prompt(system: str, few_shot: list[tuple[str, str]], history: list[BaseMessage]) -> list[BaseMessage]:
    """System prompt, then example exchanges, then the conversation."""
    examples: list[BaseMessage] = []
    for user, assistant in few_shot:
        examples += [HumanMessage(user), AIMessage(assistant)]
    return [SystemMessage(system), *examples, *history]


def chat(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer the conversation's last message, trimming old turns to fit the context."""
    ctx = runtime.context
    spec = ctx.models.spec(ctx.model_for("chat"))
    history = [m for m in state["messages"] if m.type in ("human", "ai") and m.content]
    prompt = build_prompt(ctx.system_prompt or ctx.settings.system_prompt, ctx.few_shot, history)
    budget = spec.context_length - ctx.settings.max_tokens
    model = ctx.models.model(spec.spec)
    try:
        prompt, dropped = fit_to_context(model, prompt, budget, model_name=spec.spec)
    except ContextOverflowError:
        dropped = 0  # too long for this model even trimmed: call_model escalates along the chain, or says so
    notices = []
    if dropped:
        notices.append(f"trimmed {dropped} older messages to fit {spec.spec}'s {spec.context_length}-token context")
        notify("notice", text=notices[-1])
    reply = call_model(ctx, "chat", prompt)
    return {"messages": [reply], "notices": notices}
