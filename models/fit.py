"""Fitting a conversation into a model's context window, oldest turns dropped first."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from podium.errors import ContextOverflowError


def fit_to_context(model: Any, messages: list[BaseMessage], budget: int, *,
                   model_name: str = "") -> tuple[list[BaseMessage], int]:
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
