"""``modal/NAME``: a model served by modal_app.py's OpenAI-compatible endpoint on a Modal GPU.

A serverless GPU may be cold: the first request waits while Modal starts a container
and llama.cpp loads the model. This provider probes the endpoint first (a warm one
answers at once), says so in a notice when it is cold ("starting a GPU on Modal,
~40 s"), gives the first token a deadline (``PODIUM_MODAL_FIRST_TOKEN_S``) after
which the call fails without retry so the chain falls back (the container keeps
starting and serves the next turn), and prices each call by GPU-seconds from Modal's
GPU price table (overridable in ``PODIUM_PRICES_FILE``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from models.openai import chat_class, check_base_url
from models.prices import load_table
from models.spec import ModelSpec
from podium.errors import ConfigError, ModelError
from podium.settings import Settings

# Modal's list prices per GPU-second (USD) at the time of writing; PODIUM_PRICES_FILE overrides them,
# by GPU ("A10G": [0, 0, 0.000306]) or by spec ("modal/NAME": [0, 0, ...]).
GPU_PRICES: dict[str, float] = {
    "T4": 0.000164, "L4": 0.000222, "A10G": 0.000306, "L40S": 0.000542, "A100": 0.000583,
    "A100-80GB": 0.000694, "H100": 0.001097, "H200": 0.001261, "B200": 0.001736,
}
PROBE_S = 2.0
"""A warm endpoint lists its models within this; a cold one holds the request while a container starts."""


def resolve(name: str, settings: Settings) -> ModelSpec:
    """Describe a model served on Modal; the endpoint comes from ``PODIUM_MODAL_URL``."""
    if not settings.modal_url:
        raise ConfigError(f"modal/{name} needs the endpoint of the deployed app and PODIUM_MODAL_URL is not set",
                          setting="PODIUM_MODAL_URL",
                          hint=f"run `podium modal deploy {name}`, then export PODIUM_MODAL_URL=https://...modal.run/v1")
    check_base_url(settings.modal_url)
    gpu = settings.modal_gpu.upper() if settings.modal_gpu.upper() in GPU_PRICES else settings.modal_gpu
    _, per_second = load_table(settings.prices_file).lookup(f"modal/{name}", gpu)
    if not per_second and gpu not in GPU_PRICES:
        raise ConfigError(f"PODIUM_MODAL_GPU {settings.modal_gpu!r} has no price", setting="PODIUM_MODAL_GPU",
                          hint=f"use one of {', '.join(GPU_PRICES)}, or price it in PODIUM_PRICES_FILE")
    return ModelSpec(
        spec=f"modal/{name}", provider="modal", name=name, tool_calling=False, json_schema=True,
        context_length=min(8192, settings.max_context), local=False,
        description=f"{name} on a Modal {gpu} GPU (llama.cpp server)",
        extra={"priced": True, "remote_gpu": True, "gpu": gpu, "price_gpu_second": per_second or GPU_PRICES[gpu],
               "base_url": settings.modal_url, "first_token_s": settings.modal_first_token_s,
               "cold_start_s": settings.modal_cold_start_s},
    )


def is_warm(base_url: str, timeout_s: float = PROBE_S) -> bool:
    """Whether the endpoint answers at once (a container is up); a cold start holds the probe past ``timeout_s``."""
    try:
        return httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def build(spec: ModelSpec, settings: Settings) -> BaseChatModel:
    """A chat model for the endpoint: OpenAI's protocol, with a first-token deadline and a cold-start notice."""
    deadline = float(spec.extra["first_token_s"])

    # mypy cannot check a base class returned by a call (chat_class imports langchain-openai lazily).
    class ChatModal(chat_class()):  # type: ignore[misc]
        """ChatOpenAI that knows the endpoint may be a cold serverless GPU."""

        def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                    run_manager: CallbackManagerForLLMRun | None = None,
                    **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            from models.events import stream_event

            started = time.perf_counter()
            if not is_warm(spec.extra["base_url"]):
                stream_event("notice", text=f"starting a GPU on Modal for {spec.spec}, "
                             f"~{spec.extra['cold_start_s']:.0f} s (first-token deadline {deadline:.0f} s)")
            try:
                for chunk in super()._stream(messages, stop, run_manager, **kwargs):
                    if chunk.message.response_metadata.get("finish_reason"):
                        chunk.message.response_metadata["gpu_s"] = time.perf_counter() - started
                    yield chunk
            except Exception as exc:  # the client's read timeout is the first-token deadline
                if "timeout" not in type(exc).__name__.lower() and "timed out" not in str(exc).lower():
                    raise
                raise ModelError(f"{spec.spec}: no first token within {deadline:g}s (the GPU container is still "
                                 "starting)", provider="modal", model=spec.spec, retryable=False,
                                 hint=f"it keeps starting for the next turn; `podium modal warm {spec.name}` "
                                      "starts one ahead, PODIUM_MODAL_FIRST_TOKEN_S waits longer") from exc

    return ChatModal(
        model=spec.name, api_key="not-needed-for-modal-endpoints",
        base_url=spec.extra["base_url"], timeout=httpx.Timeout(deadline, connect=min(deadline, 10.0)),
        max_retries=0, temperature=settings.temperature, max_completion_tokens=settings.max_tokens,
        stream_usage=True,
    )


def warm_up(name: str, settings: Settings, wait_s: float) -> float:
    """Start a container now by asking for the model list, waiting up to ``wait_s``; the seconds it took."""
    spec = resolve(name, settings)
    started = time.perf_counter()
    try:
        response = httpx.get(f"{spec.extra['base_url'].rstrip('/')}/models", timeout=wait_s)
    except httpx.HTTPError as exc:
        raise ModelError(f"modal/{name}: no container answered within {wait_s:g}s ({type(exc).__name__})",
                         provider="modal", model=spec.spec, retryable=True,
                         hint="check PODIUM_MODAL_URL and `podium modal status`; `podium modal logs` shows why",
                         ) from exc
    if response.status_code != 200:
        raise ModelError(f"modal/{name}: the endpoint answered {response.status_code}", provider="modal",
                         model=spec.spec, status=response.status_code, hint="see `podium modal logs`")
    return time.perf_counter() - started
