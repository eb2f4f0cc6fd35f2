"""Pure conversions between OpenAI's chat shapes and Podium's: request messages in, responses and chunks out."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from ui.api_errors import ApiError
from ui.api_schemas import ChatRequest, Message


@dataclass
class Outcome:
    """What one chat completion produced, whoever answered it."""

    text: str = ""
    """The answer."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Calls the model asks the client to make, in OpenAI's shape."""
    finish_reason: str = "stop"
    """``stop``, ``length`` or ``tool_calls``."""
    prompt_tokens: int = 0
    """Prompt tokens of every call made for it (as the ledger bills them)."""
    completion_tokens: int = 0
    """Completion tokens of every call made for it."""
    model: str = ""
    """The model that answered (a spec), for the extension field."""
    extension: dict[str, Any] = field(default_factory=dict)
    """The ``podium`` field: thread, route, steps, tool calls, sources, notices, pending approvals, cost."""

    def usage(self) -> dict[str, int]:
        """OpenAI's usage object."""
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


def conversation(messages: list[Message]) -> tuple[str | None, list[BaseMessage], str]:
    """Split a Podium request: the system prompt, earlier user/assistant turns, and the new question."""
    last = messages[-1]
    if last.role != "user" or not last.text().strip():
        raise ApiError(400, "the last message must be a non-empty user message (it is the new turn)",
                       param=f"messages.{len(messages) - 1}", code="invalid_value")
    system = "\n".join(m.text() for m in messages if m.role in ("system", "developer")) or None
    earlier: list[BaseMessage] = []
    for m in messages[:-1]:
        if m.role == "user":
            earlier.append(HumanMessage(m.text()))
        elif m.role == "assistant" and m.text():
            earlier.append(AIMessage(m.text()))
    return system, earlier, last.text()


def to_langchain(messages: list[Message]) -> list[BaseMessage]:
    """Every message for a direct model call, tool calls and results included."""
    out: list[BaseMessage] = []
    for index, m in enumerate(messages):
        if m.role in ("system", "developer"):
            out.append(SystemMessage(m.text()))
        elif m.role == "user":
            out.append(HumanMessage(m.text()))
        elif m.role == "assistant":
            calls = []
            for k, call in enumerate(m.tool_calls or []):
                try:
                    args = json.loads(call.function.arguments or "{}")
                except ValueError:
                    args = None
                if not isinstance(args, dict):
                    raise ApiError(400, "tool call arguments must be a JSON object",
                                   param=f"messages.{index}.tool_calls.{k}.function.arguments", code="invalid_value")
                calls.append({"id": call.id, "name": call.function.name, "args": args, "type": "tool_call"})
            out.append(AIMessage(m.text(), tool_calls=calls))
        else:
            if not m.tool_call_id:
                raise ApiError(400, "a tool message needs the tool_call_id it answers",
                               param=f"messages.{index}.tool_call_id", code="missing_required_parameter")
            out.append(ToolMessage(m.text(), tool_call_id=m.tool_call_id))
    return out


def openai_tool_calls(calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """LangChain tool calls as OpenAI's ``message.tool_calls``."""
    return [{"id": c.get("id") or f"call_{i}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c.get("args") or {})}}
            for i, c in enumerate(calls)]


def completion(outcome: Outcome, *, request_id: str, model: str, created: int | None = None) -> dict[str, Any]:
    """A whole (non-streamed) ``chat.completion``."""
    message: dict[str, Any] = {"role": "assistant", "content": outcome.text or (None if outcome.tool_calls else "")}
    if outcome.tool_calls:
        message["tool_calls"] = outcome.tool_calls
    return {"id": request_id, "object": "chat.completion", "created": created or int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": outcome.finish_reason, "logprobs": None}],
            "usage": outcome.usage(), "podium": outcome.extension}


class ChunkWriter:
    """Builds the ``chat.completion.chunk`` events of one stream, as SSE lines."""

    def __init__(self, request: ChatRequest, request_id: str) -> None:
        self.id = request_id
        self.model = request.model
        self.created = int(time.time())
        self.usage = bool(request.stream_options and request.stream_options.include_usage)
        self.started = False

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        data: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                "model": self.model, "choices": choices, **extra}
        if self.usage and "usage" not in data:
            data["usage"] = None
        return sse(data)

    def _delta(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        if not self.started:
            delta = {"role": "assistant", **delta}
            self.started = True
        return self._chunk([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra)

    def text(self, text: str) -> str:
        """A content delta."""
        return self._delta({"content": text})

    def event(self, payload: dict[str, Any]) -> str:
        """An extension-only chunk (no choices): an agent step, a notice, text taken back."""
        return self._chunk([], podium=payload)

    def finish(self, outcome: Outcome, rest: str = "") -> str:
        """The last choice chunk: remaining text, tool calls, the finish reason and the extension field."""
        out = self.text(rest) if rest else ""
        if outcome.tool_calls:
            calls = [{"index": i, **c} for i, c in enumerate(outcome.tool_calls)]
            out += self._delta({"tool_calls": calls})
        out += self._delta({}, outcome.finish_reason, podium=outcome.extension)
        if self.usage:
            out += self._chunk([], usage=outcome.usage())
        return out + "data: [DONE]\n\n"


def sse(data: dict[str, Any]) -> str:
    """One server-sent event carrying JSON."""
    return f"data: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
