"""``podium eval`` (benchmarks, speed, leaderboard, judge) and ``podium arena`` (votes and ratings)."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from podium.errors import ConfigError
from ui.terminal import load_settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model spec, e.g. llamacpp/smollm2-135m.")]

eval_app = typer.Typer(help="Benchmarks scored like lm-evaluation-harness, speed runs, the leaderboard, LLM judges.",
                       no_args_is_help=True)
arena_app = typer.Typer(help="Blind pairwise votes and their Bradley-Terry ratings.", no_args_is_help=True)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


@contextmanager
def _progress(label: str) -> Any:
    """A progress bar on stderr (plain lines when stderr is a log file or a pipe); yields the ``(done, total)``
    callback."""
    if not err.is_terminal:
        yield _progress_lines(label)
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(label, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _progress_lines(label: str, every_s: float = 60.0) -> Any:
    """Progress as plain lines, for a long run logged to a file (a bar shows nothing there): at the start, then
    at most once every ``every_s`` seconds with the time left at the pace so far, and at the end."""
    start = time.monotonic()
    state = {"last": start, "first": -1}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if state["first"] < 0:
            state["first"] = done
            err.print(f"{label}: {total} items" + (f", {done} cached" if done else ""), markup=False)
        elif done >= total or now - state["last"] >= every_s:
            state["last"] = now
            pace = (done - state["first"]) / max(now - start, 1e-9)
            left = f", ~{(total - done) / pace / 60:.0f} min left" if pace and done < total else ""
            err.print(f"{label}: {done}/{total} items, {(now - start) / 60:.1f} min{left}", markup=False)

    return report


def _ledger(settings: Any) -> Any:
    from models.ledger import open_ledger

    return open_ledger(settings)


@eval_app.command("list")
def list_benchmarks(as_json: JsonOpt = False) -> None:
    """The benchmarks Podium runs, their metric, default shots and where their data comes from."""
    from tools.evals.benchmarks import BENCHMARKS

    rows: list[dict[str, Any]] = [
        {"name": b.name, "kind": "log-likelihood" if b.kind == "mc" else "generative", "metric": b.metric,
         "shots": b.shots, "work": b.work, "data": b.source, "title": b.title} for b in BENCHMARKS.values()]
    if as_json:
        _print_json(rows)
        return
    table = Table("benchmark", "kind", "metric", "shots", "work", "data", "what")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["metric"], str(r["shots"]), r["work"], r["data"], escape(r["title"]))
    out.print(table)


@eval_app.command("run")
def run(
    model: ModelOpt,
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="Benchmark name (see `podium eval list`).")],
    limit: Annotated[int | None, typer.Option("--limit", help="Score a fixed seeded sample of N items.")] = None,
    shots: Annotated[int | None, typer.Option("--shots", help="Few-shot examples (default: the benchmark's).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --limit sample and of the bootstrap.")] = 0,
    data: Annotated[Path | None, typer.Option("--data", help="Data file or folder for benchmarks without an "
                                              "offline package (bbh, mmlu_pro, musr, truthfulqa_mc).")] = None,
    chat: Annotated[bool, typer.Option("--chat", help="Wrap prompts in the model's chat template "
                                       "(generative benchmarks; local models complete raw prompts by default).")
          ] = False,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Cap tokens generated per item.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a model on a benchmark with a 95 % bootstrap interval (--json: one object).

    Each item is cached as it is scored: an interrupted run resumes when run again.
    """
    from models.cards import facts_for
    from tools.evals.published import calibration
    from tools.evals.runner import execute, prepare
    from ui.eval_view import calibration_line, result_line

    settings = load_settings()
    prepared = prepare(settings, model=model, benchmark=benchmark, limit=limit, shots=shots, seed=seed, data=data,
                       chat=chat, max_tokens=max_tokens)
    for notice in prepared.notices:
        err.print(f"note: {notice}", style="yellow", markup=False)
    try:
        with _progress(f"{prepared.bench.name} on {prepared.spec.spec}") as progress:
            result = execute(prepared, progress=progress, ledger=_ledger(settings))
    except KeyboardInterrupt:
        err.print("stopped: the items scored so far are cached; run the same command again to resume",
                  style="yellow", markup=False)
        raise SystemExit(130) from None
    entry = facts_for(prepared.spec)
    note = calibration(entry["name"] if entry else None, result)
    data_out = result.to_json() | ({"calibration": note} if note else {})
    if as_json:
        _print_json(data_out)
        return
    out.print(result_line(data_out), markup=False)
    for name, metric in result.extra["metrics"].items():
        if name != result.metric:
            out.print(f"  {name} {metric['score']:.2f}% (95% CI {metric['ci95'][0]:.2f}-{metric['ci95'][1]:.2f})",
                      markup=False)
    if note:
        out.print(calibration_line(note), markup=False)


@eval_app.command("speed")
def speed(model: ModelOpt,
          runs: Annotated[int, typer.Option("--runs", help="Timed requests.")] = 5,
          max_tokens: Annotated[int, typer.Option("--max-tokens", help="Tokens per answer.")] = 64,
          as_json: JsonOpt = False) -> None:
    """Time to first token, tokens/s and p50/p95 latency of a model, measured here (shown on its card)."""
    from tools.evals.speed import measure

    settings = load_settings()
    with _progress(f"timing {model}") as progress:
        result = measure(settings, model, runs=runs, max_tokens=max_tokens, ledger=_ledger(settings),
                         progress=progress)
    if as_json:
        _print_json(result.to_dict())
        return
    def fmt(value: float | None, unit: str) -> str:
        return "-" if value is None else f"{value:.3f}{unit}"
    out.print(f"{result.model}: {fmt(result.tokens_per_s, ' tok/s')} · ttft {fmt(result.ttft_s, 's')} · "
              f"p50 {fmt(result.p50_s, 's')} · p95 {fmt(result.p95_s, 's')} · {result.runs} runs", markup=False)
    for key, value in result.rate_limits.items():
        out.print(f"  {key}: {value}", markup=False)


@eval_app.command("leaderboard")
def leaderboard(
    as_json: JsonOpt = False,
    normalized: Annotated[bool, typer.Option("--normalized", help="Rescale as the Open LLM Leaderboard does: "
                                             "random guessing 0, perfect 100.")] = False,
    export: Annotated[Path | None, typer.Option("--export", help="Write leaderboard.csv and the plots "
                                                "(scores, quality_vs_cost, quality_vs_speed, latency .png) here.")
                      ] = None,
) -> None:
    """Models x benchmarks with intervals, price and measured speed."""
    from tools.evals.leaderboard import board_for
    from tools.evals.leaderboard import export as write
    from ui.eval_view import leaderboard_rows

    settings = load_settings()
    board = board_for(settings, normalized)
    if export is not None:
        if export.exists() and not export.is_dir():
            raise ConfigError(f"--export: {export} is a file", setting="--export", hint="name a folder")
        files = write(board, export)
        err.print("wrote " + ", ".join(str(f) for f in files), style="dim", markup=False)
    if as_json:
        _print_json(board.to_json())
        return
    if not board.rows:
        out.print("no results yet: podium eval run --model SPEC --benchmark NAME", markup=False)
        return
    headers, rows = leaderboard_rows(board.rows, board.benchmarks)
    table = Table(*headers, title="normalized (random 0, perfect 100)" if normalized else "score % [95% CI]")
    for row in rows:
        table.add_row(*[escape(str(c)) for c in row])
    Console(width=max(out.width, 160), highlight=False).print(table)


@eval_app.command("judge")
def judge(
    models: Annotated[str, typer.Option("--models", help="Two model specs, comma-separated: A,B.")],
    judge_model: Annotated[str, typer.Option("--judge", help="The judge model's spec.")],
    questions: Annotated[str, typer.Option("--questions", help="Question set (mt_bench).")] = "mt_bench",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N questions.")] = None,
    turns: Annotated[int, typer.Option("--turns", help="MT-Bench turns to answer and judge (1 or 2).")] = 2,
    mode: Annotated[str, typer.Option("--mode", help="single (1-10 grades), pairwise, or both.")] = "both",
    as_json: JsonOpt = False,
) -> None:
    """MT-Bench with an LLM judge: grades and pairwise verdicts (stored as judge votes in the arena)."""
    from tools.evals.judge import run_judge

    if questions != "mt_bench":
        raise ConfigError(f"--questions: unknown question set {questions!r}", setting="--questions",
                          hint="use mt_bench")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1 ({limit})", setting="--limit", hint="use --limit 5")
    specs = [m.strip() for m in models.split(",") if m.strip()]
    settings = load_settings()
    with _progress("judging") as progress:
        report = run_judge(settings, models=specs, judge=judge_model, limit=limit, turns=turns, mode=mode,
                           progress=progress)
    if as_json:
        _print_json(report.to_json())
        return
    for model, row in report.single.items():
        score = "-" if row["score"] is None else f"{row['score']:.2f}/10"
        out.print(f"{model}: {score} over {row['rated']} answers ({row['missing']} without a verdict)", markup=False)
    if report.pairwise:
        p = report.pairwise
        wins = ", ".join(f"{m} {n}" for m, n in p["wins"].items())
        out.print(f"pairwise: {wins}, ties {p['ties']}, no verdict {p['missing']}; {p['votes_stored']} judge votes "
                  "stored (podium arena leaderboard)", markup=False)


@arena_app.command("leaderboard")
def arena_leaderboard(
    as_json: JsonOpt = False,
    no_judge: Annotated[bool, typer.Option("--no-judge", help="Leave out LLM-judge votes.")] = False,
) -> None:
    """Bradley-Terry ratings of the arena's votes with bootstrap 95 % intervals."""
    from tools.evals.arena import SOURCES, open_arena
    from ui.eval_view import ARENA_HEADERS, arena_rows

    sources = tuple(s for s in SOURCES if not (no_judge and s == "judge"))
    board = open_arena(load_settings().data_dir).leaderboard(sources)
    if as_json:
        _print_json(board)
        return
    if not board:
        out.print("no votes yet: vote in the app's Evaluation tab, or podium arena import votes.jsonl", markup=False)
        return
    table = Table(*ARENA_HEADERS)
    for row in arena_rows(board):
        table.add_row(*[escape(str(c)) for c in row])
    out.print(table)


@arena_app.command("import")
def arena_import(path: Annotated[Path, typer.Argument(help="Votes in Chatbot Arena's format (.jsonl or .json).")],
                 as_json: JsonOpt = False) -> None:
    """Load votes ({"model_a", "model_b", "winner"} per line), then print the ratings."""
    from tools.evals.arena import open_arena

    arena = open_arena(load_settings().data_dir)
    count = arena.import_file(path)
    err.print(f"imported {count} votes from {path.name}", style="dim", markup=False)
    board = arena.leaderboard()
    if as_json:
        _print_json(board)
        return
    from ui.eval_view import ARENA_HEADERS, arena_rows

    table = Table(*ARENA_HEADERS)
    for row in arena_rows(board):
        table.add_row(*[escape(str(c)) for c in row])
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``podium eval`` and ``podium arena`` to the ``podium`` app."""
    app.add_typer(eval_app, name="eval")
    app.add_typer(arena_app, name="arena")
