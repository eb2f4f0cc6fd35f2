"""Chroma plumbing: connecting (embedded or server), Podium's embedding function, paged reads."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from memory.embeddings import Embedder
from podium.errors import ConfigError

PAGE = 1000
"""Rows per Chroma ``get`` when reading a whole collection."""


def connect(url: str | None, path: Path) -> Any:
    """A ``PersistentClient`` at ``path``, or an ``HttpClient`` for ``url`` checked with a heartbeat."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    options = ChromaSettings(anonymized_telemetry=False)
    if not url:
        return chromadb.PersistentClient(path=str(path), settings=options)
    parts = urlparse(url if "://" in url else f"http://{url}")
    https = parts.scheme == "https"
    try:
        client = chromadb.HttpClient(host=parts.hostname or "localhost", port=parts.port or (443 if https else 8000),
                                     ssl=https, settings=options)
        client.heartbeat()
    except Exception as exc:  # noqa: BLE001 - connection errors come in many classes
        raise ConfigError(f"cannot reach the Chroma server at {url}: {type(exc).__name__}", setting="chroma_url",
                          hint="start it (chroma run) or unset PODIUM_CHROMA_URL") from exc
    return client


@lru_cache(maxsize=1)
def _function_class() -> type:
    """Podium's Chroma embedding function, defined (and registered) on first use: chromadb imports slowly.

    Registering it lets Chroma rebuild it from a collection's stored config without a
    warning; a rebuilt one knows only the model's name, since Podium always embeds itself.
    """
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    class PodiumEmbeddingFunction(EmbeddingFunction[Documents]):
        def __init__(self, inner: Embedder | None, model: str = "") -> None:
            self.inner, self.model = inner, inner.name if inner else model

        def __call__(self, input: Documents) -> Embeddings:
            if self.inner is None:
                raise ConfigError(f"no embedder loaded for {self.model}", setting="embedding_model",
                                  hint="open collections through memory.store.KnowledgeBase")
            return list(self.inner.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "podium"

        def get_config(self) -> dict[str, Any]:
            return {"embedder": self.model}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> PodiumEmbeddingFunction:
            return PodiumEmbeddingFunction(None, config.get("embedder", ""))

        def default_space(self) -> str:  # type: ignore[override]
            return "cosine"

    return register_embedding_function(PodiumEmbeddingFunction)


def chroma_function(embedder: Embedder) -> Any:
    """A Chroma embedding function over ``embedder`` (Chroma must never pick its downloading default)."""
    return _function_class()(embedder)


def read_all(col: Any, include: list[str]) -> Iterator[dict[str, Any]]:
    """Every row of a collection as ``{id, metadata, document}``, read in pages (a whole ``get`` can be huge)."""
    offset = 0
    while True:
        page = col.get(include=include, limit=PAGE, offset=offset)
        ids = page["ids"]
        metas, docs = page.get("metadatas") or [{}] * len(ids), page.get("documents") or [""] * len(ids)
        for id_, meta, doc in zip(ids, metas, docs, strict=True):
            yield {"id": id_, "metadata": meta or {}, "document": doc}
        if len(ids) < PAGE:
            return
        offset += PAGE
