"""The knowledge base: Chroma collections of chunks, each bound to the embedding model that built it.

Chroma runs embedded (``PersistentClient`` in ``PODIUM_HOME/knowledge/chroma``) or as a
server (``HttpClient`` when ``PODIUM_CHROMA_URL`` is set). Podium always embeds
itself and hands Chroma the vectors, and passes its own embedding function so
Chroma never falls back to its downloading default. Nothing opens until first use.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memory import manifest
from memory.chroma import PAGE, chroma_function, connect, read_all
from memory.embeddings import Embedder, make_embedder
from memory.lexical import LexicalIndex
from memory.manifest import DocRecord
from memory.owners import OWNER_KEY, SHARED_KEY, owner_of, shared_with
from memory.retrieval import Hit
from memory.retrieval import search as search_collection
from podium.errors import ConfigError, NotFoundError, PodiumError

if TYPE_CHECKING:
    from podium.settings import Settings

DEFAULT_COLLECTION = "default"
EMBEDDER_KEY = "podium_embedder"
"""Collection metadata naming the embedding model that built it."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")


def check_name(name: str) -> str:
    """A valid collection name, or a :class:`ConfigError` saying what is allowed."""
    if not _NAME.match(name) or ".." in name:
        raise ConfigError(f"invalid collection name {name!r}", setting="collection",
                          hint="use 3-63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit")
    return name


class KnowledgeBase:
    """Collections of chunks with dense and lexical search; cheap to construct, opens on first use."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, client: Any = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._client = client
        self._lexical: dict[str, LexicalIndex] = {}
        self._lock = threading.RLock()  # the web app shares one knowledge base between sessions

    # -- opening ---------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The configured embedding model (``PODIUM_EMBEDDING_MODEL``)."""
        if self._embedder is None:
            self._embedder = make_embedder(self.settings.embedding_model, self.settings)
        return self._embedder

    @property
    def folder(self) -> Path:
        """Where Podium keeps its knowledge files (Chroma data, BM25 indexes, catalog, lock)."""
        return self.settings.data_dir / "knowledge"

    @property
    def client(self) -> Any:
        """The Chroma client, connected on first use."""
        with self._lock:
            if self._client is None:
                self._client = connect(self.settings.chroma_url, self.folder / "chroma")
            return self._client

    def usable(self) -> bool:
        """Whether there is something to search, known without opening Chroma (a catalog read)."""
        if self.settings.chroma_url:
            return True
        return any(info.get("chunks", 0) for info in self.catalog().values())

    def catalog(self) -> dict[str, dict[str, Any]]:
        """Collection summaries written after every change (``{name: {chunks, documents, embedder}}``)."""
        try:
            return json.loads((self.folder / "catalog.json").read_text())
        except (OSError, ValueError):
            return {}

    def _write_catalog(self) -> None:
        data = {c["name"]: c for c in self.collections()}
        path = self.folder / "catalog.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)

    @contextlib.contextmanager
    def writing(self, on_wait: Callable[[str], None] | None = None, timeout_s: float = 3600) -> Iterator[None]:
        """Hold the data dir's writer lock; ``on_wait`` hears why when another writer has it."""
        from filelock import FileLock, Timeout

        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.folder / "writer.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait:
                on_wait(f"another process is writing to the knowledge base in {self.settings.data_dir}; waiting for it")
            try:
                lock.acquire(timeout=timeout_s)
            except Timeout as exc:
                raise PodiumError("timed out waiting for the knowledge base lock",
                                  hint=f"another ingest holds {self.folder / 'writer.lock'}") from exc
        try:
            yield
        finally:
            lock.release()

    # -- collections -----------------------------------------------------------------------

    def collection(self, name: str, *, create: bool = False, owner: str | None = None) -> Any:
        """Open a collection, checking that it was built with this embedding model.

        A collection ``create`` makes belongs to ``owner`` (default: the machine's user, see :mod:`memory.owners`).
        """
        from chromadb.errors import NotFoundError as ChromaNotFound

        check_name(name)
        function = chroma_function(self.embedder)
        try:
            col = self.client.get_collection(name, embedding_function=function)
        except ChromaNotFound:
            if not create:
                raise NotFoundError("collection", name, hint="ingest documents first (podium ingest PATH "
                                    f"--collection {name}), or see `podium kb list`") from None
            now = time.time()
            return self.client.create_collection(
                name, embedding_function=function, configuration={"hnsw": {"space": "cosine"}},
                metadata={EMBEDDER_KEY: self.embedder.name, "podium_created": now, "podium_updated": now,
                          "podium_version": uuid.uuid4().hex, "podium_documents": 0,
                          OWNER_KEY: owner or owner_of(None), SHARED_KEY: ""})
        except ValueError as exc:  # Chroma's own embedding-function conflict: not a Podium collection
            raise ConfigError(f"collection {name!r} was not created by Podium", setting="collection",
                              hint="pick another collection name") from exc
        built_with = (col.metadata or {}).get(EMBEDDER_KEY)
        if built_with != self.embedder.name:
            raise ConfigError(
                f"collection {name!r} was built with the embedding model {built_with!r}, "
                f"but {self.embedder.name!r} is configured; its vectors are not comparable",
                setting="embedding_model",
                hint=f"set PODIUM_EMBEDDING_MODEL={built_with}, or re-ingest after `podium kb delete {name}`")
        return col

    def collections(self) -> list[dict[str, Any]]:
        """Every collection with its chunk and document counts and embedding model."""
        out = []
        for col in sorted(self.client.list_collections(), key=lambda c: c.name):
            meta = col.metadata or {}
            out.append({"name": col.name, "chunks": col.count(), "documents": meta.get("podium_documents", 0),
                        "embedder": meta.get(EMBEDDER_KEY, "?"), "updated": meta.get("podium_updated"),
                        "owner": owner_of(meta), "shared": shared_with(meta)})
        return out

    def default_collection(self) -> str:
        """The collection a command means when it names none: ``default``, else the only collection there is."""
        names = [c["name"] for c in self.collections()]
        return names[0] if len(names) == 1 and DEFAULT_COLLECTION not in names else DEFAULT_COLLECTION

    def delete(self, name: str) -> None:
        """Delete a collection and its lexical index."""
        import shutil

        check_name(name)
        if name not in {c.name for c in self.client.list_collections()}:  # whatever model built it
            raise NotFoundError("collection", name, hint="see `podium kb list`")
        self.client.delete_collection(name)
        shutil.rmtree(self.folder / "lexical" / name, ignore_errors=True)
        (self.folder / "manifests" / f"{name}.json").unlink(missing_ok=True)
        self._lexical.pop(name, None)
        self._write_catalog()

    def stats(self, name: str) -> dict[str, Any]:
        """Counts for one collection: documents, chunks, tokens, file types, the largest documents."""
        col = self.collection(name)
        meta = col.metadata or {}
        per_source: dict[str, int] = {}
        tokens = 0
        for row in read_all(col, ["metadatas"]):
            m = row["metadata"]
            per_source[m["source"]] = per_source.get(m["source"], 0) + 1
            tokens += int(m.get("tokens", 0))
        types: dict[str, int] = {}
        for source in per_source:
            suffix = Path(source).suffix.lower() or "(none)"
            types[suffix] = types.get(suffix, 0) + 1
        chunks = sum(per_source.values())
        return {"name": name, "embedder": meta.get(EMBEDDER_KEY), "documents": len(per_source), "chunks": chunks,
                "tokens": tokens, "avg_chunk_tokens": round(tokens / chunks, 1) if chunks else 0,
                "file_types": dict(sorted(types.items())),
                "largest": sorted(per_source.items(), key=lambda kv: -kv[1])[:5],
                "created": meta.get("podium_created"), "updated": meta.get("podium_updated"),
                "location": self.settings.chroma_url or str(self.folder / "chroma")}

    # -- reading ---------------------------------------------------------------------------

    def lexical(self, name: str, col: Any | None = None) -> LexicalIndex:
        """The BM25 index of a collection's current version (memory, then disk, then rebuilt)."""
        col = col if col is not None else self.collection(name)
        version = (col.metadata or {}).get("podium_version", "")
        cached = self._lexical.get(name)
        if cached is not None and cached.version == version:
            return cached
        with self._lock:
            cached = self._lexical.get(name)
            if cached is not None and cached.version == version:
                return cached
            return self._load_lexical(name, col, version)

    def _load_lexical(self, name: str, col: Any, version: str) -> LexicalIndex:
        """Load this version's index, or update the last one: only chunks it has not seen are read and tokenized.

        A chunk id names its content (source, content hash, position), so a known id needs
        nothing but its id: listing ids is all a large, barely changed collection costs.
        """
        folder = self.folder / "lexical" / name
        index = LexicalIndex.load(folder, version)
        if index is None:
            previous = self._lexical.get(name) or LexicalIndex.load(folder) or LexicalIndex("", [], [])
            ids = col.get(include=[])["ids"]
            sources = dict(zip(previous.ids, previous.sources, strict=True))
            known = set(sources)
            texts = self._texts(col, [i for i in ids if i not in known], sources)
            index = previous.updated(version, ids, [sources[i] for i in ids], texts)
            with contextlib.suppress(OSError):  # a read-only data dir still searches, just slower
                index.save(folder)
        self._lexical[name] = index
        return index

    @staticmethod
    def _texts(col: Any, ids: list[str], sources: dict[str, str]) -> dict[str, str]:
        """What BM25 indexes for each chunk (its heading path and text); records each one's source."""
        out = {}
        for start in range(0, len(ids), PAGE):
            page = col.get(ids=ids[start:start + PAGE], include=["documents", "metadatas"])
            for id_, doc, meta in zip(page["ids"], page["documents"], page["metadatas"], strict=True):
                out[id_] = f"{(meta or {}).get('heading', '')}\n\n{doc}"
                sources[id_] = (meta or {}).get("source", "")
        return out

    # -- writing (callers hold ``writing()``) ------------------------------------------------

    def documents(self, col: Any) -> dict[str, DocRecord]:
        """The complete stored version of every source (see :mod:`memory.manifest`); repairs leftovers."""
        path = self.folder / "manifests" / f"{col.name}.json"
        saved = manifest.load(path, (col.metadata or {}).get("podium_version", ""))
        if saved is not None:
            return saved
        documents, stale = manifest.scan(col)
        if stale:
            col.delete(ids=stale)
            self._bump(col)
        return documents

    def add_document(self, col: Any, source: str, doc_hash: str, chunks: list[Any], vectors: np.ndarray,
                     path: str | None = None) -> None:
        """Add all chunks of one document version, or none: a failed add removes what it wrote.

        ``path`` is the file it was read from (what re-ingesting reads again).
        """
        key = uuid.uuid5(uuid.NAMESPACE_URL, source).hex[:16]
        ids = [f"{key}-{doc_hash[:16]}-{i}" for i in range(len(chunks))]
        added = time.time()
        metas = []
        for i, chunk in enumerate(chunks):
            meta = {"source": source, "heading": chunk.heading, "doc_hash": doc_hash, "chunk": i,
                    "chunks": len(chunks), "tokens": chunk.tokens, "added": added}
            if chunk.page is not None:
                meta["page"] = chunk.page
            if path:
                meta["path"] = path
            metas.append(meta)
        step = max(1, min(self.client.get_max_batch_size(), 4096))
        try:
            for s in range(0, len(ids), step):
                part = slice(s, s + step)
                col.add(ids=ids[part], embeddings=vectors[part], documents=[c.text for c in chunks[part]],
                        metadatas=metas[part])
        except BaseException:
            with contextlib.suppress(Exception):
                col.delete(ids=ids)
            raise

    def remove_document(self, col: Any, source: str, keep_hash: str | None = None) -> None:
        """Delete the chunks of ``source`` (except those of version ``keep_hash``)."""
        where: dict[str, Any] = {"source": source}
        if keep_hash:
            where = {"$and": [where, {"doc_hash": {"$ne": keep_hash}}]}
        col.delete(where=where)

    def begin(self, col: Any) -> None:
        """Before a batch of writes: a new version, so if the writer dies midway readers rebuild BM25 from
        what is really stored instead of trusting an index that misses the new chunks."""
        self._bump(col)

    def commit(self, col: Any, documents: dict[str, DocRecord], *, clean: bool = True) -> None:
        """After a batch of writes: new version (invalidates caches), manifest, BM25 index, catalog.

        ``clean=False`` (a write failed and its rollback may have too) saves no manifest, so the
        next ingest scans the collection and removes any leftovers.
        """
        self._bump(col, podium_documents=len(documents), podium_updated=time.time())
        path = self.folder / "manifests" / f"{col.name}.json"
        if clean:
            manifest.save(path, col.metadata["podium_version"], documents)
        else:
            path.unlink(missing_ok=True)
        col = self.client.get_collection(col.name, embedding_function=chroma_function(self.embedder))
        self.lexical(col.name, col)
        self._write_catalog()

    @staticmethod
    def _bump(col: Any, **extra: Any) -> None:
        meta = {k: v for k, v in (col.metadata or {}).items() if k.startswith("podium_")}
        col.modify(metadata={**meta, **extra, "podium_version": uuid.uuid4().hex})

    # -- searching ---------------------------------------------------------------------------

    def search(self, query: str, collection: str | None = None, k: int = 5, mode: str = "hybrid",
               source: str | None = None) -> list[Hit]:
        """Ranked :class:`~memory.retrieval.Hit` records (see :func:`memory.retrieval.search`)."""
        return search_collection(self, query, collection or DEFAULT_COLLECTION, k, mode, source)

    def best_collection(self, query: str, limit: int = 32) -> tuple[str | None, Any | None]:
        """The collection holding the chunk closest to ``query``, and that chunk (``(None, None)`` when none).

        For turns that name no collection: the question goes where its documents are, whatever
        the collection is called. Collections that cannot be searched (another embedding model)
        are skipped.
        """
        best: tuple[str | None, Any | None] = (None, None)
        for info in self.collections()[:limit]:
            if not info["chunks"]:
                continue
            try:
                hit = self.best_match(query, info["name"])
            except PodiumError:
                continue
            if hit is not None and (best[1] is None or hit.similarity > best[1].similarity):
                best = (info["name"], hit)
        return best

    def best_match(self, query: str, collection: str | None = None) -> Any | None:
        """The single closest chunk by dense similarity, or ``None`` when the collection is empty or absent."""
        try:
            hits = self.search(query, collection, k=1, mode="dense")
        except NotFoundError:
            return None
        return hits[0] if hits else None
