"""Streamed chunks into one message, whatever the provider repeats in them."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk


def merge(chunks: list[AIMessageChunk]) -> AIMessage:
    """One message from a stream's chunks (an empty one for no chunks)."""
    if not chunks:
        return AIMessage(content="")
    fixed = dedupe_tool_names(chunks)
    total = fixed[0]
    for chunk in fixed[1:]:
        total = total + chunk
    return AIMessage(content=total.content, usage_metadata=total.usage_metadata,
                     response_metadata=total.response_metadata, tool_calls=total.tool_calls,
                     invalid_tool_calls=total.invalid_tool_calls, id=total.id)


def dedupe_tool_names(chunks: list[AIMessageChunk]) -> list[AIMessageChunk]:
    """Keep each streamed tool call's name and id from its first chunk only.

    OpenAI sends them once; llama-cpp-python's server repeats them in every chunk,
    which LangChain's chunk addition would concatenate into ``get_weatherget_weather``.
    """
    named: set[Any] = set()
    out = []
    for chunk in chunks:
        if not chunk.tool_call_chunks:
            out.append(chunk)
            continue
        fixed = []
        for part in chunk.tool_call_chunks:
            key = part.get("index")
            if key in named:
                part = {**part, "name": None, "id": None}
            elif part.get("name"):
                named.add(key)
            fixed.append(part)
        out.append(AIMessageChunk(content=chunk.content, tool_call_chunks=fixed, id=chunk.id,
                                  usage_metadata=chunk.usage_metadata,
                                  response_metadata=chunk.response_metadata))
    return out
