"""One registry from a spec string ``provider/name`` to a described, buildable model.

Describing a model (``resolve``) runs on the standard library; the chat-model libraries
(LangChain, llama.cpp, the OpenAI client) are imported when a model is first built.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models import finetuned, local, openai
from models.spec import ModelSpec
from podium.errors import ConfigError, PodiumError
from podium.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported on its first call."""
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__module__ = module
    return call


def json_object(spec: ModelSpec, schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Call options asking for JSON that matches ``schema`` (llama.cpp turns them into a grammar)."""
    return {"response_format": {"type": "json_object", "schema": schema}}


@dataclass(frozen=True)
class Provider:
    """How one provider describes and builds its models, and its hooks for what differs between providers."""

    resolve: Callable[[str, Settings], ModelSpec]
    """Describe (and validate) a model by its name."""
    build: Callable[[ModelSpec, Settings], BaseChatModel]
    """A LangChain chat model for a described spec."""
    examples: tuple[str, ...] = ()
    """Names listed by ``podium models``."""
    structured: Callable[[ModelSpec, dict[str, Any], Settings], dict[str, Any]] = json_object
    """Call options that make its models emit JSON matching a schema (asked only of ``json_schema`` models)."""
    listed: bool = True
    """Shown by ``podium models`` and the web app's model picker (test providers are not)."""
    user_made: Callable[[Settings], tuple[str, ...]] | None = None
    """Names the user made (fine-tunes), listed after the examples."""


PROVIDERS: dict[str, Provider] = {
    "llamacpp": Provider(local.resolve, _lazy("models.llamacpp", "build"), tuple(local.ALIASES),
                         user_made=lambda settings: tuple(m.name for m in finetuned.all_models(settings))),
    "openai": Provider(openai.resolve, openai.build, ("gpt-4o-mini",), structured=openai.structured_options),
    "modal": Provider(_lazy("models.modal", "resolve"), _lazy("models.modal", "build")),
    "scripted": Provider(_lazy("models.scripted", "resolve"), _lazy("models.scripted", "build"), ("echo",),
                         listed=False),
}


def parse(spec: str) -> tuple[str, str]:
    """Split ``provider/name``; a bare ``.gguf`` path means ``llamacpp``."""
    spec = spec.strip()
    if spec.endswith(".gguf") and spec.split("/", 1)[0] not in PROVIDERS:
        return "llamacpp", spec
    provider, _, name = spec.partition("/")
    if provider not in PROVIDERS or not name:
        raise ConfigError(
            f"unknown model spec {spec!r}",
            setting="model",
            hint=f"use provider/name with provider one of {', '.join(PROVIDERS)} (see `podium models`)",
        )
    return provider, name


def resolve(spec: str, settings: Settings) -> ModelSpec:
    """Describe the model a spec names, validating it (file present, key set...)."""
    provider, name = parse(spec)
    return PROVIDERS[provider].resolve(name, settings)


def build(spec: ModelSpec, settings: Settings) -> BaseChatModel:
    """A LangChain chat model for a resolved spec."""
    return PROVIDERS[spec.provider].build(spec, settings)


def known_models(settings: Settings) -> list[ModelSpec | PodiumError]:
    """Every built-in alias and example, described (or the error that prevents it)."""
    out: list[ModelSpec | PodiumError] = []
    for key, provider in PROVIDERS.items():
        if not provider.listed:
            continue
        for name in provider.examples + (provider.user_made(settings) if provider.user_made else ()):
            try:
                out.append(provider.resolve(name, settings))
            except PodiumError as exc:
                exc.spec = f"{key}/{name}"  # type: ignore[attr-defined]
                out.append(exc)
    return out


def structured_options(spec: ModelSpec, schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Call options constraining ``spec``'s output to ``schema``, by its provider's hook (none if it cannot)."""
    return PROVIDERS[spec.provider].structured(spec, schema, settings) if spec.json_schema else {}


class ModelPool:
    """Resolves and builds models lazily, once per spec, for one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._specs: dict[str, ModelSpec] = {}
        self._models: dict[str, BaseChatModel] = {}
        self._lock = threading.Lock()

    def spec(self, spec: str) -> ModelSpec:
        """The described spec (cached)."""
        with self._lock:
            if spec not in self._specs:
                self._specs[spec] = resolve(spec, self.settings)
            return self._specs[spec]

    def model(self, spec: str) -> BaseChatModel:
        """The built chat model (cached)."""
        described = self.spec(spec)
        with self._lock:
            if spec not in self._models:
                self._models[spec] = build(described, self.settings)
            return self._models[spec]


def local_model(spec: str, settings: Any) -> Any:
    """The process's shared llama.cpp instance of a local spec, base models included, for these functions."""
    from models.llamacpp import load

    described = resolve(spec, settings)
    if described.provider != "llamacpp" or described.path is None:
        raise ConfigError(f"{spec} is not a local llama.cpp model", setting="model",
                          hint="batched generation and scoring run on llamacpp/... models")
    return load(described.path, described.context_length, settings.n_threads, described.extra.get("lora_path") or None)
