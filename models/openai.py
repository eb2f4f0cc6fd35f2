"""OpenAI and any OpenAI-compatible server (llama.cpp server, vLLM) through ChatOpenAI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pydantic import SecretStr

from models.prices import load_table
from models.spec import ModelSpec
from models.timeouts import timeout_for
from models.tokens import count_tokens
from podium.errors import ConfigError
from podium.settings import Settings

if TYPE_CHECKING:  # LangChain loads when a client is built, not when a remote model is described
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_openai import ChatOpenAI

# Local OpenAI-compatible servers ignore the key, but the client insists on one.
_PLACEHOLDER_KEY = "not-needed-for-local-servers"
# OpenAI's documented framing: every message costs a few tokens, every reply is primed with 3.
_PER_MESSAGE, _PER_REPLY = 4, 3


def check_base_url(url: str | None) -> None:
    """Reject a base URL that is not ``http(s)://host[:port][/path]`` with a one-line error."""
    if url is None:
        return
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"OPENAI_BASE_URL is not an http(s) URL: {url!r}",
            setting="OPENAI_BASE_URL",
            hint="use e.g. http://127.0.0.1:8000/v1",
        )
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ConfigError(
            f"OPENAI_BASE_URL has a bad port: {url!r}",
            setting="OPENAI_BASE_URL",
            hint="use e.g. http://127.0.0.1:8000/v1",
        ) from exc


def resolve(name: str, settings: Settings) -> ModelSpec:
    """Describe a remote model; prices come from the (overridable) price table."""
    if not name:
        raise ConfigError(
            "empty OpenAI model name", setting="model", hint="use openai/<model>, e.g. openai/gpt-4o-mini"
        )
    check_base_url(settings.openai_base_url)
    tokens, gpu_second = load_table(settings.prices_file).lookup(f"openai/{name}", name)
    off = settings.no_native_tools
    native = not ("*" in off or f"openai/{name}" in off)
    return ModelSpec(
        spec=f"openai/{name}",
        provider="openai",
        name=name,
        tool_calling=native,
        # Native tools off: Podium's call protocol, with its grammar where the server takes one (a custom base URL).
        constrained=not native and bool(settings.openai_base_url),
        json_schema=True,
        context_length=128_000,
        local=False,
        price_in=tokens[0] if tokens else 0.0,
        price_out=tokens[1] if tokens else 0.0,
        description="OpenAI-compatible endpoint"
        + (f" at {settings.openai_base_url}" if settings.openai_base_url else ""),
        extra={"priced": tokens is not None, "price_gpu_second": gpu_second, "base_url": settings.openai_base_url},
    )


@lru_cache(maxsize=1)
def chat_class() -> type[ChatOpenAI]:
    """ChatOpenAI with offline token counts (imported on first use: langchain-openai takes ~0.6 s)."""
    from langchain_openai import ChatOpenAI

    class PodiumChatOpenAI(ChatOpenAI):
        """ChatOpenAI whose token counts work offline, for context fitting and usage when a server reports none."""

        def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
            """The payload, with ``""`` where LangChain sends ``null`` content beside tool calls.

            OpenAI accepts ``null`` there; llama-cpp-python's server answers HTTP 500.
            """
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            for message in payload.get("messages", []):
                if message.get("content") is None and message.get("role") == "assistant":
                    message["content"] = ""
            extra = dict(payload.get("extra_body") or {})
            if "grammar" in payload:  # GBNF for llama.cpp servers (tool plans of models without native tools)
                extra["grammar"] = payload.pop("grammar")
            if self.openai_api_base and "max_completion_tokens" in payload:
                # llama-cpp-python's server knows only max_tokens: without it, it writes until the context is full.
                extra.setdefault("max_tokens", payload["max_completion_tokens"])
            if extra:
                payload["extra_body"] = extra
            return payload

        def get_token_ids(self, text: str) -> list[int]:
            """Token ids are not needed by Podium; a list of the right length is."""
            return [0] * count_tokens(text)

        def get_num_tokens(self, text: str) -> int:
            """Tokens of one text."""
            return count_tokens(text)

        def get_num_tokens_from_messages(self, messages: Sequence[BaseMessage], tools: Any = None, **_: Any) -> int:
            """Tokens of a chat prompt, with OpenAI's per-message framing."""
            total = _PER_REPLY
            for message in messages:
                text = message.text if isinstance(message.text, str) else str(message.content)
                calls = getattr(message, "tool_calls", None)
                total += _PER_MESSAGE + count_tokens(text) + (count_tokens(json.dumps(calls)) if calls else 0)
            return total

    return PodiumChatOpenAI


def build(spec: ModelSpec, settings: Settings) -> BaseChatModel:
    """A ChatOpenAI client; retries are Podium's (backoff, fallbacks, cooldown), so the client's are off.

    With native tool calling off for the model (``PODIUM_NO_NATIVE_TOOLS``) the client is wrapped so that
    tools go through Podium's prompt and grammar (:mod:`models.openai_grammar`), never the server's tools API.
    """
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if not key and not settings.openai_base_url:
        raise ConfigError(
            f"{spec.spec} needs an API key and OPENAI_API_KEY is not set",
            setting="OPENAI_API_KEY",
            hint="export OPENAI_API_KEY=..., or set OPENAI_BASE_URL to a local OpenAI-compatible server",
        )
    client = chat_class()(
        model=spec.name,
        api_key=SecretStr(key or _PLACEHOLDER_KEY),
        base_url=settings.openai_base_url,
        timeout=timeout_for(settings, "openai"),
        max_retries=0,
        temperature=settings.temperature,
        max_completion_tokens=settings.max_tokens,
        stream_usage=True,
    )
    if spec.tool_calling:
        return client
    from models.openai_grammar import PromptedToolsChat

    return PromptedToolsChat(inner=client, send_grammar=bool(settings.openai_base_url))


def response_format(schema: dict[str, Any], settings: Settings, name: str = "answer") -> dict[str, Any]:
    """The ``response_format`` asking an OpenAI-compatible server for JSON matching ``schema``.

    OpenAI itself takes ``json_schema``; llama.cpp's servers take ``json_object`` with
    a ``schema`` (llama-cpp-python's rejects ``json_schema``), so a custom base URL gets that.
    """
    if settings.openai_base_url:
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}


def structured_options(spec: ModelSpec, schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The provider hook for structured output: OpenAI's ``response_format`` (or a local server's)."""
    return {"response_format": response_format(schema, settings)}
