"""OpenAI and any OpenAI-compatible server (llama.cpp server, vLLM) through ChatOpenAI."""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from models.prices import load_prices
from models.spec import ModelSpec
from podium.errors import ConfigError
from podium.settings import Settings

# Local OpenAI-compatible servers ignore the key, but the client insists on one.
_PLACEHOLDER_KEY = "not-needed-for-local-servers"


def resolve(name: str, settings: Settings) -> ModelSpec:
    """Describe a remote model; prices come from the (overridable) price table."""
    if not name:
        raise ConfigError("empty OpenAI model name", setting="model", hint="use openai/<model>, e.g. openai/gpt-4o-mini")
    price_in, price_out = load_prices(settings.prices_file).get(name, (0.0, 0.0))
    return ModelSpec(
        spec=f"openai/{name}",
        provider="openai",
        name=name,
        tool_calling=True,
        json_schema=True,
        context_length=128_000,
        local=False,
        price_in=price_in,
        price_out=price_out,
        description="OpenAI-compatible endpoint" + (f" at {settings.openai_base_url}" if settings.openai_base_url else ""),
    )


def build(spec: ModelSpec, settings: Settings) -> BaseChatModel:
    """A ChatOpenAI client; retries are Podium's (fallback chains), so the client's are off."""
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if not key and not settings.openai_base_url:
        raise ConfigError(
            f"{spec.spec} needs an API key and OPENAI_API_KEY is not set",
            setting="OPENAI_API_KEY",
            hint="export OPENAI_API_KEY=..., or set OPENAI_BASE_URL to a local OpenAI-compatible server",
        )
    return ChatOpenAI(
        model=spec.name,
        api_key=key or _PLACEHOLDER_KEY,
        base_url=settings.openai_base_url,
        timeout=settings.request_timeout_s,
        max_retries=0,
        temperature=settings.temperature,
        max_completion_tokens=settings.max_tokens,
        stream_usage=True,
    )
