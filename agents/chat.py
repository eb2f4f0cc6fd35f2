"""The chat specialist: streams an answer with a system prompt and few-shot examples."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from agents.common import call_model, fit_to_context, notify
from agents.contract import Context, Specialist, State
from podium.errors import ContextOverflowError


def build_prompt(system: str, few_shot: list[tuple[str, str]], history: list[BaseMessage]) -> list[BaseMessage]:
    """System prompt, then example exchanges, then the conversation."""
    examples: list[BaseMessage] = []
    for user, assistant in few_shot:
        examples += [HumanMessage(user), AIMessage(assistant)]
    return [SystemMessage(system), *examples, *history]


def chat(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer the conversation's last message, trimming old turns to fit the context."""
    ctx = runtime.context
    spec = ctx.engine.spec(ctx.model_for("chat"))
    history = [m for m in state["messages"] if m.type in ("human", "ai") and m.content]
    prompt = build_prompt(ctx.options.system_prompt or ctx.settings.system_prompt, ctx.options.few_shot, history)
    budget = spec.context_length - ctx.settings.max_tokens
    model = ctx.engine.model(spec.spec)
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


SPECIALIST = Specialist(
    name="chat",
    node=chat,
    description="general conversation, writing and explanations",
    examples=(
        "Hello, how are you?",
        "Write a haiku about autumn.",
        "Explain how a rainbow forms.",
        "Give me three names for a bakery.",
        "What is the difference between a virus and a bacterium?",
        "Summarize the plot of Hamlet in two sentences.",
    ),
)
"""The default specialist: whatever no other one claims."""
