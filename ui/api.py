"""Podium as an OpenAI-compatible HTTP API (``podium serve``), on the FastAPI and uvicorn Gradio brings.

``POST /v1/chat/completions`` runs ``model: "podium"`` (the conductor and its specialists, on a
thread) or any registry spec directly; ``/v1/models``, ``/v1/embeddings``, ``/healthz``,
``/readyz`` and ``/metrics`` (Prometheus) complete it. Every error is OpenAI-shaped
(:mod:`ui.api_errors`); the request gate (:mod:`ui.api_gate`) checks size, content type and
keys before a body is parsed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import threading
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from graph.app import PodiumApp
from graph.checkpoint import latest_checkpoint_id
from graph.locks import check_strategy
from podium.errors import PodiumError
from ui.api_chat import PODIUM, Job, estimate_usd, run_direct, run_podium
from ui.api_errors import ApiError, from_podium, validation_error
from ui.api_gate import Gate
from ui.api_keys import KeyStore
from ui.api_metrics import Metrics
from ui.api_render import ChunkWriter, Outcome, completion, sse
from ui.api_schemas import THREAD_PATTERN, ChatRequest, EmbeddingRequest

log = logging.getLogger("podium.api")
THREAD_HEADER = "X-Podium-Thread"


def create_app(podium: PodiumApp, keys: KeyStore, *, metrics: Metrics | None = None,
               max_body_bytes: int = 4 * 2**20) -> FastAPI:
    """The API app for one :class:`PodiumApp`; ``keys`` decides who may call it."""
    metrics = metrics or Metrics()
    app = FastAPI(title="Podium", version="0.1.0", summary="OpenAI-compatible API of the Podium conductor",
                  description="Chat with `model: \"podium\"` (the conductor and its specialists) or any model spec.")
    app.add_middleware(Gate, keys=keys, metrics=metrics, max_body_bytes=max_body_bytes)
    app.state.podium, app.state.keys, app.state.metrics = podium, keys, metrics
    _errors(app, metrics)

    @app.post("/v1/chat/completions", tags=["chat"], responses=_ERROR_DOCS)
    async def chat_completions(request: Request, body: ChatRequest,
                               x_podium_thread: Annotated[str | None, Header()] = None,
                               x_podium_multitask: Annotated[str | None, Header()] = None) -> Response:
        """Create a chat completion, streamed (SSE) or not; the answer's thread is in ``X-Podium-Thread``."""
        key = getattr(request.state, "key", None)
        strategy = _strategy(x_podium_multitask, body)
        thread = _thread(x_podium_thread, body)
        if body.model == PODIUM:
            if body.tools:
                raise ApiError(400, "model podium runs its own tools; pass `tools` with a model spec instead",
                               param="tools", code="invalid_value")
            thread = thread or Job.new_thread()
            if key is not None:
                await run_in_threadpool(keys.claim_thread, thread, key.id)
        else:
            await run_in_threadpool(_check_model, podium, body)
        job = Job(loop=asyncio.get_running_loop(), thread_id=thread or "", streaming=body.stream,
                  user=key.user if key is not None else None)

        def work(job: Job) -> Outcome:
            if body.model == PODIUM:
                return run_podium(podium, body, job, strategy)
            return run_direct(podium, body, job)

        def on_end(job: Job) -> None:
            _settle(podium, keys, metrics, job, key, body.model)

        if key is not None and key.budget_usd is not None:  # held before the call, settled by on_end
            await run_in_threadpool(keys.reserve, key.id, job.turn_id, estimate_usd(podium, body))
        job.start(work, on_end)
        headers = {THREAD_HEADER: thread} if body.model == PODIUM and thread else {}
        first = await _next(job, request)
        if first[0] == "error":
            raise _as_api_error(first[1])
        if not body.stream:
            outcome = await _drain(job, request, first)
            return JSONResponse(completion(outcome, request_id=f"chatcmpl-{job.turn_id}", model=body.model),
                                headers=headers)
        events = bool(body.podium and body.podium.events)
        stream = _stream(job, ChunkWriter(body, f"chatcmpl-{job.turn_id}"), first, events)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={**headers, "Cache-Control": "no-cache"})

    @app.get("/v1/models", tags=["models"], responses=_ERROR_DOCS)
    async def list_models() -> dict[str, Any]:
        """``podium`` itself, every registry model with its capability flags, and the embedding model."""
        return {"object": "list", "data": await run_in_threadpool(model_cards, podium)}

    @app.get("/v1/models/{model_id:path}", tags=["models"], responses=_ERROR_DOCS)
    async def get_model(model_id: str) -> dict[str, Any]:
        """One model's card (any spec the registry resolves, listed or not)."""
        cards = await run_in_threadpool(model_cards, podium)
        card = next((c for c in cards if c["id"] == model_id), None)
        if card is None:
            spec = await run_in_threadpool(_resolve, podium, model_id)
            card = _card(spec)
        return card

    @app.post("/v1/embeddings", tags=["embeddings"], responses=_ERROR_DOCS)
    async def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
        """Embed texts with the knowledge base's embedding model (``model``: ``podium`` or its name)."""
        return await run_in_threadpool(_embed, podium, body)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "a store or the model is not ready"}})
    async def readyz() -> JSONResponse:
        """Ready to serve: the model loads, the checkpoints, ledger, keys (and Chroma server) answer."""
        checks = await run_in_threadpool(_readiness, podium, keys)
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                            status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def prometheus() -> Response:
        """Prometheus text format; every series is prefixed ``podium_``."""
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


_ERROR_DOCS: dict[int | str, dict[str, Any]] = {
    code: {"description": text} for code, text in (
        (400, "invalid request (the field is in error.param)"), (401, "missing, invalid or revoked API key"),
        (403, "the key's budget is spent"), (404, "unknown model or thread"), (409, "the thread is busy"),
        (413, "request body too large"), (415, "not application/json"),
        (429, "rate limit (see Retry-After)"), (503, "a store is unreachable (see Retry-After)"))}


def _errors(app: FastAPI, metrics: Metrics) -> None:
    def send(error: ApiError) -> JSONResponse:
        metrics.errors.labels(str(error.status), error.code or "").inc()
        return error.response()

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return send(exc)

    @app.exception_handler(PodiumError)
    async def podium_error(request: Request, exc: PodiumError) -> JSONResponse:
        return send(from_podium(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return send(validation_error(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return send(ApiError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code=code))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s: %s", request.url.path, type(exc).__name__)
        return send(ApiError(500, f"internal error ({type(exc).__name__}); it is logged on the server",
                             code="internal_error"))


def _strategy(header: str | None, body: ChatRequest) -> str:
    value = header or (body.podium.multitask_strategy if body.podium else None)
    try:
        return check_strategy(value)
    except PodiumError as exc:
        raise ApiError(400, exc.one_line(), param="X-Podium-Multitask", code="invalid_value") from None


def _thread(header: str | None, body: ChatRequest) -> str | None:
    """The thread a request names: the header, ``podium.thread_id``, ``metadata.thread_id``, else ``user``."""
    for value, param in ((header, THREAD_HEADER), (body.podium.thread_id if body.podium else None, "podium.thread_id"),
                         ((body.metadata or {}).get("thread_id"), "metadata.thread_id")):
        if value is not None:
            if not re.match(THREAD_PATTERN, value):
                raise ApiError(400, "a thread id is 1-128 letters, digits or _.:- (starting with a letter or digit)",
                               param=param, code="invalid_value")
            return value
    if body.user:  # one thread per end user; any string is accepted, hashed when it is not id-shaped
        return body.user if re.match(THREAD_PATTERN, body.user) else "user-" + hashlib.sha256(
            body.user.encode()).hexdigest()[:16]
    return None


def _resolve(podium: PodiumApp, spec: str) -> Any:
    try:
        return podium.models.spec(spec)
    except PodiumError as exc:
        raise from_podium(exc, model_param=True) from None


def _check_model(podium: PodiumApp, body: ChatRequest) -> None:
    spec = _resolve(podium, body.model)
    if not spec.chat:
        raise ApiError(400, f"{spec.spec} is a completion-only model without a chat template", param="model",
                       code="model_not_chat")
    # A constrained model (llama.cpp) calls tools through a grammar built from their schemas: OpenAI-shaped calls.
    if body.tools and not (spec.tool_calling or spec.constrained):
        raise ApiError(400, f"{spec.spec} cannot call tools (neither natively nor through a grammar); use model "
                       "podium (its tools specialist) or a model with tool calling", param="tools",
                       code="tools_unsupported")


def _as_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, PodiumError):
        return from_podium(exc)
    log.error("completion failed: %s", type(exc).__name__, exc_info=exc)
    return ApiError(500, f"internal error ({type(exc).__name__}); it is logged on the server", code="internal_error")


async def _next(job: Job, request: Request) -> tuple[str, Any]:
    """The job's next item; a client that went away stops the job (checked twice a second)."""
    while True:
        try:
            return await asyncio.wait_for(job.queue.get(), timeout=0.5)
        except TimeoutError:
            if await request.is_disconnected():
                job.stop.set()


async def _drain(job: Job, request: Request, item: tuple[str, Any]) -> Outcome:
    while item[0] not in ("done", "error"):
        item = await _next(job, request)
    if item[0] == "error":
        raise _as_api_error(item[1])
    return item[1]


async def _stream(job: Job, writer: ChunkWriter, item: tuple[str, Any], events: bool) -> Any:
    """SSE chunks until the job ends; the client going away (cancellation) stops the turn."""
    shown = ""
    try:
        while True:
            kind, value = item
            if kind == "token" and value:
                shown += value
                yield writer.text(value)
            elif kind == "retract":
                shown = shown[: max(len(shown) - value, 0)]
                yield writer.event({"kind": "retract", "chars": value})
            elif kind == "event" and events:
                yield writer.event(value)
            elif kind == "done":
                rest = value.text[len(shown):] if value.text.startswith(shown) else value.text
                if not value.text.startswith(shown):  # the final answer is not what streamed: replace it
                    yield writer.event({"kind": "retract", "chars": len(shown)})
                yield writer.finish(value, rest)
                return
            elif kind == "error":
                yield sse(_as_api_error(value).body())
                return
            item = await job.queue.get()
    finally:
        job.stop.set()  # after the end a no-op; when the client left, the turn stops at its next token


def _settle(podium: PodiumApp, keys: KeyStore, metrics: Metrics, job: Job, key: Any, model: str) -> None:
    """After a completion (answered, failed or cut): count its ledger rows, end its hold and charge its key."""
    try:
        calls = podium.ledger.calls(turn=job.turn_id)
        metrics.record_calls(calls)
        outcome = "stopped" if job.stop.is_set() else "ok" if any(c.outcome == "ok" for c in calls) else "failed"
        metrics.turns.labels(model if model == PODIUM else "spec", outcome).inc()
        if key is not None:
            keys.settle(key.id, job.turn_id, sum(c.cost_usd or 0 for c in calls))
    except PodiumError as exc:  # the store went away meanwhile: the rows are in the ledger, the charge is not
        # (the hold stays until it expires: the key errs on the side of its budget)
        log.warning("could not settle completion %s: %s", job.turn_id, exc.one_line())


def _card(spec: Any) -> dict[str, Any]:
    return {"id": spec.spec, "object": "model", "created": 0, "owned_by": spec.provider,
            "context_length": spec.context_length, "description": spec.description,
            "capabilities": {"chat": spec.chat, "streaming": True,
                             "tool_calling": spec.tool_calling or spec.constrained,  # constrained: through a grammar
                             "native_tool_calling": spec.tool_calling,
                             "json_schema": spec.json_schema, "local": spec.local, "embeddings": False},
            "pricing": {"usd_per_1m_input": spec.price_in, "usd_per_1m_output": spec.price_out}}


_CARDS_LOCK = threading.Lock()


def model_cards(podium: PodiumApp) -> list[dict[str, Any]]:
    """The model list, built once per process (describing local models reads their GGUF metadata)."""
    with _CARDS_LOCK:  # a request during the startup build waits for it instead of building it again
        cached = getattr(podium, "_api_model_cards", None)
        if cached is None:
            cached = _build_cards(podium)
            podium._api_model_cards = cached  # type: ignore[attr-defined]
        return cached


def _build_cards(podium: PodiumApp) -> list[dict[str, Any]]:
    from models.registry import known_models

    settings = podium.settings
    cards = [{"id": PODIUM, "object": "model", "created": 0, "owned_by": "podium",
              "description": "the conductor: routes each turn to a specialist, keeps threads",
              "specialists": sorted(s.name for s in podium.specialists), "default_model": settings.model,
              "capabilities": {"chat": True, "streaming": True, "tool_calling": True, "json_schema": False,
                               "local": True, "embeddings": True, "threads": True}}]
    specs = [s for s in known_models(settings) if not isinstance(s, PodiumError)]
    if all(s.spec != settings.model for s in specs):
        try:
            specs.insert(0, podium.models.spec(settings.model))
        except PodiumError:
            pass
    cards += [_card(s) for s in specs]
    cards.append({"id": settings.embedding_model, "object": "model", "created": 0, "owned_by": "podium",
                  "capabilities": {"chat": False, "streaming": False, "tool_calling": False, "json_schema": False,
                                   "local": not settings.embedding_model.startswith("openai/"), "embeddings": True}})
    return cards


def _embed(podium: PodiumApp, body: EmbeddingRequest) -> dict[str, Any]:
    name = podium.settings.embedding_model
    if body.model not in (PODIUM, name):
        raise ApiError(404, f"unknown embedding model {body.model!r}; this server embeds with {name} (or say podium)",
                       param="model", code="model_not_found")
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    embedder = podium.knowledge.embedder
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    if body.dimensions is not None and body.dimensions != vectors.shape[1]:
        raise ApiError(400, f"{name} makes {vectors.shape[1]}-dimensional vectors; dimensions cannot change that",
                       param="dimensions", code="invalid_value")
    tokens = sum(embedder.count_tokens(texts))
    data = [{"object": "embedding", "index": i,
             "embedding": base64.b64encode(v.tobytes()).decode() if body.encoding_format == "base64" else v.tolist()}
            for i, v in enumerate(vectors)]
    return {"object": "list", "data": data, "model": name, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _readiness(podium: PodiumApp, keys: KeyStore) -> dict[str, str]:
    def check(name: str, probe: Any) -> None:
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports every failure as text
            checks[name] = (exc.one_line() if isinstance(exc, PodiumError) else type(exc).__name__)[:300]

    checks: dict[str, str] = {}
    check("checkpoints", lambda: latest_checkpoint_id(podium.checkpointer, "__readyz__"))
    check("ledger", lambda: podium.ledger.db.execute("SELECT 1 AS one"))
    check("keys", lambda: keys.db.execute("SELECT 1 AS one"))
    check("model", lambda: warm(podium))
    if podium.settings.chroma_url:
        check("knowledge", lambda: podium.knowledge.client.heartbeat())
    return checks


def warm(podium: PodiumApp) -> None:
    """Resolve and build the default model (a local GGUF is loaded into memory)."""
    model = podium.models.model(podium.settings.model)
    loader = getattr(model, "loaded", None)
    if callable(loader):
        loader()
