"""``podium datagen``: synthetic datasets from a description, and ``podium datagen report FILE``.

The flags map one to one onto :class:`tools.datagen.engine.Job`; this module only
reads them, shows progress and prints the summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from podium.errors import ConfigError

err = Console(stderr=True, highlight=False, soft_wrap=True)


class _DefaultToGenerate(TyperGroup):
    """``podium datagen DESCRIPTION ...`` generates; ``podium datagen report FILE`` reports."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["generate", *args]
        return super().parse_args(ctx, args)


datagen_app = typer.Typer(cls=_DefaultToGenerate, help="Generate synthetic datasets (see `podium datagen --help`).",
                          add_completion=False)

Opt = typer.Option


@datagen_app.command("generate", help="""Generate a synthetic dataset: validated, deduplicated rows, appended as they
come. `podium datagen report FILE` writes its HTML report, plots and dataset card.

\b
Examples:
  podium datagen "support tickets" --n 200 --out tickets.jsonl \\
      --fields "subject:str, body:str(20..600), priority:enum\\[low,high]"
  podium datagen "cooking questions" --chat --style "warm, brief" --n 100
  podium datagen --from-docs handbook --n 50 --out qa.jsonl
  podium datagen report tickets.jsonl
""")
def generate(
    description: Annotated[str, typer.Argument(help="What the dataset is about, in words.")] = "",
    fields: Annotated[str | None, Opt("--fields", help="Fields as name:type pairs: str, int, float, bool, "
                                      "enum\\[a,b], list\\[str]; bounds like str(20..600), int(1..5).")] = None,
    schema: Annotated[Path | None, Opt("--schema", help="A JSON Schema file describing one row.")] = None,
    like: Annotated[Path | None, Opt("--like", help="Example rows (JSONL): the schema is inferred from them "
                                     "and shown; they also guide the style.")] = None,
    yes: Annotated[bool, Opt("--yes", "-y", help="Accept the schema inferred by --like without asking.")] = False,
    chat: Annotated[bool, Opt("--chat", help="Write conversations in the OpenAI fine-tuning format "
                              "({\"messages\": [...]}).")] = False,
    style: Annotated[str | None, Opt("--style", help="--chat: the assistant's style in words, or a JSONL file "
                                     "of example conversations.")] = None,
    system: Annotated[str | None, Opt("--system", help="--chat: a system message put first in every "
                                      "conversation.")] = None,
    turns: Annotated[int, Opt("--turns", min=1, max=8, help="--chat: user/assistant exchanges per "
                              "conversation.")] = 1,
    magpie: Annotated[bool, Opt("--magpie", help="--chat on a local model: the model writes the user's message "
                                "itself from its chat template's opening (Magpie).")] = False,
    from_docs: Annotated[str | None, Opt("--from-docs", help="Question-answer pairs grounded in passages of this "
                                         "knowledge collection, with the passage id and source.")] = None,
    n: Annotated[int, Opt("--n", help="Rows to generate.")] = 100,
    out: Annotated[Path | None, Opt("--out", "-o", help="Output file (a folder for --format hf); default: "
                                    "named after the description.")] = None,
    fmt: Annotated[str | None, Opt("--format", help="jsonl, csv, parquet or hf (a datasets folder); default: "
                                   "from the --out suffix, else jsonl.")] = None,
    model: Annotated[str | None, Opt("--model", "-m", help="Model spec, e.g. llamacpp/smollm2-135m or "
                                     "openai/gpt-4o-mini.")] = None,
    fallback: Annotated[list[str] | None, Opt("--fallback", help="Model tried when the previous one fails "
                                              "(repeatable).")] = None,
    seed: Annotated[int, Opt("--seed", help="Seed of every per-row choice and of sampling.")] = 0,
    topics: Annotated[str | None, Opt("--topics", help="Seed topics: comma-separated, or a file with one a line "
                                      "(default: generated first and shown).")] = None,
    personas: Annotated[str | None, Opt("--personas", help="Personas rows are written as: comma-separated or a "
                                        "file (default: a built-in set).")] = None,
    temperature: Annotated[str | None, Opt("--temperature", help="A temperature or a schedule range such as "
                                           "0.6..1.1 (default 0.7..1.0).")] = None,
    no_diversity: Annotated[bool, Opt("--no-diversity", help="No topics, personas, angles, balanced labels or "
                                      "temperature schedule: one plain prompt.")] = False,
    dedup: Annotated[str, Opt("--dedup", help="Near-duplicate threshold (MiniLM cosine), or 'off' for exact "
                              "duplicates only.")] = "0.92",
    no_meta: Annotated[bool, Opt("--no-meta", help="Leave out the _meta provenance field.")] = False,
    max_cost: Annotated[float | None, Opt("--max-cost", min=0, help="Stop before spending more than this many "
                                          "USD.")] = None,
    concurrency: Annotated[int | None, Opt("--concurrency", min=1, max=64, help="Requests at once (default: "
                                           "4 for remote models, 1 for local ones).")] = None,
    batch: Annotated[int, Opt("--batch", min=1, max=64, help="Rows a local model decodes together (llama.cpp "
                              "multi-sequence batching; default 1: one after another, faster on small models "
                              "for now).")] = 1,
    max_failures: Annotated[int, Opt("--max-failures", min=1, help="Stop after this many invalid rows in a "
                                     "row.")] = 20,
    max_tokens: Annotated[int | None, Opt("--max-tokens", min=16, help="Most tokens per model answer "
                                          "(default: from the schema).")] = None,
    resume: Annotated[bool, Opt("--resume", help="Continue an existing --out up to --n rows.")] = False,
    force: Annotated[bool, Opt("--force", help="Replace an existing --out.")] = False,
    push_to_hub: Annotated[str | None, Opt("--push-to-hub", help="Upload to this Hugging Face dataset repo "
                                           "(needs a network and HF_TOKEN).")] = None,
    no_report: Annotated[bool, Opt("--no-report", help="Skip the HTML report and dataset card.")] = False,
    as_json: Annotated[bool, Opt("--json", help="Print one JSON summary object at the end.")] = False,
) -> None:
    """Generate a synthetic dataset (see the help text above)."""
    from podium.settings import load_settings
    from tools.datagen.request import Request, plan

    settings = load_settings()

    request = Request(description=description, fields=fields, schema=schema, like=like, chat=chat, style=style,
                      system=system, turns=turns, magpie=magpie, from_docs=from_docs, n=n, out=out, fmt=fmt,
                      model=model, fallbacks=fallback or [], seed=seed, topics=topics, personas=personas,
                      temperature=temperature, diversity=not no_diversity, dedup=dedup, meta=not no_meta,
                      max_cost=max_cost, concurrency=concurrency, batch=batch, max_failures=max_failures,
                      max_tokens=max_tokens,
                      resume=resume, force=force)
    job, shown = plan(request, confirm=None if yes or as_json or not sys.stdin.isatty() else _confirm)
    if shown and not as_json:
        err.print(f"schema inferred from {like}: {shown}", markup=False)
    if push_to_hub:
        from tools.datagen.hub import check

        check(push_to_hub)
    _preload(model, settings)  # only once the request is valid: a user mistake never waits for a model load
    from tools.datagen import report as reports
    from tools.datagen.engine import run, summary
    from ui.datagen_setup import open_backend

    backend, embed, passages = open_backend(request, job, settings)
    with _Bar(job.n, disabled=as_json) as update:
        stats = run(job, backend, embed=embed, passages=passages, progress=update,
                    log=lambda text: err.print(text, style="dim", markup=False))
    page = None if no_report else reports.write_report(job.out, job.fmt, embed=embed)
    if push_to_hub:
        from tools.datagen.hub import push

        url = push(job.out, job.fmt, push_to_hub, card=page.parent / "README.md" if page else None)
        err.print(f"pushed to {url}", markup=False)
    result = summary(job, stats, page, backend.spec.spec)
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        _print_summary(result, stats)
    if stats.stopped:
        raise typer.Exit(130 if stats.stopped == "interrupted" else 1)


def _preload(model: str | None, settings: Any) -> None:
    """Start loading the run's local GGUF on a background thread, so llama.cpp's load overlaps importing the engine
    and the routing layer (remote models and specs that do not resolve: nothing; the run reports those)."""
    from models.llama_pool import preload
    from models.registry import resolve
    from podium.errors import PodiumError

    try:
        preload(resolve(model or settings.agent_models.get("datasets") or settings.model, settings), settings.n_threads)
    except PodiumError:
        pass


def _confirm(text: str) -> bool:
    return typer.confirm(f"Inferred schema: {text}\nUse it?", default=True, err=True)


class _Bar:
    """The progress bar (accepted/total, invalid, duplicate, rows/s, ETA, cost), shown from the first row on, so
    an error found while opening the output is not drawn under a bar."""

    def __init__(self, total: int, disabled: bool) -> None:
        self.total, self.disabled = total, disabled
        self.progress: Progress | None = None

    def __call__(self, stats: Any) -> None:
        if self.progress is None:
            columns = (SpinnerColumn(), TextColumn("generating"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[info]}"), TimeElapsedColumn())
            self.progress = Progress(*columns, console=err, transient=False, disable=self.disabled)
            self.progress.start()
            self.task = self.progress.add_task("rows", total=self.total, info="")
        eta = f"{stats.eta_s:.0f}s" if stats.eta_s is not None else "?"
        cost = "cost ?" if stats.cost_usd is None else f"${stats.cost_usd:.4f}"
        self.progress.update(self.task, completed=stats.rows, info=(
            f"✗ {stats.invalid} invalid · {stats.duplicate} dup · {stats.rows_per_s:.2f} rows/s · ETA {eta} · {cost}"))

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_summary(result: dict[str, Any], stats: Any) -> None:
    rejected = result["rejected"]
    cost = result["cost_usd"]
    err.print(f"{result['rows']} rows in {result['out']} ({rejected['invalid']} invalid and {rejected['duplicate']} "
              f"duplicate rows rejected; {result['seconds']:.1f} s, {result['rows_per_s']:.2f} rows/s, "
              f"{'cost unknown' if cost is None else f'${cost:.4f}'}, {result['model']})", markup=False)
    if result["report"]:
        err.print(f"report: {result['report']}", markup=False)
    reasons = {"max_cost": "--max-cost reached", "invalid": f"{stats.invalid} rows were invalid; last problem: "
               f"{stats.problems[-1] if stats.problems else '?'}", "duplicates": "the model keeps repeating rows "
               "(raise --temperature, add --topics)", "interrupted": "interrupted"}
    if stats.stopped:
        err.print(f"stopped early: {reasons.get(stats.stopped, stats.stopped)}; run the same command with --resume "
                  "to continue", style="yellow", markup=False)


@datagen_app.command("report")
def report_command(
    file: Annotated[Path, typer.Argument(help="A dataset written by podium datagen (jsonl, csv, parquet, hf).")],
    out: Annotated[Path | None, Opt("--out", "-o", help="Report folder (default: FILE.report/).")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the report's facts as JSON.")] = False,
) -> None:
    """Write an HTML report (per-field distributions, lengths, rejected rows, topics, cost, time), PNG plots and
    a Hugging Face dataset card (README.md)."""
    from memory.embeddings import make_embedder
    from podium.settings import load_settings
    from tools.datagen import report as reports

    if not file.exists():
        raise ConfigError(f"no such dataset {file}", setting="FILE", hint="give the --out of a podium datagen run")
    settings = load_settings()
    page = reports.write_report(file, out_dir=out, embed=make_embedder(settings.embedding_model, settings).embed)
    if as_json:
        facts = json.loads((page.parent / "facts.json").read_text())
        sys.stdout.write(json.dumps({"report": str(page), **facts}, ensure_ascii=False) + "\n")
    else:
        err.print(f"report: {escape(str(page))} (plots and README.md beside it)")


def register(app: typer.Typer) -> None:
    """Add ``podium datagen`` to the CLI."""
    app.add_typer(datagen_app, name="datagen")
