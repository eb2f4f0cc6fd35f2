"""The evaluation specialist: "how good is X at maths?", "compare A and B on ARC" answered with measured numbers.

It reads which models and which benchmark a question names (rules, never a tiny model's
guess), runs a small seeded ``--limit`` evaluation of each (cached, so asking again is
instant), and answers with a template around the scores, their intervals and the command
for a full run. No model writes the numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from agents.common import last_user_text, notify, say
from agents.contract import LONG_WORK, Context, Rule, Specialist, State
from podium.errors import PodiumError

NODE = "evaluation"
LIMITS = {"mc": 20, "gen": 5}
"""Items a quick answer scores (a fixed seeded sample), by benchmark kind."""

_TOPICS = [  # (pattern, benchmark): the first match wins; benchmark names themselves are matched before these
    (r"\b(?:math|maths|mathematics|arithmetic|word problems?)\b", "gsm8k"),
    (r"\b(?:code|coding|programming|python)\b", "humaneval"),
    (r"\b(?:instructions?|follow(?:ing)? instructions)\b", "ifeval"),
    (r"\barc\b|\bscience\b", "arc_easy"),
    (r"\bcommon ?sense\b", "hellaswag"),
    (r"\breasoning\b", "arc_challenge"),
    (r"\bknowledge\b|\btrivia\b", "mmlu"),
]
_ALIASES = {"smollm2": "llamacpp/smollm2-135m", "smollm": "llamacpp/smollm2-135m", "gemma": "llamacpp/gemma3-270m"}


@dataclass(frozen=True)
class Request:
    """What a question asks to measure."""

    models: list[str]
    """Specs to evaluate (the turn's model when none is named)."""
    benchmark: str
    """The benchmark that answers it."""


def read_request(text: str, default_model: str) -> Request:
    """The models and benchmark a question names (``arc_easy`` and the turn's model when it names neither)."""
    from tools.evals.benchmarks import BENCHMARKS

    lowered = text.lower()
    named = [b for b in BENCHMARKS if re.search(rf"\b{re.escape(b)}\b", lowered)]
    benchmark = named[0] if named else next((b for p, b in _TOPICS if re.search(p, lowered)), "arc_easy")
    specs = re.findall(r"\b(?:llamacpp|openai|scripted)/[\w.:/-]+[\w]", text)
    for word, spec in _ALIASES.items():
        if re.search(rf"\b{word}\b", lowered) and spec not in specs and not any(word in s for s in specs):
            specs.append(spec)
    for name in re.findall(r"\b(gpt-[\w.-]+|o\d-mini)\b", lowered):
        if not any(s.endswith(name) for s in specs):
            specs.append(f"openai/{name}")
    return Request(list(dict.fromkeys(specs)) or [default_model], benchmark)


def answer_text(rows: list[dict[str, Any]], benchmark: str) -> str:
    """The reply: each model's score with its interval, the winner when several, how to run the full set."""
    lines = []
    for row in rows:
        if "error" in row:
            lines.append(f"- {row['model']}: could not be evaluated ({row['error']})")
            continue
        lo, hi = row["ci95"]
        lines.append(f"- {row['model']}: {row['metric']} {row['score']:.1f}% (95% CI {lo:.1f}-{hi:.1f}), "
                     f"{row['n']} of {row['total']} items in {row['seconds']:.1f}s")
    scored = [r for r in rows if "error" not in r]
    head = f"On {benchmark} (a seeded sample, scored like lm-evaluation-harness):"
    tail = ""
    if len(scored) > 1:
        best = max(scored, key=lambda r: r["score"])
        overlap = any(r is not best and r["ci95"][1] >= best["ci95"][0] for r in scored)
        tail = (f"\n{best['model']} scores highest" + (", but the intervals overlap: score more items to tell them "
                                                       "apart." if overlap else "."))
    full = f"\nFor the whole set: `podium eval run --model SPEC --benchmark {benchmark}`."
    return head + "\n" + "\n".join(lines) + tail + full


def evaluation(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run a small evaluation of the models the question names and answer with the numbers."""
    from tools.evals.benchmarks import get_benchmark
    from tools.evals.runner import run_benchmark

    ctx = runtime.context
    request = read_request(last_user_text(state), ctx.model_for(NODE))
    limit = LIMITS[get_benchmark(request.benchmark).kind]
    rows, notices = [], []
    for spec in request.models:
        notify("notice", text=f"evaluating {spec} on {request.benchmark} ({limit} items)")
        try:
            result = run_benchmark(ctx.settings, model=spec, benchmark=request.benchmark, limit=limit,
                                   ledger=ctx.ledger)
        except PodiumError as exc:
            rows.append({"model": spec, "error": exc.one_line()})
            continue
        notices += result.extra.get("notices", [])
        rows.append(result.to_json())
    return {"messages": [say(NODE, answer_text(rows, request.benchmark))], "notices": notices}


_MODEL = r"(?:model|llm|smollm2?|gemma|gpt-[\w.-]+|(?:llamacpp|openai)/[\w.-]+)"
SPECIALIST = Specialist(
    name=NODE,
    node=evaluation,
    description="measures models: runs benchmarks and compares models on them, answering with scores and intervals",
    examples=(
        "How good is llamacpp/smollm2-135m at maths?",
        "Compare smollm2 and gpt-4o-mini on ARC.",
        "Evaluate openai/gpt-4o-mini on hellaswag.",
        "Which model is better at coding?",
        "Benchmark the default model on MMLU.",
        "What is smollm2's score on piqa?",
        "benchmark gemma3 against smollm2 on HellaSwag",
        "How fast is the local model in tokens per second?",
        "Which model gets the highest score on GSM8K?",
        "run an evaluation of openai/gpt-4o-mini on 30 MMLU questions",
        "compare the accuracy of my two models on ARC-Easy",
        "what's the time to first token of each configured model",
        "Show the leaderboard of models by benchmark score.",
        "Is the fine-tuned adapter better than the base model?",
        "measure the latency and cost of every model on the same prompt",
        "evaluate smollm2 on truthfulqa with a limit of 20",
        "Let an LLM judge compare the answers of two models.",
        "start a blind arena so I can vote between two models",
        "how well does the local model do at arithmetic word problems?",
        "rank my models by speed and price",
        "score the model on my own question file",
        "What is the accuracy of gemma on winogrande?",
        "test how reliably each model returns valid JSON",
        "compare quality versus cost for the remote and local models",
        "Which is smarter at reasoning, model A or model B?",
        "run the standard benchmarks on the new GGUF",
        "How does quantization affect the model's benchmark score?",
        "give me a model card with benchmark results for smollm2",
        "evaluate both models on 15 ARC-Challenge questions",
        "what are the Bradley-Terry ratings from the arena so far",
        "profile the throughput of llama.cpp with 8 parallel requests",
    ),
    rules=(
        Rule(re.compile(rf"\bhow good is\b.{{0,60}}\b{_MODEL}|\bhow good is\b.{{0,60}}\bat\s+(?:maths?|math|coding|code"
                        r"|reasoning|science)\b", re.I), "asks how good a model is"),
        Rule(re.compile(r"\b(?:compare|benchmark|evaluate)\b.{0,80}\b(?:on|at)\s+(?:arc|mmlu|hellaswag|piqa|gsm8k"
                        r"|winogrande|humaneval|mbpp|ifeval|bbh|gpqa|math|maths|coding)\b", re.I),
             "asks to compare or benchmark models"),
        Rule(re.compile(rf"\b{_MODEL}'?s?\s+score\s+on\b", re.I), "asks a model's benchmark score"),
    ),
    tokens=False,
    certainty=LONG_WORK,  # it starts long work: a vague message ('concurrent 3') is not enough
)
"""Routes questions about how good models are; its answer is a template around measured scores."""
