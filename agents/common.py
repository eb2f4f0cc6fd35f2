"""What every specialist shares: one guarded way to call a model, and context fitting."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage
from langgraph.config import get_stream_writer

from models.failures import classify
from podium.errors import ContextOverflowError, PodiumError

if TYPE_CHECKING:
    from graph.context import Context


def notify(kind: str, **data: Any) -> None:
    """Send an event on the graph's custom stream (shown live in the CLI, the UI and traces)."""
    try:
        get_stream_writer()({"kind": kind, **data})
    except RuntimeError:  # called outside a graph run (unit tests of a helper)
        pass


def fit_to_context(model: Any, messages: list[BaseMessage], budget: int, *, model_name: str = "") -> tuple[list[BaseMessage], int]:
    """Drop the oldest conversation turns until ``messages`` fit ``budget`` tokens.

    System messages and the last message always stay; returns the fitted list and
    how many messages were dropped. Raises :class:`ContextOverflowError` when even
    that minimum does not fit.
    """
    def count(msgs: list[BaseMessage]) -> int:
        return model.get_num_tokens_from_messages(msgs)

    if count(messages) <= budget:
        return messages, 0
    pinned = [m for m in messages[:-1] if isinstance(m, SystemMessage)]
    history = [m for m in messages[:-1] if not isinstance(m, SystemMessage)]
    last = messages[-1]
    dropped = 0
    while history and count([*pinned, *history, last]) > budget:
        history.pop(0)
        dropped += 1
        while history and history[0].type != "human":  # never start on an orphaned answer
            history.pop(0)
            dropped += 1
    fitted = [*pinned, *history, last]
    tokens = count(fitted)
    if tokens > budget:
        raise ContextOverflowError(tokens, budget, model=model_name)
    return fitted, dropped


def call_model(ctx: Context, node: str, messages: list[BaseMessage], **options: Any) -> AIMessage:
    """Stream one answer from the node's model chain, recording every attempt in the ledger.

    Tokens reach LangGraph's ``messages`` stream through the model's callbacks. When a
    model fails, the next one in ``ctx.fallbacks`` is tried and the user is told why.
    """
    chain = [ctx.model_for(node), *[f for f in ctx.fallbacks if f != ctx.model_for(node)]]
    last_error: PodiumError | None = None
    for index, spec_str in enumerate(chain):
        spec = ctx.models.spec(spec_str)
        call_id = ctx.ledger.start(provider=spec.provider, model=spec.spec, turn=ctx.turn_id,
                                   thread=ctx.thread_id, node=node) if ctx.ledger else 0
        started, first, chunks = time.perf_counter(), None, []
        try:
            model = ctx.models.model(spec_str)
            for chunk in model.stream(messages, **options):
                if first is None and chunk.content:
                    first = time.perf_counter()
                chunks.append(chunk)
        except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded
            error = classify(exc, provider=spec.provider, model=spec.spec)
            last_error = error
            more = index + 1 < len(chain)
            if ctx.ledger:
                ctx.ledger.finish(call_id, outcome="fell_back" if more else "failed",
                                  error_class=type(error).__name__, error=error.message,
                                  duration_s=time.perf_counter() - started)
            if not more:
                raise error from exc
            notify("notice", text=f"{spec.spec} failed ({error.message}); falling back to {chain[index + 1]}")
            continue
        reply = _merge(chunks)
        ended = time.perf_counter()
        usage = reply.usage_metadata or {}
        source = "provider"
        if not usage:
            source = "tokenizer"
            prompt = model.get_num_tokens_from_messages(messages)
            completion = model.get_num_tokens(reply.text)
            usage = {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}
            reply.usage_metadata = usage  # type: ignore[assignment]
        completion = usage.get("output_tokens", 0)
        gen_time = ended - (first or started)
        if ctx.ledger:
            ctx.ledger.finish(
                call_id,
                outcome="ok",
                prompt_tokens=usage.get("input_tokens", 0),
                completion_tokens=completion,
                token_source=source,
                ttft_s=(first - started) if first else None,
                duration_s=ended - started,
                tokens_per_s=completion / gen_time if gen_time > 0 and completion else None,
                cost_usd=spec.cost(usage.get("input_tokens", 0), completion),
            )
        reply.response_metadata = {**reply.response_metadata, "model": spec.spec}
        return reply
    raise last_error or PodiumError("no model configured", hint="set PODIUM_MODEL or pass --model")


def _merge(chunks: list[AIMessageChunk]) -> AIMessage:
    if not chunks:
        return AIMessage(content="")
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return AIMessage(content=total.content, usage_metadata=total.usage_metadata,
                     response_metadata=total.response_metadata, tool_calls=total.tool_calls, id=total.id)
