"""Evaluation: pure units (statistics, answer extraction, arena files, cards, leaderboard exports)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from models.scores import Result, Scores, Speed
from tools.evals import stats
from tools.evals.arena import Arena, VotesFileError, check_vote
from tools.evals.gen import bbh_score, drop_score, gsm8k_score, last_boxed, math_score, normalize_math
from tools.evals.generate import cut_at_stops
from tools.evals.runner import letter_answer
from tools.evals.tasks import Item, fewshot_block, sample


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_n() -> None:
    small = stats.bootstrap_ci([1, 0] * 10, seed=1)
    large = stats.bootstrap_ci([1, 0] * 1000, seed=1)
    assert small[0] < 50 < small[1] and large[0] < 50 < large[1]
    assert large[1] - large[0] < small[1] - small[0]
    assert stats.bootstrap_ci([1, 1, 1]) == (100.0, 100.0)
    assert stats.bootstrap_ci([1, 0, 1], seed=3) == stats.bootstrap_ci([1, 0, 1], seed=3)  # seeded: repeatable


def _logistic_mle(battles: list[tuple[str, str, str]]) -> dict[str, float]:
    """An independent Bradley-Terry fit: gradient ascent on the logistic likelihood (ties as half wins)."""
    from collections import Counter

    counted = Counter(battles)
    models = sorted({m for a, b, _ in battles for m in (a, b)})
    theta = dict.fromkeys(models, 0.0)
    for _ in range(20000):
        grad = dict.fromkeys(models, 0.0)
        for (a, b, w), n in counted.items():
            p = 1 / (1 + math.exp(theta[b] - theta[a]))
            y = {"model_a": 1.0, "model_b": 0.0}.get(w, 0.5)
            grad[a] += n * (y - p)
            grad[b] -= n * (y - p)
        for m in models:
            theta[m] += 0.01 * grad[m]
    mean = sum(theta.values()) / len(theta)
    return {m: 1000 + 400 * (t - mean) / math.log(10) for m, t in theta.items()}


def test_bradley_terry_matches_an_independent_logistic_fit() -> None:
    battles = ([("a", "b", "model_a")] * 30 + [("a", "b", "model_b")] * 10 + [("b", "c", "model_a")] * 20
               + [("b", "c", "model_b")] * 20 + [("a", "c", "tie")] * 6 + [("c", "a", "model_a")] * 4)
    ours = stats.bradley_terry(battles, prior=0.0)
    reference = _logistic_mle(battles)
    for model in ours:
        assert ours[model] == pytest.approx(reference[model], abs=1.0)
    assert ours["a"] > ours["b"] > 0


def test_bradley_terry_stays_finite_for_an_unbeaten_model_and_bootstrap_brackets_it() -> None:
    battles = [("a", "b", "model_a")] * 5
    ratings = stats.bradley_terry(battles)
    assert all(math.isfinite(r) for r in ratings.values()) and ratings["a"] > ratings["b"]
    intervals = stats.bootstrap_ratings(battles + [("b", "a", "tie")], seed=0, resamples=50)
    assert intervals["a"][0] <= intervals["a"][1]


def test_votes_file_errors_point_at_the_line_and_import_nothing(tmp_path: Path) -> None:
    arena = Arena(tmp_path / "evals.sqlite")
    good = {"model_a": "x", "model_b": "y", "winner": "model_a"}
    path = tmp_path / "votes.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "winner": "A"}) + "\n")
    with pytest.raises(VotesFileError) as info:
        arena.import_file(path)
    assert info.value.line == 2 and "winner must be one of" in info.value.message
    path.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(VotesFileError, match="line 2: not valid JSON"):
        arena.import_file(path)
    path.write_text("  \n")
    with pytest.raises(VotesFileError, match="empty"):
        arena.import_file(path)
    assert arena.votes() == []  # nothing half-written
    assert check_vote({"model_a": "x", "model_b": "x", "winner": "tie"}) == "a model cannot play itself (x)"
    assert "missing model_b" in check_vote({"model_a": "x", "winner": "tie"})


def test_imported_votes_rate_the_winner_first(tmp_path: Path) -> None:
    arena = Arena(tmp_path / "evals.sqlite")
    path = tmp_path / "votes.json"
    votes = [{"model_a": "big", "model_b": "small", "winner": "model_a"}] * 8 + \
            [{"model_a": "small", "model_b": "big", "winner": "tie (bothbad)"}] * 2
    path.write_text(json.dumps(votes))
    assert arena.import_file(path) == 10
    board = arena.leaderboard()
    assert [r["model"] for r in board] == ["big", "small"]
    assert board[0]["votes"] == 10 and board[0]["wins"] == 8 and board[0]["ci95"][0] <= board[0]["rating"]


def test_gsm8k_extraction_strict_and_flexible() -> None:
    item = Item(id="x", prompt="", gold="1,234")
    assert gsm8k_score(item, "So 1000 + 234 = 1234. The answer is 1,234.\n") == \
        {"exact_match_strict": 1.0, "exact_match_flexible": 1.0}
    assert gsm8k_score(item, "I think it is 1234") == {"exact_match_strict": 0.0, "exact_match_flexible": 1.0}
    assert gsm8k_score(item, "The answer is 12.") == {"exact_match_strict": 0.0, "exact_match_flexible": 0.0}


def test_math_boxed_answers_are_normalised() -> None:
    assert last_boxed(r"so $\boxed{\frac{2}{3}}$ and then \boxed{x^{2}+1}") == "x^{2}+1"
    assert normalize_math(r"\dfrac{1}{2}") == normalize_math(r"\frac12") == r"\frac{1}{2}"
    assert normalize_math(r"x = 1,000") == "1000" and normalize_math(r"5\text{ cm}") == "5"
    item = Item(id="m", prompt="", gold=r"\frac{2}{3}")
    assert math_score(item, r"We get $\boxed{\dfrac{2}{3}}$.") == {"exact_match": 1.0}
    assert math_score(item, "Final Answer: The final answer is $\\frac{2}{3}$. I hope it is correct.") == \
        {"exact_match": 1.0}
    assert math_score(item, "no idea") == {"exact_match": 0.0}


def test_bbh_and_drop_scoring() -> None:
    item = Item(id="b", prompt="", gold="(B)")
    assert bbh_score(item, "Step one. So the answer is (B).") == {"exact_match": 1.0}
    assert bbh_score(item, "So the answer is (C).") == {"exact_match": 0.0}
    drop = Item(id="d", prompt="", gold=[["swedish"], ["13.9"]])
    assert drop_score(drop, " Swedish") == {"em": 1.0, "f1": 1.0}
    partial = drop_score(Item(id="d", prompt="", gold=[["the red house"]]), "red car")
    assert partial["em"] == 0.0 and partial["f1"] == pytest.approx(0.5)


def test_letter_answers_and_stop_strings() -> None:
    assert letter_answer("B", 4) == 1 and letter_answer("(C) because", 4) == 2
    assert letter_answer("The answer is D.", 4) == 3 and letter_answer("E", 4) is None
    assert letter_answer("I think", 4) is None  # a lone capital "I" is not an option of four
    assert cut_at_stops("abc\nQ: next", ["Q:", "\n\n"]) == "abc\n" and cut_at_stops("abc", ["x"]) == "abc"


def test_limit_sample_is_seeded_and_keeps_order() -> None:
    items = [Item(id=str(i), prompt="") for i in range(100)]
    a, b = sample(items, 10, seed=7), sample(items, 10, seed=7)
    assert [i.id for i in a] == [i.id for i in b] and len(a) == 10
    assert [int(i.id) for i in a] == sorted(int(i.id) for i in a)
    assert [i.id for i in sample(items, 10, seed=8)] != [i.id for i in a]
    assert fewshot_block([("Q: 1\nA:", "x")]) == "Q: 1\nA: x\n\n"


def test_scores_best_and_normalized(tmp_path: Path) -> None:
    scores = Scores(tmp_path / "evals.sqlite")
    small = Result("m", "arc_easy", "acc_norm", 60.0, (50.0, 70.0), n=20, random_baseline=25.0)
    full = Result("m", "arc_easy", "acc_norm", 55.0, (53.0, 57.0), n=2376, random_baseline=25.0)
    scores.add(full)
    scores.add(small)
    assert scores.best()[("m", "arc_easy")].n == 2376  # a later --limit run does not replace the full one
    assert full.normalized == pytest.approx(40.0)
    assert Result("m", "b", "acc", 10.0, (0, 20), n=5, random_baseline=25.0).normalized == 0.0
    scores.add_speed(Speed("m", 3, 50.0, 0.1, 1.0, 1.2, rate_limits={"x-ratelimit-remaining-requests": "9"}))
    assert scores.speed("m").rate_limits == {"x-ratelimit-remaining-requests": "9"}


def test_leaderboard_csv_and_plots(tmp_path: Path) -> None:
    from tools.evals.leaderboard import PLOTS, build, export, to_csv

    scores = Scores(tmp_path / "evals.sqlite")
    scores.add(Result("a", "arc_easy", "acc_norm", 60.0, (55.0, 65.0), n=100, random_baseline=25.0))
    scores.add(Result("b", "arc_easy", "acc_norm", 40.0, (35.0, 45.0), n=100, random_baseline=25.0))
    scores.add(Result("b", "gsm8k", "exact_match_strict", 10.0, (5.0, 15.0), n=100))
    scores.add_speed(Speed("a", 3, 80.0, 0.05, 0.8, 0.9))
    board = build(scores, {"a": (0.0, 0.0), "b": (0.15, 0.6)})
    assert [r["model"] for r in board.rows] == ["a", "b"] and board.benchmarks == ["arc_easy", "gsm8k"]
    lines = to_csv(board).splitlines()
    assert lines[0].startswith("model,arc_easy,arc_easy_ci_lo") and lines[1].startswith("a,60.0,55.0,65.0,100,,")
    normalized = build(scores, normalized=True)
    assert normalized.rows[0]["scores"]["arc_easy"]["score"] == pytest.approx(46.67, abs=0.01)
    files = export(board, tmp_path / "out")
    assert {f.name for f in files} == {"leaderboard.csv", *(f"{p}.png" for p in PLOTS)}
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files if f.suffix == ".png")
