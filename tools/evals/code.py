"""Code benchmarks scored by pass@1: the model's program and the benchmark's tests run in Podium's sandbox.

HumanEval completes a function from its signature and docstring (lm-evaluation-harness's
stops); MBPP writes a function from a task and three tests (lm-evaluation-harness's
``[BEGIN]``/``[DONE]`` prompt, three examples from the set itself, which are then not scored).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from tools.evals.data import HUMANEVAL, OLMO, data_file, olmo_docs, read_jsonl
from tools.evals.tasks import Benchmark, Item

_HUMANEVAL_STOPS = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
_HUMANEVAL_CHAT = ("Write a solution to the following problem and make sure that it passes the tests. Answer with "
                   "the complete function in one ```python block.\n```python\n{prompt}\n```")
"""What a chat model is asked (lm-evaluation-harness's ``humaneval_instruct`` wording, plus the answer's form)."""


@lru_cache(maxsize=1)
def _sandbox() -> object:
    from tools.sandbox import Limits, Sandbox

    # Test suites of both sets finish in well under a second; a loop that does not is a failure.
    return Sandbox(Limits(wall_s=10.0, cpu_s=5, memory_mb=512, output_chars=2000))


def run_program(program: str) -> bool:
    """Whether ``program`` (solution and tests) exits cleanly in the sandbox."""
    return _sandbox().run(program).ok  # type: ignore[attr-defined]


def humaneval_score(item: Item, text: str) -> dict[str, float]:
    """pass@1 of the answer against HumanEval's ``check`` function.

    A completion continues the prompt's function body; a chat answer (a fenced block that defines the
    function again) replaces the prompt's definition, keeping what comes before it (imports, helpers).
    """
    entry = item.meta["entry_point"]
    code = _strip_fence(text)
    if re.search(rf"^def {re.escape(entry)}\(", code, re.MULTILINE):
        head = item.prompt[:item.prompt.find(f"def {entry}(")]
        program = f"{head}\n{code}"
    else:
        program = f"{item.prompt}{text}"
    return {"pass@1": float(run_program(f"{program}\n\n{item.meta['test']}\n\ncheck({entry})\n"))}


def _strip_fence(text: str) -> str:
    """The code of an answer that wrapped it in a Markdown fence (chat models do)."""
    if "```" in text:
        body = text.split("```", 2)[1]
        return body.removeprefix("python").removeprefix("\n")
    return text


def mbpp_score(item: Item, text: str) -> dict[str, float]:
    """pass@1 of the generated code against the task's asserts."""
    code = _strip_fence(text.split("[DONE]")[0])
    program = f"{item.meta.get('setup', '')}\n{code}\n\n" + "\n".join(item.gold) + "\n"
    return {"pass@1": float(run_program(program))}


def _humaneval(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = read_jsonl(data_file(HUMANEVAL, "humaneval", "data/HumanEval.jsonl.gz"))
    return [Item(id=r["task_id"], prompt=r["prompt"], gold=None, stop=_HUMANEVAL_STOPS, max_tokens=384,
                 chat_prompt=_HUMANEVAL_CHAT.format(prompt=r["prompt"].strip()), chat_stop=[],
                 meta={"test": r["test"], "entry_point": r["entry_point"]}) for r in rows]


def _mbpp_text(doc: dict) -> str:
    tests = "\n".join(doc["test_list"][:3])
    return f"You are an expert Python programmer, and here is your task: {doc['text']} " \
           f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n"


def _mbpp(data: Path | None, shots: int, seed: int) -> list[Item]:
    docs = olmo_docs("codex_mbpp", "gold_bpb_3shot", "mbpp")
    examples, scored = docs[:shots], docs[shots:]
    prefix = "".join(f"{_mbpp_text(d)}{d['code'].replace(chr(13), '')}\n[DONE]\n\n" for d in examples)
    return [Item(id=f"mbpp-{d['task_id']}", prompt=prefix + _mbpp_text(d), gold=list(d["test_list"]),
                 stop=["[DONE]"], max_tokens=384, meta={"setup": d.get("test_setup_code") or ""}) for d in scored]


CODE_BENCHMARKS = [
    Benchmark("humaneval", "HumanEval, 164 Python functions from docstrings (pass@1, sandboxed)", "gen", "pass@1",
              _humaneval, work="code", score=humaneval_score, source=HUMANEVAL.pin),
    Benchmark("mbpp", "MBPP test, 500 Python tasks with tests (3-shot, pass@1, sandboxed)", "gen", "pass@1", _mbpp,
              shots=3, work="code", score=mbpp_score, source=OLMO.pin),
]
"""Code benchmarks, in listing order."""
