"""Turn any provider exception into a :class:`ModelError` that says who must act."""

from __future__ import annotations

from podium.errors import ModelError, PodiumError

_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


def classify(exc: BaseException, *, provider: str, model: str) -> PodiumError:
    """Map an exception from a model call to a Podium error with a hint."""
    if isinstance(exc, PodiumError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    retry_after = None
    response = getattr(exc, "response", None)
    if response is not None:
        header = getattr(response, "headers", {}).get("retry-after")
        try:
            retry_after = float(header) if header is not None else None
        except ValueError:
            retry_after = None
    if status == 401 or name == "AuthenticationError":
        return ModelError(f"{model}: the API key was rejected (401)", provider=provider, model=model,
                          status=401, hint="check OPENAI_API_KEY")
    if status is not None and status not in _RETRYABLE_STATUS:
        return ModelError(f"{model}: request refused ({status}): {_short(exc)}", provider=provider, model=model,
                          status=status, hint="check the model name and the request")
    if status is not None:
        return ModelError(f"{model}: server error {status}", provider=provider, model=model, status=status,
                          retryable=True, retry_after_s=retry_after, hint="the provider is overloaded or failing")
    if "Timeout" in name:
        return ModelError(f"{model}: the request timed out", provider=provider, model=model, retryable=True,
                          hint="raise PODIUM_REQUEST_TIMEOUT_S or try later")
    if "Connection" in name or isinstance(exc, ConnectionError | OSError):
        return ModelError(f"{model}: cannot reach the server ({_short(exc)})", provider=provider, model=model,
                          retryable=True, hint="check OPENAI_BASE_URL and that the server is running")
    return ModelError(f"{model}: {name}: {_short(exc)}", provider=provider, model=model, retryable=False,
                      hint="see the log for details")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
