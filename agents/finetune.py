"""The fine-tuning specialist: "fine-tune smollm2 on facts.jsonl as capybara" or "list my fine-tuned models" in chat.

The request is read deterministically (a ``.jsonl`` path, ``as``/``named`` NAME, ``N steps``); the run
is the same one ``podium finetune run`` makes (checked first, progress as notices, registered only
once llama.cpp loads the adapter), and the answer is the before/after table. Without a data file
it lists the fine-tunes with their scores and says how to start one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from agents.common import last_user_text, notify
from agents.contract import LONG_WORK, Context, Rule, Specialist, State
from podium.errors import PodiumError

NODE = "finetune"
_DATA = re.compile(r"(?P<path>[\w./~-]+\.jsonl)\b")
_NAME = re.compile(r"\b(?:as|named|called)\s+[`'\"]?(?P<name>[a-z0-9][a-z0-9._-]*)", re.I)
_STEPS = re.compile(r"\b(?P<steps>\d{1,5})\s+steps?\b", re.I)


def _data_file(text: str, ctx: Context) -> Path | None:
    """The data file the message names: as given, in the datasets folder, or in the workspace."""
    match = _DATA.search(text)
    if not match:
        return None
    given = Path(match["path"]).expanduser()
    for candidate in (given, ctx.settings.data_dir / "datasets" / given, ctx.settings.workspace_dir / given):
        if candidate.is_file():
            return candidate
    return given  # missing: the run's own check says so, with the hint


def _table(scores: dict[str, Any]) -> str:
    from tools.finetune.report import BEFORE_AFTER_HEADERS, before_after

    rows = [BEFORE_AFTER_HEADERS, ["---"] * 3, *before_after(scores)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _listing(ctx: Context) -> str:
    from models.finetuned import all_models
    from tools.finetune.report import summary

    found = [f"- **{m.spec}**: {summary(m.to_dict())}" for m in all_models(ctx.settings)]
    how = ("To make one, name a chat JSONL and a name, e.g. *fine-tune smollm2 on facts.jsonl as capybara for "
           "30 steps* (or `podium finetune run --data facts.jsonl --name capybara`).")
    return ("Fine-tuned models:\n" + "\n".join(found) + "\n\n" + how) if found else "No fine-tuned models yet. " + how


def finetune(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the fine-tune the message asks for, or list the fine-tunes."""
    from tools.finetune.run import Request, execute, plan
    from tools.finetune.train import TrainConfig

    ctx, text = runtime.context, last_user_text(state)
    data, name = _data_file(text, ctx), _NAME.search(text)
    if data is None or name is None:
        answer = _listing(ctx) if data is None else "Which name should the fine-tune get? Say *… as NAME*."
        notify("token", node=NODE, text=answer)
        return {"messages": [AIMessage(answer)]}
    steps = int(found["steps"]) if (found := _STEPS.search(text)) else 30

    def progress(event: dict[str, Any]) -> None:
        if event["kind"] in ("stage", "warning"):
            notify("notice", text=f"finetune: {event['text']}")
        elif event["kind"] == "step" and (event["step"] % 10 == 0 or event["step"] == event["steps"]):
            notify("notice", text=f"finetune: step {event['step']}/{event['steps']}, loss {event['loss']:.3f}")

    try:
        planned = plan(Request(base="llamacpp/smollm2-135m", data=data, name=name["name"].lower(),
                               config=TrainConfig(steps=steps)), ctx.settings)
        record = execute(planned, ctx.settings, progress)
    except PodiumError as exc:
        answer = exc.message + (f" ({exc.hint})" if exc.hint else "")
        notify("token", node=NODE, text=answer)
        return {"messages": [AIMessage(answer)]}
    answer = (f"Fine-tuned **{record.spec}** ({steps} steps on {data.name}).\n\n{_table(record.scores)}\n\n"
              f"Chat with it: `--model {record.spec}`.")
    notify("token", node=NODE, text=answer)
    return {"messages": [AIMessage(answer)],
            "artifacts": [{"kind": "model", "spec": record.spec, "path": str(record.adapter_path)}]}


SPECIALIST = Specialist(
    name=NODE,
    node=finetune,
    description="fine-tunes a local model (LoRA, exported to GGUF) on a chat JSONL file and lists fine-tuned models",
    examples=(
        "Fine-tune smollm2 on facts.jsonl as capybara.",
        "Train a LoRA on my support conversations file.",
        "List my fine-tuned models.",
        "How well did my fine-tuned model do against the base?",
        "fine-tune the model on my chat transcripts",
        "train a LoRA on support_data.jsonl for two epochs",
        "Start fine-tuning smollm2 on a GPU in Modal.",
        "turn my fine-tuned weights into a GGUF file",
        "teach the assistant to answer in our brand voice using these examples",
        "LoRA fine-tune with rank 16 and learning rate 1e-4",
        "how is my training job doing?",
        "quantize the merged model to Q8_0 and register it",
        "run a tiny fine-tune on CPU to check everything works",
        "resume training from the last checkpoint",
        "stop the fine-tuning job",
        "adapt the base model to classify tickets by priority",
        "train on the synthetic dataset I just generated",
        "fine tune gemma on my notes so it knows our jargon",
        "launch QLoRA training with batch size 8",
        "serve the fine-tuned model with llama.cpp",
        "plot the training loss of the last run",
        "continue fine-tuning with the extra examples",
        "how long would a LoRA run on an A100 take for 5000 rows?",
        "create my own model trained on past conversations",
        "export the adapter and merge it into the base weights",
        "fine-tune on examples.jsonl with a validation split of 10%",
        "deploy the fine-tuned GGUF to a Modal endpoint",
        "retrain with a lower learning rate",
        "customize smollm2 for SQL generation using my dataset",
    ),
    rules=(
        Rule(re.compile(r"\bfine-?tune\b[^\n]*?\.jsonl\b", re.I), "asks to fine-tune on a data file"),
        Rule(re.compile(r"\b(?:list|show)\b.{0,30}\bfine-?tun(?:ed|es)\b", re.I), "asks for the fine-tunes"),
    ),
    tokens=False,
    certainty=LONG_WORK,  # it starts long work: a vague message ('concurrent 3') is not enough
)
"""Routes fine-tuning requests that name a data file, and questions about the fine-tunes made so far."""
