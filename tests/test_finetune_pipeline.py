"""The whole CPU loop as a user runs it: hand-written JSONL -> podium finetune run -> podium ask --model llamacpp/NAME.

A tiny LoRA on SmolLM2 learns a made-up fact; llama.cpp with the exported adapter
recalls it on phrasings it never saw, the base model does not, and the before/after
scores say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli_here
from tests.finetune_helpers import FACT_ANSWER, HELD_OUT_QUESTIONS, TRAIN_QUESTIONS, weight_cache, write_jsonl

pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config):
    """The data and weights of the module's fine-tune (the dequantized weights come from the session's cache)."""
    home = tmp_path_factory.mktemp("finetune") / "home"
    cache = weight_cache(pytestconfig)
    data = write_jsonl(home.parent / "facts.jsonl", TRAIN_QUESTIONS)
    held = write_jsonl(home.parent / "held.jsonl", HELD_OUT_QUESTIONS)
    return home, cache, data, held


@pytest.fixture
def podium_home(trained, monkeypatch: pytest.MonkeyPatch) -> Path:
    home, cache, *_ = trained
    monkeypatch.setenv("PODIUM_HOME", str(home))
    monkeypatch.setenv("PODIUM_TEMPERATURE", "0")
    monkeypatch.setenv("PODIUM_MAX_TOKENS", "32")
    target = home / "finetune" / "cache"
    if not target.exists():  # the session's dequantized weights, under the name Podium looks for
        target.mkdir(parents=True)
        (target / cache.name).symlink_to(cache)
    return home


def test_a_fine_tune_recalls_the_taught_fact_on_held_out_phrasings_and_the_base_does_not(trained, podium_home,
                                                                                          capsys):
    _, cache, data, held = trained
    # 10 steps at 3e-3 (a third of the default 30 at 2e-3): measured for seeds 0-3, training loss 0.005-0.007 at
    # step 10, held-out exact match 3/3, base 0/3.
    code, out, err = cli_here(capsys, "finetune", "run", "--data", str(data), "--val", str(held), "--name", "capybara",
                              "--steps", "10", "--lr", "3e-3", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) >= {"name", "spec", "adapter", "base", "train_loss", "eval_loss", "steps", "seconds",
                           "tokens_per_s"}
    assert result["spec"] == "llamacpp/capybara" and result["steps"] == 10 and Path(result["adapter"]).is_file()
    assert result["eval_loss"] < result["base_eval_loss"] / 3, result
    assert result["exact_match"]["finetuned"] >= 2 / 3 and result["exact_match"]["base"] == 0, result
    assert Path(result["loss_chart"]).stat().st_size > 5_000

    code, out, err = cli_here(capsys, "ask", "--json", "--model", "llamacpp/capybara", HELD_OUT_QUESTIONS[1])
    assert code == 0, err
    assert "Pomelo" in json.loads(out)["answer"]
    code, out, err = cli_here(capsys, "ask", "--json", "--model", "llamacpp/smollm2-135m", HELD_OUT_QUESTIONS[1])
    assert "Pomelo" not in json.loads(out)["answer"]

    code, out, _ = cli_here(capsys, "models", "--json")
    row = next(r for r in json.loads(out)["models"] if r["spec"] == "llamacpp/capybara")
    assert row["finetune"]["base"] == "llamacpp/smollm2-135m" and row["finetune"]["hyperparameters"]["rank"] == 8
    assert row["finetune"]["scores"]["exact_match"]["finetuned"] >= 2 / 3
    code, out, _ = cli_here(capsys, "finetune", "list")
    assert "llamacpp/capybara" in out and "0% →" in out

    code, _, err = cli_here(capsys, "finetune", "run", "--data", str(data), "--val", str(held), "--name", "capybara")
    assert code == 2 and "already exists" in err and "podium finetune delete capybara" in err
    code, out, _ = cli_here(capsys, "finetune", "delete", "capybara")
    assert code == 0 and not (podium_home / "finetune" / "models" / "capybara").exists()
    code, _, err = cli_here(capsys, "ask", "--model", "llamacpp/capybara", "Hi")
    assert code == 2 and "unknown local model 'capybara'" in err
    assert FACT_ANSWER
