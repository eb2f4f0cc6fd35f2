"""Errors in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, with the right status.

Every Podium error a request can cause maps to one status here (never a 500 with a
traceback); messages go through the debugger's redaction, so a key or a database password
never reaches a client.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from graph.debug import redact
from graph.locks import ThreadBusy, TurnSuperseded
from podium.db import StoreUnavailable, redact_url
from podium.errors import ConfigError, ContextOverflowError, ModelError, NotFoundError, PodiumError
from ui.api_keys import Refused

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
         415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
         502: "server_error", 503: "server_error", 500: "server_error"}


class ApiError(Exception):
    """An error response: status, message, the offending ``param`` and a machine-readable ``code``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body (also sent as the last event of a stream that failed)."""
        message = redact_url(redact(self.message))
        return {"error": {"message": message, "type": TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        """The HTTP response."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def from_podium(exc: PodiumError, *, model_param: bool = False) -> ApiError:
    """The API error for a Podium error; ``model_param``: a configuration error names the request's model."""
    text = exc.one_line()
    if isinstance(exc, Refused):
        headers = {"Retry-After": str(int(exc.retry_after_s + 0.999))} if exc.retry_after_s else None
        return ApiError(exc.status, text, code=exc.code, headers=headers)
    if isinstance(exc, ThreadBusy):
        return ApiError(409, text, param="X-Podium-Thread", code="thread_busy")
    if isinstance(exc, TurnSuperseded):
        return ApiError(409, text, param="X-Podium-Thread", code="turn_superseded")
    if isinstance(exc, StoreUnavailable):
        return ApiError(503, text, code="store_unavailable", headers={"Retry-After": "1"})
    if isinstance(exc, ContextOverflowError):
        return ApiError(400, text, param="messages", code="context_length_exceeded")
    if isinstance(exc, NotFoundError):
        param = {"thread": "X-Podium-Thread", "collection": "podium.collection"}.get(exc.kind)
        return ApiError(404, text, param=param, code=f"{exc.kind.replace(' ', '_')}_not_found")
    if isinstance(exc, ConfigError) and model_param:
        unknown = exc.setting == "model"
        return ApiError(404 if unknown else 400, text, param="model",
                        code="model_not_found" if unknown else "model_unavailable")
    if isinstance(exc, ModelError):
        return ApiError(502, text, code="upstream_error")
    if isinstance(exc, ConfigError) and exc.setting.startswith(("PODIUM_", "OPENAI_")):
        return ApiError(503, text, code="server_misconfigured")
    return ApiError(400, text, code="invalid_request")


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    """A 400 naming the first invalid field of a request body (FastAPI/pydantic errors)."""
    first: dict[str, Any] = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    kind = first.get("type", "")
    if kind == "json_invalid":
        details: dict[str, Any] = first.get("ctx", {})
        return ApiError(400, f"malformed JSON: {details.get('error', first['msg'])}",
                        code="invalid_json")
    if kind == "extra_forbidden":
        return ApiError(400, f"unrecognized request argument supplied: {'.'.join(loc)}", param=".".join(loc),
                        code="unknown_parameter")
    if kind == "missing":
        return ApiError(400, f"missing required parameter: {'.'.join(loc)}", param=".".join(loc),
                        code="missing_required_parameter")
    # Union types report every branch they tried: keep the field path, not the branch names.
    path = ".".join(p for p in loc if not p[:1].isupper() and p not in ("str", "list[TextPart]", "function-after"))
    return ApiError(400, f"invalid value for {path or 'the request'}: {first['msg']}", param=path or None,
                    code="invalid_value")
