"""What the CLI and the web app share to start a dataset run: the model chain, embeddings, passages.

The run gets its own context (its own ledger thread, ``datagen-<id>``), so its cost is
one ledger query and ``podium usage --thread`` shows it.
"""

from __future__ import annotations

import threading
from typing import Any

from podium.errors import NotFoundError
from podium.settings import Settings, load_settings
from tools.datagen.backend import Backend
from tools.datagen.engine import Job
from tools.datagen.request import Request

REMOTE_CONCURRENCY = 4
"""Requests at once to a remote model when ``--concurrency`` is not given."""


def _passages(job: Job, settings: Settings, kb: Any) -> list[dict[str, Any]]:
    from memory.store import KnowledgeBase
    from tools.datagen.makers import load_passages

    kb = kb or KnowledgeBase(settings)
    if not settings.chroma_url and job.collection not in kb.catalog():  # known without opening Chroma
        raise NotFoundError("collection", job.collection or "", hint="ingest documents first (podium ingest "
                            f"PATH --collection {job.collection}), or see `podium kb list`")
    return load_passages(kb, job.collection or "")


def open_backend(request: Request, job: Job, settings: Settings | None = None, *, models: Any = None,
                 ledger: Any = None, knowledge: Any = None) -> tuple[Backend, Any, list[dict[str, Any]]]:
    """The backend for the request's model chain, the embedder for near duplicates, and the passages to use.

    ``models``, ``ledger`` and ``knowledge`` are the app's own when it has them (the web app); the CLI opens its own.
    """
    settings = settings or load_settings()
    passages = _passages(job, settings, knowledge) if job.mode == "docs" else []
    from agents.common import call_model  # the routing layer's one door to a model
    from agents.contract import Context, TurnOptions
    from models import routing
    from models.call import ModelCaller
    from models.ledger import open_ledger
    from models.registry import ModelPool

    pool = models or ModelPool(settings)
    routing.check(settings, pool, model=request.model or "", fallbacks=request.fallbacks or None)
    ledger = ledger or open_ledger(settings)
    options = TurnOptions(model=request.model or "", fallbacks=list(request.fallbacks or settings.fallbacks))
    ctx = Context(settings=settings, engine=ModelCaller(settings, pool, ledger), ledger=ledger, options=options)
    backend = Backend(ctx, call_model)
    if request.concurrency is None and not backend.spec.local:
        job.concurrency = REMOTE_CONCURRENCY
    embed = None
    if job.dedup is not None:
        from memory.embeddings import OnnxMiniLM, make_embedder

        embedder = make_embedder(settings.embedding_model, settings)
        embed = embedder.embed
        if isinstance(embedder, OnnxMiniLM):  # a local model loads while the first row is made, not after it
            threading.Thread(target=embedder.count_tokens, args=(["."],), name="datagen-embedder").start()
    return backend, embed, passages
