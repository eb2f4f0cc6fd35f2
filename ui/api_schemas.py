"""The request bodies ``podium serve`` accepts, in OpenAI's shape plus a ``podium`` extension object.

Unknown fields are refused (400 naming the field), as OpenAI does: a typo such as
``max_token`` must not be silently ignored. Fields OpenAI defines that Podium cannot honour
(``n > 1``, ``logprobs``, image parts...) are refused with the field named too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from podium.settings import POLICIES

THREAD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
"""Thread ids a client may choose: letters, digits and ``_.:-``, at most 128 characters."""


class Strict(BaseModel):
    """Refuses unknown fields."""

    model_config = ConfigDict(extra="forbid")


class TextPart(Strict):
    """One ``{"type": "text", "text": ...}`` part of a message's content."""

    type: Literal["text"]
    text: str


class FunctionCall(Strict):
    """The function an assistant message called."""

    name: str
    arguments: str = Field(description="The arguments as a JSON object in a string.")


class ToolCall(Strict):
    """One tool call of an earlier assistant message."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(Strict):
    """One chat message."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The content as one string (text parts joined)."""
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class FunctionSpec(Strict):
    """A function the model may call, described by a JSON schema."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class Tool(Strict):
    """A tool in the request's ``tools`` list."""

    type: Literal["function"]
    function: FunctionSpec


class StreamOptions(Strict):
    """``stream_options``: ``include_usage`` adds a last chunk with the usage."""

    include_usage: bool = False


class PodiumOptions(Strict):
    """The ``podium`` extension object (``extra_body={"podium": {...}}`` in the openai client)."""

    thread_id: str | None = Field(default=None, pattern=THREAD_PATTERN,
                                  description="Continue (or create) this thread; the X-Podium-Thread header wins.")
    multitask_strategy: Literal["enqueue", "reject", "interrupt", "rollback"] | None = Field(
        default=None, description="When the thread has a running turn: wait (default), fail with 409, "
                                  "interrupt it (keeping its partial answer) or roll it back.")
    model: str | None = Field(default=None, min_length=1, description="The model the specialists use this turn "
                                                                      "(default: PODIUM_MODEL).")
    collection: str | None = Field(default=None, description="Scope knowledge questions to this collection.")
    fallbacks: list[str] | None = Field(default=None, description="Models tried when the first one fails.")
    policy: str | None = Field(default=None, description="Routing policy: " + ", ".join(POLICIES) + ".")
    decision: Literal["approve", "reject"] | dict[str, Any] | None = Field(
        default=None, description="Answer the thread's pending tool approval: approve, reject or "
                                  '{"action": "edit", "args": {...}}.')
    events: bool = Field(default=False, description="Stream each agent step as an extension chunk.")

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str | None) -> str | None:
        if value is not None and value not in POLICIES:
            raise ValueError(f"use one of {', '.join(POLICIES)}")
        return value


class ChatRequest(Strict):
    """``POST /v1/chat/completions``."""

    model: str = Field(min_length=1, description="`podium` (the conductor) or a model spec such as "
                                                 "llamacpp/smollm2-135m.")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="Only 1 is supported.")
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    podium: PodiumOptions | None = None

    @field_validator("response_format")
    @classmethod
    def _known_format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get("type") not in ("text", "json_object", "json_schema"):
            raise ValueError("type must be text, json_object or json_schema")
        if value is not None and value.get("type") == "json_schema" and not isinstance(
                (value.get("json_schema") or {}).get("schema"), dict):
            raise ValueError("json_schema.schema must be a JSON schema object")
        return value

    def limit(self) -> int | None:
        """The answer's token limit (``max_completion_tokens`` wins over the older ``max_tokens``)."""
        return self.max_completion_tokens or self.max_tokens


class EmbeddingRequest(Strict):
    """``POST /v1/embeddings``."""

    input: str | list[str] = Field(description="A text or a list of texts (token arrays are not accepted).")
    model: str = Field(min_length=1, description="`podium` or the knowledge base's embedding model.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _not_empty(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not texts or any(not t.strip() for t in texts):
            raise ValueError("every input must be a non-empty text")
        if len(texts) > 2048:
            raise ValueError("at most 2048 inputs per request")
        return value
