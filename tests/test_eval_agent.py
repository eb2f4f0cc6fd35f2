"""The evaluation specialist: what a question asks to measure, and the answer built around real scores."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from langchain_core.messages import HumanMessage

from agents.evaluation import LIMITS, answer_text, evaluation, read_request
from tests.conftest import LOCAL_MODEL


def test_questions_name_models_and_benchmarks() -> None:
    request = read_request("How good is llamacpp/smollm2-135m at maths?", "openai/gpt-4o-mini")
    assert request.models == [LOCAL_MODEL] and request.benchmark == "gsm8k"
    request = read_request("Compare smollm2 and gpt-4o-mini on ARC", LOCAL_MODEL)
    assert request.models == [LOCAL_MODEL, "openai/gpt-4o-mini"] and request.benchmark == "arc_easy"
    assert read_request("evaluate the model on hellaswag", LOCAL_MODEL) == read_request("x", LOCAL_MODEL).__class__(
        [LOCAL_MODEL], "hellaswag")
    assert read_request("is it good at coding?", LOCAL_MODEL).benchmark == "humaneval"
    assert read_request("score it on arc_challenge", LOCAL_MODEL).benchmark == "arc_challenge"


def test_the_answer_states_scores_intervals_and_overlap() -> None:
    rows = [{"model": "a", "metric": "acc_norm", "score": 40.0, "ci95": [30.0, 50.0], "n": 20, "total": 100,
             "seconds": 1.0},
            {"model": "b", "metric": "acc_norm", "score": 45.0, "ci95": [35.0, 55.0], "n": 20, "total": 100,
             "seconds": 2.0},
            {"model": "c", "error": "unknown local model 'c'"}]
    text = answer_text(rows, "arc_easy")
    assert "- a: acc_norm 40.0% (95% CI 30.0-50.0), 20 of 100 items" in text
    assert "b scores highest, but the intervals overlap" in text and "could not be evaluated" in text
    assert "podium eval run --model SPEC --benchmark arc_easy" in text


@pytest.mark.model
def test_the_node_runs_a_small_evaluation(settings, monkeypatch) -> None:
    from models.ledger import open_ledger
    from models.registry import ModelPool

    monkeypatch.setitem(LIMITS, "mc", 3)
    ctx = SimpleNamespace(settings=settings, models=ModelPool(settings), ledger=open_ledger(settings),
                          model_for=lambda node: LOCAL_MODEL)
    state = {"messages": [HumanMessage("How good is smollm2 on piqa?")]}
    out = evaluation(state, SimpleNamespace(context=ctx))
    answer = out["messages"][0].content
    assert answer.startswith("On piqa") and f"- {LOCAL_MODEL}: acc_norm" in answer and "3 of 1838 items" in answer


def test_the_specialist_is_registered_with_rules_and_examples() -> None:
    from agents.evaluation import SPECIALIST
    from agents.registry import find

    assert find("evaluation") is SPECIALIST and 3 <= len(SPECIALIST.examples) <= 120 and SPECIALIST.tools == ()
    matches = [t for t in ("How good is smollm2 at maths?", "Compare gpt-4o-mini and smollm2 on ARC.",
                           "What is the capital of France?", "how good is model X at maths?")
               if any(rule.pattern.search(t) for rule in SPECIALIST.rules)]
    assert matches == ["How good is smollm2 at maths?", "Compare gpt-4o-mini and smollm2 on ARC.",
                       "how good is model X at maths?"]


@pytest.mark.model
def test_the_conductor_routes_a_comparison_to_the_evaluation_specialist(settings, monkeypatch) -> None:
    from graph.app import PodiumApp

    monkeypatch.setitem(LIMITS, "mc", 2)
    result = PodiumApp(settings).ask("Compare smollm2 on piqa, how good is the model?")
    assert result.route[-1] == "evaluation", result.route
    assert f"- {LOCAL_MODEL}: acc_norm" in result.answer and "2 of 1838 items" in result.answer
