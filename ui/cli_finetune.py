"""``podium finetune prepare|run|list|delete`` and ``podium modal deploy|status|warm|logs``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from podium.errors import ConfigError
from ui.terminal import load_settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
BaseOpt = Annotated[str, typer.Option("--base", help="Base model: a llama.cpp GGUF spec.")]
ValOpt = Annotated[Path | None, typer.Option("--val", help="Held-out conversations (JSONL); default: split --data.")]
FractionOpt = Annotated[float, typer.Option("--val-fraction", help="Share of --data held out when --val is not given.")]
LengthOpt = Annotated[int, typer.Option("--max-length", help="Tokens per conversation; longer ones are cut.")]

finetune_app = typer.Typer(help="LoRA fine-tuning to GGUF: prepare data, run, list and delete fine-tuned models.",
                           no_args_is_help=True)
modal_app = typer.Typer(help="Podium's GPU app on Modal (modal_app.py): deploy, status, warm, logs.",
                        no_args_is_help=True)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


@finetune_app.command("prepare")
def prepare(data: Annotated[Path, typer.Argument(help="Chat JSONL: {\"messages\": [...]} per line.")],
            base: BaseOpt = "llamacpp/smollm2-135m", val: ValOpt = None, val_fraction: FractionOpt = 0.2,
            max_length: LengthOpt = 512, as_json: JsonOpt = False) -> None:
    """Check a data file (line numbers for every problem), split it and report its tokens as the base sees them."""
    from tools.finetune.run import prepare as prepare_data

    tokenizer, stats, (_, _, val_set, _) = prepare_data(data, base, load_settings(), val=val,
                                                        val_fraction=val_fraction, max_length=max_length)
    example = tokenizer.render(val_set[0], False)
    if as_json:
        _print_json({**stats, "example": example})
        return
    table = Table("split", "conversations", "tokens", "trained tokens", "mean", "median", "max", "truncated")
    for split in ("train", "val"):
        s = stats[split]
        table.add_row(split, str(s["examples"]), str(s["tokens"]), str(s["trained_tokens"]), str(s["mean_tokens"]),
                      str(s["median_tokens"]), str(s["max_tokens"]),
                      f"{s['truncated']} ({s['tokens_cut']} tokens cut at {s['max_length']})")
    out.print(table)
    out.print(f"chat template: {stats['chat_template']}; loss on assistant tokens only. A validation example "
              "as the model sees it:", markup=False)
    out.print(escape(example), style="dim")


def _request(**kw: Any) -> Any:
    from tools.finetune.run import Request
    from tools.finetune.train import DEFAULT_TARGETS, TrainConfig

    if kw["steps"] is not None and kw["epochs"] is not None:
        raise ConfigError("--steps and --epochs both given", setting="--steps", hint="pass one of them")
    for flag in ("steps", "rank", "batch_size"):
        if kw[flag] is not None and kw[flag] < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least 1", setting=f"--{flag}",
                              hint="use a whole number of 1 or more")
    if kw["lr"] <= 0 or kw["alpha"] <= 0 or (kw["epochs"] is not None and kw["epochs"] <= 0):
        raise ConfigError("--lr, --alpha and --epochs must be positive", setting="--lr", hint="e.g. --lr 2e-3")
    targets = [t.strip() for t in (kw["targets"] or ",".join(DEFAULT_TARGETS)).split(",") if t.strip()]
    config = TrainConfig(steps=kw["steps"] or 30, epochs=kw["epochs"], lr=kw["lr"], rank=kw["rank"],
                         alpha=kw["alpha"], targets=targets, batch_size=kw["batch_size"], seed=kw["seed"])
    return Request(base=kw["base"], data=kw["data"], name=kw["name"], config=config, val=kw["val"],
                   val_fraction=kw["val_fraction"], max_length=kw["max_length"], merge=kw["merge"],
                   eval_limit=kw["eval_limit"], benchmarks=kw["benchmark"] or [],
                   benchmark_limit=kw["benchmark_limit"])


@finetune_app.command("run")
def run(
    data: Annotated[Path, typer.Option("--data", help="Chat JSONL to learn from.")],
    name: Annotated[str, typer.Option("--name", help="Name of the result: the model becomes llamacpp/NAME.")],
    base: BaseOpt = "llamacpp/smollm2-135m",
    steps: Annotated[int | None, typer.Option("--steps", help="Optimizer steps (default 30).")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Passes over the data instead of --steps.")] = None,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 2e-3,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank.")] = 8,
    alpha: Annotated[float, typer.Option("--alpha", help="LoRA alpha (scale alpha/rank).")] = 16.0,
    targets: Annotated[str | None, typer.Option("--targets", help="Comma-separated modules "
                                                "(default q_proj,k_proj,v_proj,o_proj).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Conversations per step.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, data order and LoRA init.")] = 0,
    val: ValOpt = None, val_fraction: FractionOpt = 0.2, max_length: LengthOpt = 512,
    merge: Annotated[str | None, typer.Option("--merge", help="Also write a merged GGUF: f16, q8_0 or q4_k_m.")] = None,
    eval_limit: Annotated[int, typer.Option("--eval-limit", help="Held-out prompts scored by exact match.")] = 20,
    benchmark: Annotated[list[str] | None, typer.Option("--benchmark", help="Also score base and fine-tune on this "
                                                        "`podium eval` benchmark (repeatable).")] = None,
    benchmark_limit: Annotated[int, typer.Option("--benchmark-limit", help="Items per benchmark.")] = 50,
    remote: Annotated[str | None, typer.Option("--remote", help="Train on a GPU elsewhere: modal.")] = None,
    gpu: Annotated[str, typer.Option("--gpu", help="Modal GPU for --remote modal (A10G, L4, A100, H100...).")
                   ] = "A10G",
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a LoRA, export it to GGUF, score base and fine-tune, and register llamacpp/NAME.

    Ctrl-C stops after the current step; run the same command again to resume from the last checkpoint.
    """
    from tools.finetune.report import before_after, progress_line, result_json
    from tools.finetune.run import execute, plan

    settings = load_settings()
    if remote not in (None, "modal"):
        raise ConfigError(f"unknown --remote {remote!r}", setting="--remote", hint="use --remote modal")
    if remote:
        from tools.finetune.resources import modal_ready

        modal_ready()
    planned = plan(_request(**locals()), settings)
    err.print(f"{planned.stats['train']['examples']} train / {planned.stats['val']['examples']} validation "
              f"conversations, {planned.steps} steps; memory ~{planned.memory['estimate_gib']} GiB of "
              f"{planned.memory['available_gib']} GiB available", markup=False)
    bar = _Bar(planned.steps)

    def on_event(event: dict[str, Any]) -> None:
        if event["kind"] == "step":
            bar.update(event, progress_line(event))
        elif event["kind"] in ("stage", "warning"):
            bar.note(("warning: " if event["kind"] == "warning" else "") + event["text"])

    try:
        with bar:
            record = execute(planned, settings, on_event, gpu=gpu if remote else None).to_dict()
    except KeyboardInterrupt:
        err.print("stopped: the last checkpoint is kept; run the same command again to resume", style="yellow",
                  markup=False)
        raise SystemExit(130) from None
    if as_json:
        _print_json(result_json(record))
        return
    table = Table(*["", "base", "fine-tuned"], title=f"llamacpp/{record['name']}: before and after")
    for row in before_after(record["scores"]):
        table.add_row(*row)
    out.print(table)
    info = result_json(record)
    out.print(f"adapter {info['adapter']} · loss chart {info['loss_chart']} · "
              f"{info['tokens_per_s']:.0f} training tok/s · try: podium ask --model llamacpp/{record['name']} "
              "\"...\"", markup=False)


class _Bar:
    """A rich progress bar on stderr for the steps, with stage notes printed above it."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[line]}"), console=err, transient=True)
        self.task = self.progress.add_task("train", total=total, line="")

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, event: dict[str, Any], line: str) -> None:
        """Move to a step."""
        self.progress.update(self.task, completed=event["step"], line=line.split("  ", 1)[1])

    def note(self, text: str) -> None:
        """Print a stage line above the bar."""
        self.progress.console.print(text, markup=False, style="dim")


@finetune_app.command("list")
def list_models(as_json: JsonOpt = False) -> None:
    """Registered fine-tunes with base, steps, before/after scores and merges."""
    from models.finetuned import all_models
    from tools.finetune.report import LIST_HEADERS, list_rows

    records = [m.to_dict() for m in all_models(load_settings())]
    if as_json:
        _print_json({"models": records})
        return
    if not records:
        out.print("no fine-tuned models yet: podium finetune run --data DATA.jsonl --name NAME", markup=False)
        return
    rows = list_rows(records)
    table = Table(*LIST_HEADERS)
    # the spec is what users copy into --model and grep for: never cut short; other cells fold rather than lose text
    for column in table.columns:
        column.overflow = "fold"
    table.columns[0].no_wrap, table.columns[0].min_width = True, max(len(str(r[0])) for r in rows)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@finetune_app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="Fine-tune name (see `podium finetune list`).")]) -> None:
    """Remove a fine-tuned model: its adapter, merges, chart and record."""
    from models.finetuned import delete as remove

    removed = remove(name, load_settings())
    out.print(f"deleted llamacpp/{name} ({removed.folder})", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``podium finetune`` and ``podium modal``."""
    from ui.modal_commands import add_modal_commands

    add_modal_commands(modal_app)
    app.add_typer(finetune_app, name="finetune")
    app.add_typer(modal_app, name="modal")
