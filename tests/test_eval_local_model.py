"""Evaluation on the real SmolLM2 GGUF: log-likelihood scoring, runs, cache and resume, generative and code tasks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import LOCAL_MODEL, cli_here

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def scorer():
    from models import llamacpp
    from models.registry import resolve
    from podium.settings import Settings
    from tools.evals.loglik import LoglikScorer

    spec = resolve(LOCAL_MODEL, Settings())
    return LoglikScorer(llamacpp.load(spec.path, spec.context_length, None), 1), spec


def _reference(path, head: list[int], cont: list[int]) -> float:
    """Log-likelihood from llama-cpp-python's own logits of every position (logits_all): an independent path."""
    from llama_cpp import Llama

    ref = Llama(model_path=str(path), n_ctx=256, logits_all=True, verbose=False, n_threads=1)
    ref.eval(head + cont)
    total = 0.0
    for j, token in enumerate(cont):
        row = np.asarray(ref.scores[len(head) - 1 + j], dtype=np.float64)
        row = row - row.max()
        total += float(row[token] - np.log(np.exp(row).sum()))
    ref.close()
    return total


def test_shared_context_scoring_equals_naive_and_an_independent_reference(scorer) -> None:
    sc, spec = scorer
    context = "Question: Which gas do plants take in to make food?\nAnswer:"
    choices = [" carbon dioxide", " oxygen", " nitrogen gas from the soil", " helium"]
    pairs = [sc.encode_pair(context, c) for c in choices]
    assert len({tuple(h) for h, _ in pairs}) == 1  # one shared context
    fast = sc.score(pairs[0][0], [c for _, c in pairs])
    naive = sc.score_naive(pairs[0][0], [c for _, c in pairs])
    assert [round(c.logprob, 3) for c in fast] == [round(c.logprob, 3) for c in naive]
    ref = _reference(spec.path, pairs[0][0], pairs[1][1])
    assert fast[1].logprob == pytest.approx(ref, abs=1.0)  # batch kernels differ a little on Q4
    assert int(np.argmax([c.logprob for c in fast])) == 0
    # lm-evaluation-harness's split: the trailing space of a context moves to the continuation
    head, cont = sc.encode_pair("Answer: ", "yes")
    assert sc.loaded.llm.detokenize(cont).decode() == " yes"


def test_eval_run_json_then_cached_rerun(capsys) -> None:
    code, out, err = cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "arc_easy",
                              "--limit", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert {"benchmark", "model", "metric", "score", "n", "ci95", "seconds", "items_per_s", "tokens",
            "cost_usd"} <= set(data)
    assert data["n"] == 3 and data["total"] == 2376 and data["mode"] == "loglik" and data["cost_usd"] == 0.0
    assert data["ci95"][0] <= data["score"] <= data["ci95"][1] and data["tokens"] > 0
    again = json.loads(cli_here(capsys, "eval", "run", "--model", LOCAL_MODEL, "--benchmark", "arc_easy",
                                "--limit", "3", "--json")[1])
    assert again["cached"] == 3 and again["score"] == data["score"] and again["items_per_s"] == 0.0


def test_interrupted_run_resumes_from_the_cache(settings) -> None:
    from tools.evals.runner import execute, prepare

    run = prepare(settings, model=LOCAL_MODEL, benchmark="piqa", limit=3, seed=1)

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(run, progress=stop_after_two)
    result = execute(prepare(settings, model=LOCAL_MODEL, benchmark="piqa", limit=3, seed=1))
    assert result.extra["cached"] == 2 and result.n == 3 and result.items_per_s > 0


def test_generative_gsm8k_uses_the_eight_cot_exemplars(settings) -> None:
    from tools.evals.runner import execute, prepare

    run = prepare(settings, model=LOCAL_MODEL, benchmark="gsm8k", limit=1)
    assert run.items[0].prompt.count("Q: ") == 9 and "The answer is 6." in run.items[0].prompt
    result = execute(prepare(settings, model=LOCAL_MODEL, benchmark="gsm8k", limit=1, shots=1, max_tokens=8))
    assert result.metric == "exact_match_strict" and set(result.extra["metrics"]) == {
        "exact_match_strict", "exact_match_flexible"} and result.mode == "generative"


def test_humaneval_runs_the_models_code_in_the_sandbox(settings) -> None:
    from tools.evals.code import humaneval_score, mbpp_score
    from tools.evals.data import HUMANEVAL, data_file, read_jsonl
    from tools.evals.runner import execute, prepare

    run = prepare(settings, model=LOCAL_MODEL, benchmark="humaneval", limit=1, max_tokens=48)
    item = run.items[0]
    solutions = {r["task_id"]: r["canonical_solution"]
                 for r in read_jsonl(data_file(HUMANEVAL, "humaneval", "data/HumanEval.jsonl.gz"))}
    canonical = solutions[item.id]
    assert humaneval_score(item, canonical) == {"pass@1": 1.0}
    assert humaneval_score(item, "    return None\n") == {"pass@1": 0.0}
    assert humaneval_score(item, "    import os\n    os.system('true')\n") == {"pass@1": 0.0}  # sandbox refuses
    result = execute(run)
    assert result.metric == "pass@1" and result.n == 1 and result.score in (0.0, 100.0)
    mbpp = prepare(settings, model=LOCAL_MODEL, benchmark="mbpp", limit=1)
    one = mbpp.items[0]
    assert one.prompt.count("[BEGIN]") == 4 and one.prompt.count("[DONE]") == 3
    assert mbpp_score(one, "def nothing():\n    pass\n[DONE]") == {"pass@1": 0.0}
