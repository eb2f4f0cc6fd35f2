"""The request gate of ``podium serve``: metrics for every request; size, content type and key for ``/v1``.

A plain ASGI middleware, so it runs before FastAPI parses anything: a huge body is refused
(413) after reading at most the limit, a body that is not JSON gets 415, and with keys
created a request without a valid one never reaches a handler. The body it read is handed
on unchanged; later ``receive`` calls (a client disconnecting mid-stream) go to the server.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.concurrency import run_in_threadpool

from podium.errors import PodiumError
from ui.api_errors import ApiError, from_podium
from ui.api_keys import KeyStore
from ui.api_metrics import Metrics

ROUTES = ("/v1/chat/completions", "/v1/embeddings", "/v1/models", "/healthz", "/readyz", "/metrics",
          "/openapi.json", "/docs", "/ui")


def route_label(path: str) -> str:
    """A bounded metric label for a path (model ids and unknown paths collapse)."""
    if path.startswith("/v1/models/"):
        return "/v1/models/{id}"
    return next((r for r in ROUTES if path == r or path.startswith(r + "/")), "other")


class Gate:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: Any, *, keys: KeyStore, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.keys = keys
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Count and time every request; gate the ``/v1`` ones."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, started, status = route_label(scope["path"]), time.perf_counter(), {"code": 500}

        async def counted_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            if scope["path"].startswith("/v1/"):
                await self._guarded(scope, receive, counted_send)
            else:
                await self.app(scope, receive, counted_send)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(route, str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)

    async def _guarded(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            if scope["method"] == "POST":
                body = await self._body(scope, receive)
                receive = _replay(body, receive)
            key = await self._admit(scope)
        except ApiError as error:
            self.metrics.errors.labels(str(error.status), error.code or "").inc()
            await error.response()(scope, receive, send)
            return
        scope.setdefault("state", {})["key"] = key
        await self.app(scope, receive, send)

    async def _body(self, scope: dict[str, Any], receive: Any) -> bytes:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ApiError(415, f"the body must be JSON (Content-Type: application/json), not {kind or 'untyped'}",
                           param="Content-Type", code="unsupported_media_type")
        limit = self.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    async def _admit(self, scope: dict[str, Any]) -> Any:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        secret = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        # SQLite answers in microseconds: asked inline. Postgres may stall (a restart): asked off the loop.
        call = run_in_threadpool if self.keys.db.postgres else _inline
        try:
            if not await call(self.keys.any):
                return None  # no keys: the server only listens on 127.0.0.1
            return await call(self.keys.admit, secret)
        except PodiumError as exc:
            raise from_podium(exc) from None


async def _inline(function: Any, *args: Any) -> Any:
    return function(*args)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body over {limit // 1024} KiB", code="request_too_large")


def _replay(body: bytes, receive: Any) -> Any:
    sent = {"body": False}

    async def replay() -> dict[str, Any]:
        if not sent["body"]:
            sent["body"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay
