"""Turn any provider exception into a Podium error that says who must act and whether to retry."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

from podium.errors import ModelError, PodiumError

_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_REFUSED_HINTS = {
    400: "the server rejected the request; check the model name and options",
    403: "the key may lack access to this model; check OPENAI_API_KEY's project and permissions",
    404: "the model or endpoint does not exist there; check the model name and OPENAI_BASE_URL",
    422: "the server could not process the request; check the model name and options",
}


class StructuredOutputError(ModelError):
    """A model's answer did not match the requested schema, even after repairs."""


class TruncatedStreamError(ConnectionError):
    """A remote stream ended without a finish reason: the connection dropped mid-answer, or the server cut it short
    (llama-cpp-python's server ends a running answer with ``[DONE]`` when another request arrives)."""


class DeadlineError(TimeoutError):
    """A call ran past its provider's timeout while streaming."""


def retry_after(exc: BaseException) -> float | None:
    """Seconds a server asked us to wait (``retry-after-ms``, ``Retry-After`` seconds or HTTP date)."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms") is not None:
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, OverflowError):
        return None  # a garbled header means "no advice", not a failure of its own


def error_class(exc: BaseException) -> str:
    """The class name the ledger records: the provider's own (``RateLimitError``), not a wrapper."""
    for cls in type(exc).__mro__:
        # langchain-openai wraps openai's errors in subclasses named OpenAI*; the parent says more.
        if not cls.__name__.startswith("OpenAI") or cls.__module__.startswith("openai"):
            return cls.__name__
    return type(exc).__name__


def classify(exc: BaseException, *, provider: str, model: str, base_url: str | None = None) -> PodiumError:
    """Map an exception from a model call to a Podium error with a hint and a ``retryable`` flag."""
    if isinstance(exc, PodiumError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)

    def fail(message: str, hint: str, *, retryable: bool = False, **extra: Any) -> ModelError:
        return ModelError(f"{model}: {message}", provider=provider, model=model, status=status,
                          retryable=retryable, hint=hint, **extra)

    if status == 401 or name.endswith("AuthenticationError"):
        return fail("the API key was rejected (401)",
                    "check OPENAI_API_KEY (it is missing, wrong or revoked)")
    if status is not None and status not in _RETRYABLE_STATUS:
        return fail(f"request refused ({status}): {_short(exc)}",
                    _REFUSED_HINTS.get(status, "check the model name and the request"))
    if status is not None:
        return fail(f"server error {status}: {_short(exc)}",
                    "the provider is overloaded or failing; Podium retries",
                    retryable=True, retry_after_s=retry_after(exc))
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return fail(f"no answer within the timeout ({_short(exc)})",
                    f"raise PODIUM_TIMEOUTS for {provider}, or try later", retryable=True)
    if isinstance(exc, TruncatedStreamError):
        return fail("the answer stream ended before the answer did (no finish reason)",
                    "the connection dropped, or the server cut the answer short: llama-cpp-python's server does "
                    "when another request arrives unless started with --interrupt_requests False; Podium retries",
                    retryable=True)
    if isinstance(exc, json.JSONDecodeError):
        return fail("the server sent a malformed stream (not JSON)",
                    "the server or a proxy in between is misbehaving; Podium retries", retryable=True)
    if "Connection" in name or "Protocol" in name or isinstance(exc, ConnectionError | OSError):
        where = f"OPENAI_BASE_URL={base_url}" if base_url else "the provider"
        return fail(f"cannot reach {where} ({_short(exc)})",
                    "check OPENAI_BASE_URL and that the server is running" if base_url
                    else "check the network connection", retryable=True)
    return fail(f"{name}: {_short(exc)}", "see the log for details (PODIUM_LOG_LEVEL=DEBUG)")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
