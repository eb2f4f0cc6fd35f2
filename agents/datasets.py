"""The datasets specialist: "generate 20 support tickets as JSON with subject, body and priority" in chat.

The request is read deterministically (:mod:`tools.datagen.intent`: count, what, fields typed by
their names, format), the first 3 rows are shown as soon as they exist, then the run finishes
and the answer links the file and its report. The file lands in ``PODIUM_HOME/datasets/``.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from agents.common import call_model, last_user_text, notify
from agents.contract import LONG_WORK, Context, Rule, Specialist, State
from podium.errors import PodiumError

NODE = "datasets"
_COUNT = r"\b(?:generate|create|make|produce|synthesi[sz]e|build|give me)\s+(?:me\s+)?(?:\d+|a dozen|dozens of)\b"


def _embed(ctx: Context) -> Any:
    """The knowledge base's embedding model (near-duplicate removal), else the configured one."""
    if ctx.knowledge is not None:
        return ctx.knowledge.embedder.embed
    from memory.embeddings import make_embedder

    return make_embedder(ctx.settings.embedding_model, ctx.settings).embed


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!", ")")) else text + "."


def datasets(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Make the dataset the user asked for: a 3-row preview first, then the file and its report."""
    from tools.datagen.backend import Backend
    from tools.datagen.conversation import generate

    ctx = runtime.context
    shown: list[str] = []

    def preview(text: str) -> None:
        shown.append(text + "\n\n")
        notify("token", node=NODE, text=shown[-1])  # the preview is part of the answer, shown while the rest runs

    def progress(stats: Any) -> None:
        if stats.rows in {stats.n // 2, stats.n - 1} and stats.rows > 3:
            notify("notice", text=f"datasets: {stats.rows}/{stats.n} rows ({stats.invalid} invalid, "
                                  f"{stats.duplicate} duplicate)")

    try:
        outcome = generate(last_user_text(state), Backend(ctx, call_model, NODE), ctx.settings.data_dir / "datasets",
                           embed=_embed(ctx), on_preview=preview, progress=progress)
    except PodiumError as exc:
        text = " ".join(_sentence(part) for part in (exc.message, exc.hint) if part)
        notify("token", node=NODE, text=text)
        return {"messages": [AIMessage("".join(shown) + text)]}
    notify("token", node=NODE, text=outcome.text)
    artifact = {"kind": "dataset", "path": str(outcome.path), "rows": outcome.rows,
                "report": str(outcome.report) if outcome.report else None}
    return {"messages": [AIMessage("".join(shown) + outcome.text)], "artifacts": [artifact]}


SPECIALIST = Specialist(
    name=NODE,
    node=datasets,
    description="generates synthetic datasets (records with fields, chat conversations) and writes them to a file",
    examples=(  # kept apart from bench/data/routing_heldout.jsonl
        "Create 50 product reviews with title, text and rating as CSV.",
        "Make a synthetic dataset of customer complaints.",
        "Generate 100 training examples for sentiment classification.",
        "Generate 50 question-answer pairs about photosynthesis.",
        "Give me mock user accounts with username and signup date.",
        "Produce dialogues between a tutor and a student for fine-tuning.",
        "Generate 12 records of library books with author and year.",
        "generate 100 synthetic customer complaints as JSONL",
        "Create a dataset of fictional user profiles with age, city and hobby.",
        "make me some training examples for an intent classifier",
        "I need synthetic data to test my CRM import",
        "Produce 40 labeled examples of polite versus rude messages.",
        "build a question answering dataset from the handbook collection",
        "Generate chat transcripts between a tutor and a student for fine-tuning.",
        "synthesize a few hundred product titles with categories",
        "Write 25 sample bug reports in JSON with severity and component fields.",
        "Create fake but realistic order records for a load test.",
        "generate instruction/response pairs in a pirate voice",
        "I want a CSV of made-up patients for a demo, 30 rows, no real data",
        "Make a dataset: 60 recipes with ingredients and cooking time.",
        "can you produce diverse prompts to stress-test my assistant",
        "Generate 12 multiple-choice questions about geography as JSON.",
        "Create labeled sentences for named entity recognition.",
        "Generate a corpus of short news headlines with topics.",
        "produce 80 email subject lines tagged as spam or ham",
        "Build synthetic conversation data in the OpenAI messages format.",
        "Generate rows with fields name:str, score:int(0..100), passed:bool.",
        "Create 200 paraphrased FAQ questions for training a retriever.",
        "make a toy dataset of house prices with size and location",
        "Generate test cases for a sentiment model, balanced across classes.",
        "write synthetic reviews of hotels, 3 fields: title, text, stars",
        "Create a seed dataset of coding questions with reference answers.",
    ),
    rules=(
        Rule(re.compile(_COUNT + r".{1,80}?\b(?:as|in)\s+(?:json|jsonl|csv|parquet)\b", re.I),
             "asks for rows as JSON/CSV"),
        Rule(re.compile(_COUNT + r".{1,80}?\bwith\s+(?:the\s+)?(?:fields?|columns?)\b", re.I), "asks for fields"),
        Rule(re.compile(r"\b(?:synthetic|training|fine-?tuning)\s+(?:data|dataset|examples|conversations)\b|"
                        r"\bdataset\s+of\b", re.I), "asks for a dataset"),
    ),
    tokens=False,
    certainty=LONG_WORK,  # it starts long work: a vague message ('concurrent 3') is not enough
)
"""Routes requests for many rows in a data format; its answer is the preview and the file, not model tokens."""
