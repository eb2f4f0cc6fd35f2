"""Generative benchmarks scored on the answer text: GSM8K, MATH level 5, DROP and BIG-Bench Hard.

Prompts and answer extraction follow lm-evaluation-harness (``gsm8k_cot``'s 8 exemplars and
its strict/flexible regexes, ``bbh_cot_fewshot``'s 3-shot prompts, the leaderboard's 4-shot
Minerva prompt for MATH). Exemplars are read from the installed data, never stored here.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any

from tools.evals.data import OLMO, DataMissingError, olmo_docs
from tools.evals.tasks import Benchmark, Item

_GSM_STRICT = re.compile(r"The answer is (\-?[0-9\.\,]+).")
_GSM_FLEX = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")


def _first_group(match: Any) -> str:
    return next((g for g in match if g), "") if isinstance(match, tuple) else match


def _gsm_clean(text: str) -> str:
    """lm-evaluation-harness's exact-match clean-up: no commas or dollars, nothing before ``####``, no final dot."""
    text = re.sub(r"(?s).*#### ", "", text.replace(",", "").replace("$", ""))
    return re.sub(r"\.$", "", text.strip()).lower()


def gsm8k_score(item: Item, text: str) -> dict[str, float]:
    """Strict (``The answer is N.``) and flexible (last number) extraction, each compared exactly with the gold."""
    strict = _GSM_STRICT.findall(text)
    flexible = _GSM_FLEX.findall(text)
    gold = _gsm_clean(str(item.gold))
    return {"exact_match_strict": float(bool(strict) and _gsm_clean(_first_group(strict[0])) == gold),
            "exact_match_flexible": float(bool(flexible) and _gsm_clean(_first_group(flexible[-1])) == gold)}


def _exemplars(context: str, head: str, answer: str) -> list[tuple[str, str]]:
    """(question, answer) pairs of an OLMo request's few-shot context, the item's own question dropped."""
    pairs = []
    for block in context.split("\n\n")[:-1]:
        if block.startswith(head) and answer in block:
            question, _, reply = block[len(head):].partition(answer)
            pairs.append((question.strip(), reply.strip()))
    return pairs


def _gsm8k(data: Path | None, shots: int, seed: int) -> list[Item]:
    docs = olmo_docs("gsm8k", "gold_bpb_5shot", "gsm8k")
    # The package's context holds the 8 chain-of-thought exemplars of Wei et al. (2022); lm-evaluation-harness
    # words their last sentence "The answer is N." where OLMo writes "So the answer is N.".
    exemplars = [(q, a.replace("So the answer is", "The answer is"))
                 for q, a in _exemplars(docs[0]["_context"], "Question: ", "\nAnswer:")]
    if shots > len(exemplars):
        raise DataMissingError("gsm8k", f"gsm8k has {len(exemplars)} chain-of-thought exemplars, not {shots}",
                               hint=f"use --shots {len(exemplars)} or fewer")
    prefix = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in exemplars[:shots])
    return [Item(id=f"gsm8k-{d['id']}", prompt=f"{prefix}Q: {d['question']}\nA:", gold=d["short_answer"],
                 stop=["Q:", "</s>", "<|im_end|>"], max_tokens=256) for d in docs]


_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
             "prealgebra", "precalculus")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces balanced), or ``None``."""
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    if text[start:].startswith("\\boxed "):
        return text[start + 7:].split("$")[0].strip()
    depth, begin = 0, text.find("{", start)
    if begin < 0:
        return None
    for i in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[begin + 1:i]
    return None


_UNITS = r"(?:\\text\{\s*[a-zA-Z ]+\}|\\mbox\{[^}]*\}|\\!|\\,|\\;|\\ |\\left|\\right|\^\\circ|\^\{\\circ\}|\\%|%|\$)"


def normalize_math(answer: str) -> str:
    """A final answer reduced to a canonical string (Minerva-style): last ``=`` side, no units, spacing or
    ``\\text``, ``dfrac``/``tfrac`` as ``frac``, ``\\frac12`` as ``\\frac{1}{2}``, ``1,000`` as ``1000``."""
    text = answer.split("=")[-1].strip()
    text = re.sub(r"\\text\{\s*([^}]*)\}", r"\1", text) if re.fullmatch(r"\\text\{[^}]*\}", text) else text
    text = re.sub(_UNITS, "", text)
    text = text.replace("dfrac", "frac").replace("tfrac", "frac").replace(" ", "").rstrip(".")
    text = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\sqrt(\d)", r"\\sqrt{\1}", text)
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    if re.fullmatch(r"-?\d+\.0+", text):
        text = text.split(".")[0]
    return text


def math_score(item: Item, text: str) -> dict[str, float]:
    """Exact match of the boxed answer (else the "final answer is" sentence) after normalisation."""
    found = last_boxed(text)
    if found is None:
        match = re.search(r"[Tt]he final answer is (.*?)\.?\s*(?:I hope it is correct|$)", text)
        found = match.group(1).strip().strip("$") if match else None
    return {"exact_match": float(found is not None and normalize_math(found) == normalize_math(str(item.gold)))}


def _math(data: Path | None, shots: int, seed: int) -> list[Item]:
    items = []
    for subject in _SUBJECTS:
        docs = olmo_docs(f"minerva_math_{subject}", "gold_bpb_0shot", "math_lvl5")
        exemplars = _exemplars(docs[0]["_context"], "Problem:\n", "\n\nSolution:")  # the 4 Minerva exemplars
        prefix = "".join(f"Problem:\n{p}\n\nSolution: {s}\n\n" for p, s in exemplars[:shots])
        for doc in docs:
            if doc.get("level") != "Level 5":
                continue
            items.append(Item(id=f"math-{subject}-{doc['index']}", prompt=f"{prefix}Problem:\n{doc['problem']}\n\n"
                              "Solution:", gold=last_boxed(doc["solution"]) or doc["answer"], stop=["Problem:"],
                              max_tokens=512, group=subject))
    return items


def _drop_tokens(text: str) -> list[str]:
    text = "".join(" " if c in string.punctuation else c for c in text.lower())
    words = [w for w in text.split() if w not in ("a", "an", "the")]
    out = []
    for word in words:
        try:
            out.append(str(float(word)))
        except ValueError:
            out.append(word)
    return out


def drop_score(item: Item, text: str) -> dict[str, float]:
    """DROP's exact match and bag-of-words F1 (numbers compared as numbers), best over the gold answers."""
    predicted = _drop_tokens(text.strip())
    best_em = best_f1 = 0.0
    for spans in item.gold:
        gold = _drop_tokens(" ".join(spans))
        if not gold:
            continue
        common = sum((Counter(predicted) & Counter(gold)).values())
        f1 = 0.0 if not common else 2 * common / (len(predicted) + len(gold))
        best_em, best_f1 = max(best_em, float(predicted == gold)), max(best_f1, f1)
    return {"em": best_em, "f1": best_f1}


def _drop(data: Path | None, shots: int, seed: int) -> list[Item]:
    # The package's 1,000-question subset with its 5-shot context ("Passage: ...\nQuestion: ...\nAnswer:").
    return [Item(id=f"drop-{d['query_id']}", prompt=d["_context"], gold=d["answers"],
                 stop=["Passage:", "Question:", "\n\n"], max_tokens=64) for d in olmo_docs("drop", "bpb_5shot", "drop")]


_BBH_HINT = "pass --data DIR: the BIG-Bench-Hard folder holding bbh/*.json and cot-prompts/*.txt (MIT licence)"


def bbh_score(item: Item, text: str) -> dict[str, float]:
    """lm-evaluation-harness's extraction: what follows "the answer is", its last character dropped."""
    match = re.search(r"(?<=the answer is )(.*)(?=.)", text)
    return {"exact_match": float(match is not None and match.group(1).strip() == str(item.gold).strip())}


def _bbh_baseline(question: str, target: str) -> float:
    options = re.findall(r"^\([A-R]\)", question, re.M)
    if options:
        return 1 / len(options)
    return 0.5 if target in ("True", "False", "Yes", "No", "yes", "no", "valid", "invalid") else 0.0


def _bbh(data: Path | None, shots: int, seed: int) -> list[Item]:
    if data is None:
        raise DataMissingError("bbh", "bbh has no offline data package", hint=_BBH_HINT)
    tasks = data / "bbh" if (data / "bbh").is_dir() else data
    prompts = data / "cot-prompts"
    files = sorted(tasks.glob("*.json"))
    if not files or not prompts.is_dir():
        raise DataMissingError("bbh", f"--data: {data} holds no BIG-Bench-Hard tasks", hint=_BBH_HINT)
    items = []
    for path in files:
        prompt_file = prompts / f"{path.stem}.txt"
        if not prompt_file.is_file():
            raise DataMissingError("bbh", f"--data: {prompt_file.name} is missing", hint=_BBH_HINT)
        text = prompt_file.read_text(encoding="utf-8").split("-----\n", 1)[-1].strip()
        description, *examples = text.split("\n\nQ: ")
        prefix = description.strip() + "\n\n" + "".join(f"Q: {e.strip()}\n\n" for e in examples[:shots])
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))["examples"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataMissingError("bbh", f"--data: {path.name} is not a BIG-Bench-Hard task file ({exc})",
                                   hint=_BBH_HINT) from exc
        for i, row in enumerate(rows):
            prompt = f"{prefix}Q: {row['input']}\nA: Let's think step by step.\n"
            items.append(Item(id=f"{path.stem}-{i}", prompt=prompt,
                              gold=row["target"], stop=["</s>", "Q", "\n\n"], max_tokens=512, group=path.stem,
                              baseline=_bbh_baseline(row["input"], row["target"])))
    return items


GEN_BENCHMARKS = [
    Benchmark("gsm8k", "GSM8K test, 1,319 grade-school maths problems (8-shot chain of thought)", "gen",
              "exact_match_strict", _gsm8k, shots=8, work="maths", score=gsm8k_score, source=OLMO.pin),
    Benchmark("math_lvl5", "MATH level 5, 1,324 competition problems (4-shot Minerva prompt, boxed answer)", "gen",
              "exact_match", _math, shots=4, work="maths", score=math_score, source=OLMO.pin),
    Benchmark("drop", "DROP, 1,000 reading-comprehension questions with arithmetic (5-shot)", "gen", "f1", _drop,
              shots=5, work="reasoning", score=drop_score, source=OLMO.pin),
    Benchmark("bbh", "BIG-Bench Hard, 27 tasks, 6,511 items (3-shot chain of thought; --data)", "gen",
              "exact_match", _bbh, shots=3, work="reasoning", score=bbh_score, source="--data"),
]
"""Generative benchmarks scored on text, in listing order."""
