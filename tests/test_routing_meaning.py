"""Routing by meaning with the real MiniLM: the examples' cache, confidence, weak rules, new specialists picked up,
and greetings or arithmetic that never load what they do not need."""

from __future__ import annotations

import re

import numpy as np
import pytest

from agents import router as routing_module
from agents.conductor import classify
from agents.contract import Rule, Specialist, TurnOptions
from agents.registry import SPECIALISTS
from agents.router import SemanticRouter, build_router, examples_key
from graph.app import PodiumApp
from memory.embeddings import OnnxMiniLM
from models.scripted import register_script

TRAVEL = Specialist(
    name="travel", node=lambda state, runtime: {}, description="books trips",
    examples=("book me a flight to Lisbon next Friday", "find a hotel in Rome for two nights",
              "I need a rental car at the Denver airport", "reserve two seats on the night train to Vienna",
              "what flights go from Boston to Chicago on Monday", "cancel my hotel booking in Madrid"))
"""A specialist the registry does not have, declared the way a file in agents/ would declare it."""


class Counting:
    """The real MiniLM, counting the texts it embeds (to see what the cache spares)."""

    def __init__(self) -> None:
        self.inner, self.embedded, self.name = OnnxMiniLM(), 0, OnnxMiniLM.name

    def embed(self, texts):
        self.embedded += len(texts)
        return self.inner.embed(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


@pytest.fixture
def fresh(monkeypatch):
    """No example vectors in this process's memory: each router reads the disk cache or embeds."""
    monkeypatch.setattr(routing_module, "_MATRICES", {})


def examples() -> dict[str, tuple[str, ...]]:
    return {s.name: s.examples for s in SPECIALISTS}


def test_example_vectors_are_embedded_once_and_cached_by_a_hash_of_the_examples(tmp_path, fresh):
    first = SemanticRouter(Counting(), examples(), tmp_path)
    assert first.guess("Explain why the sea is salty").best == "chat"
    assert first.embedder.embedded == sum(map(len, examples().values()))
    (cached,) = tmp_path.glob("routing-*.npy")
    assert cached.name == f"routing-{examples_key(OnnxMiniLM.name, examples())}.npy"
    routing_module._MATRICES.clear()  # as a new process would start
    again = SemanticRouter(Counting(), examples(), tmp_path)
    assert again.guess("Explain why the sea is salty").best == "chat" and again.embedder.embedded == 0
    changed = SemanticRouter(Counting(), {**examples(), "chat": ("one new example", *examples()["chat"])}, tmp_path)
    changed.matrix()
    assert changed.key != again.key and changed.embedder.embedded > 0 and len(list(tmp_path.glob("*.npy"))) == 2


def test_a_corrupt_cache_is_embedded_again(tmp_path, fresh):
    router = SemanticRouter(Counting(), examples(), tmp_path)
    (tmp_path / f"routing-{router.key}.npy").write_bytes(b"not numpy at all")
    assert router.matrix().shape == (sum(map(len, examples().values())), 384)
    assert router.embedder.embedded > 0
    assert np.load(tmp_path / f"routing-{router.key}.npy").shape[1] == 384  # and the cache is repaired


def test_the_router_loads_nothing_until_a_message_needs_it(settings, fresh, monkeypatch):
    import memory.embeddings
    import memory.quantized

    monkeypatch.setattr(memory.embeddings, "_CACHE", {})  # as a new process starts: no embedder loaded by others
    monkeypatch.setattr(memory.quantized, "_INSTANCES", {})
    app = PodiumApp(settings)
    assert app.router.embedder._session is None and app.router.key not in routing_module._MATRICES
    app.ask("hello!", options=TurnOptions(model="scripted/echo"))  # small talk: a rule
    app.ask("What is 2 + 2?", options=TurnOptions(model=register_script("lazy", ['[{"tool": "calculator", '
                                                                                 '"args": {"expression": "2 + 2"}}]'])))
    assert app.router.embedder._session is None, "greetings and arithmetic never load the embedding model"
    app.ask("Tell me about the history of tea", options=TurnOptions(model="scripted/echo"))
    assert app.router._words is not None or app.router.key in routing_module._MATRICES, "meaning looked at it"


@pytest.mark.parametrize(("text", "route", "why"), [
    ("Divide 1000 by 8.", "tools", "rule: asks for calculator"),
    ("hello there", "chat", "rule: small talk"),
    ("According to my notes, when is the team offsite?", "knowledge", "rule: "),
    ("Could you explain how photosynthesis works?", "chat", "meaning: "),
    ("How long do new hires stay on probation here?", "knowledge", "meaning: "),
    ("two", None, "no rule matched"),  # one word: nothing to go on
])
def test_rules_then_meaning(settings, text, route, why):
    router = build_router(settings, examples())
    got, reason = classify(text, {s.name: s for s in SPECIALISTS}, router)
    assert got == route and reason.startswith(why), reason


@pytest.mark.parametrize("text", [
    "Good morning from session 3, turn 1!", "Chat message 1 of session 0", "Hey, round 2!",
    "I'm in room 12, can you hear me?", "Can you summarise chapter 3 of Moby Dick?",
    "Test message number 5, please reply",
    "Hi, this is test 4 of 10", "My flight is on 14 June", "Version 2.1 is out, exciting",
])
def test_numbers_that_count_name_or_date_things_are_conversation(settings, text):
    """Digits alone make nothing arithmetic, a dataset or a date question: a session, room or version is small talk."""
    from agents.conductor import decide

    ctx = PodiumApp(settings).context("t")
    route, reason = decide(text, ctx.available(), ctx)
    assert route == "chat", reason


@pytest.mark.parametrize(("text", "route"), [
    ("Divide 1000 by 8.", "tools"), ("What is 5! divided by 3?", "tools"),
    ("How many days are there between 2026-03-01 and 2026-05-17?", "tools"),
    ("Generate 30 product reviews with a star rating", "datasets"),
])
def test_numbers_that_are_the_request_still_route_to_their_specialist(settings, text, route):
    from agents.conductor import decide

    ctx = PodiumApp(settings).context("t")
    assert decide(text, ctx.available(), ctx)[0] == route


def test_a_weak_rule_yields_to_a_strong_guess_for_another_specialist(settings):
    specialists = {s.name: s for s in SPECIALISTS}
    router = build_router(settings, {name: s.examples for name, s in specialists.items()})
    route, reason = classify("Write question-answer pairs from my notes to use as a test set", specialists,
                             router)
    assert route == "datasets" and reason.startswith("meaning: "), "'from my notes' is a weak rule"
    assert classify("What do my documents say about parking?", specialists, router)[0] == "knowledge"


def test_a_new_specialist_is_routed_to_by_its_examples_alone(settings, fresh):
    from agents.conductor import decide

    app = PodiumApp(settings, specialists=(*SPECIALISTS, TRAVEL))
    assert "travel" in app.router.examples
    ctx = app.context("t")
    text = "Please book a flight from Paris to Berlin for tomorrow"
    route, reason = decide(text, ctx.available(), ctx)
    assert route == "travel" and reason.startswith("meaning: ")
    assert decide(text, {s.name: s for s in SPECIALISTS}, ctx)[0] != "travel"


def test_low_confidence_ties_and_unseen_specialists_leave_the_conductor_unsure(settings):
    specialists = {s.name: s for s in SPECIALISTS}
    unsure = SemanticRouter(OnnxMiniLM(), examples(), settings.data_dir / "cache", threshold=0.99)
    route, reason = classify("Could you explain how photosynthesis works?", specialists, unsure)
    assert route is None and reason.startswith("meaning: ")  # the caller asks a router model, or chat answers
    tied = SemanticRouter(OnnxMiniLM(), examples(), settings.data_dir / "cache", margin=0.99)
    assert classify("Could you explain how photosynthesis works?", specialists, tied)[0] is None
    sure = build_router(settings, examples())
    assert classify("Could you explain how photosynthesis works?", specialists, sure)[0] == "chat"
    other = Specialist(name="other", node=lambda state, runtime: {}, description="no examples",
                       rules=(Rule(re.compile(r"^never$"), "never"),))
    assert classify("Could you explain how photosynthesis works?", {**specialists, "other": other}, sure)[0] is None


def test_specialists_that_start_long_work_want_a_surer_guess(settings):
    """'concurrent 3' is faintly like a throughput benchmark (0.29): not enough to run one; a real request is."""
    from dataclasses import replace

    from agents.contract import LONG_WORK

    specialists = {s.name: s for s in SPECIALISTS}
    router = build_router(settings, {name: s.examples for name, s in specialists.items()})
    guess = router.guess("concurrent 3", specialists)
    assert guess is not None and guess.best == "evaluation" and guess.confident and guess.score < LONG_WORK
    assert classify("concurrent 3", specialists, router)[0] is None
    faint = router.guess("stop before chat", specialists)  # a debugger user's words, faintly like fine-tuning
    assert faint is not None and faint.best == "finetune" and faint.confident and faint.score < LONG_WORK
    assert classify("stop before chat", specialists, router)[0] is None
    eager = {**specialists, "evaluation": replace(specialists["evaluation"], certainty=0.0)}
    assert classify("concurrent 3", eager, router)[0] == "evaluation"
    assert classify("Benchmark smollm2 on arc_easy with 20 questions", specialists, router)[0] == "evaluation"
