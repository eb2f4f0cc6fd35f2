"""Knowledge commands: ``podium ingest``, ``podium search`` and ``podium kb list|delete|stats|eval|share``."""

from __future__ import annotations

import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from podium.errors import PodiumError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Knowledge collection.")]
OptionalCollectionOpt = Annotated[str | None, typer.Option(
    "--collection", "-c", help="Knowledge collection (default: 'default', or the only collection there is).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
KOpt = Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="How many hits.")]
ModeOpt = Annotated[str, typer.Option("--mode", help="dense, bm25 or hybrid (both fused by reciprocal rank).")]

kb_app = typer.Typer(help="Knowledge collections: list, delete, stats, eval, share.", no_args_is_help=True)


def _kb() -> Any:
    from memory.store import KnowledgeBase
    from podium.settings import load_settings

    settings = load_settings()
    settings.data_dir  # noqa: B018 - an unusable PODIUM_HOME is a one-line error before any progress bar shows
    return KnowledgeBase(settings)


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


class _Bar:
    """The ingest progress bar: files done of total, chunks embedded and their rate."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.chunks, self.started = progress, 0, time.perf_counter()
        self.task = progress.add_task("ingesting", total=None, chunks="0 chunks")

    def start(self, files: int) -> None:
        self.progress.update(self.task, total=files)

    def file_done(self, result: Any) -> None:
        if result.status == "failed":
            self.progress.console.print(f"[red]✗[/red] {escape(result.source)}: {escape(result.reason)}")
        self.progress.advance(self.task)

    def chunks_embedded(self, n: int) -> None:
        self.chunks += n
        rate = self.chunks / max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.task, chunks=f"{self.chunks} chunks · {rate:.1f} chunks/s")


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (folders are read recursively).")],
    collection: CollectionOpt = "default",
    prune: Annotated[bool, typer.Option("--prune", help="Delete documents that are not among these files.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add documents to a knowledge collection; unchanged files are skipped, changed ones replaced."""
    from memory.ingest import IngestInterrupted, check_paths
    from memory.ingest import ingest as run

    check_paths(paths)  # a mistyped path is an error before anything opens (or a progress bar shows)
    kb = _kb()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("files · {task.fields[chunks]}"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err, transient=False, disable=as_json) as progress:
            report = run(kb, paths, collection, prune=prune, progress=_Bar(progress),
                         on_wait=lambda why: progress.console.print(f"[yellow]…[/yellow] {escape(why)}"))
    except IngestInterrupted as stop:  # Ctrl-C: say what was kept, exit 130
        _summary(stop.report, as_json=as_json)
        if not as_json:
            err.print("■ interrupted: the files listed as added or updated are stored whole, the rest are not; "
                      "run the same command again to ingest them", style="yellow", markup=False)
        raise typer.Exit(130) from None
    _summary(report, as_json=as_json)
    if report.failed:
        raise typer.Exit(1)


def _summary(report: Any, *, as_json: bool) -> None:
    """The ingest's one-line summary (and what was skipped, by reason), or its JSON report."""
    if as_json:
        _json(report.to_dict())
        return
    from memory.ingest import STATUSES

    rate = report.chunks / report.seconds if report.seconds else 0.0
    counts = ", ".join(f"{report.count(s)} {s}" for s in STATUSES if s != "skipped" or report.count(s))
    err.print(f"{report.collection}: {counts} · {report.chunks} chunks in {report.seconds:.1f}s ({rate:.1f} chunks/s)",
              markup=False)
    if report.skipped():
        reasons = ", ".join(f"{why} ({n})" for why, n in report.skipped().items())
        err.print(f"skipped: {reasons} · --json lists every file", style="dim", markup=False)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    collection: OptionalCollectionOpt = None,
    k: KOpt = 5,
    mode: ModeOpt = "hybrid",
    source: Annotated[str | None, typer.Option("--source", help="Only sources matching a glob: 'guide/*.md'.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the passages of a collection that best match a query, with source, heading and score."""
    kb = _kb()
    collection = collection or kb.default_collection()
    hits = kb.search(query, collection, k=k, mode=mode, source=source)
    if as_json:
        _json({"query": query, "collection": collection, "mode": mode, "hits": [h.to_dict() for h in hits]})
        return
    if not hits:
        err.print(f"no matches in {collection!r}", markup=False)
    for rank, hit in enumerate(hits, 1):
        where = hit.source + (f" > {hit.heading}" if hit.heading else "") + (f" (p. {hit.page})" if hit.page else "")
        scores = f"score {hit.score:.4f} · similarity {hit.similarity:.2f}"
        out.print(f"[bold]{rank}. {escape(where)}[/bold]  [dim]{scores}[/dim]")
        out.print(escape(hit.text if len(hit.text) <= 400 else hit.text[:400] + "…"), "\n")


@kb_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List collections with their document and chunk counts and embedding model."""
    rows = _kb().collections()
    if as_json:
        _json(rows)
        return
    from memory.owners import describe

    table = Table("collection", "documents", "chunks", "embedding model", "updated", "owner", "shared with")
    for r in rows:
        updated = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["updated"])) if r["updated"] else "-"
        table.add_row(r["name"], str(r["documents"]), str(r["chunks"]), escape(r["embedder"]), updated,
                      escape(r.get("owner", "")), escape(describe(r.get("shared") or [])))
    out.print(table)


WithOpt = Annotated[str, typer.Option("--with", help="A user name, or 'all' for every signed-in user.")]


@kb_app.command()
def share(name: Annotated[str, typer.Argument(help="Collection to share.")], with_: WithOpt) -> None:
    """Let another user (of `podium ui --auth` or an API key) read a collection, or everyone with --with all."""
    from memory.access import share as run
    from memory.owners import describe

    shared = run(_kb(), name, with_)
    err.print(f"collection {name!r} is now shared with {describe(shared)}", markup=False)


@kb_app.command()
def unshare(name: Annotated[str, typer.Argument(help="Collection to stop sharing.")], with_: WithOpt) -> None:
    """Stop sharing a collection with a user (or with everyone: --with all)."""
    from memory.access import share as run
    from memory.owners import describe

    shared = run(_kb(), name, with_, revoke=True)
    err.print(f"collection {name!r} is now shared with {describe(shared)}", markup=False)


@kb_app.command()
def delete(name: Annotated[str, typer.Argument(help="Collection to delete.")]) -> None:
    """Delete a collection and everything ingested into it."""
    kb = _kb()
    with kb.writing(on_wait=lambda why: err.print(f"[yellow]…[/yellow] {escape(why)}")):
        kb.delete(name)
    err.print(f"deleted collection {name!r}")


@kb_app.command()
def stats(name: Annotated[str, typer.Argument(help="Collection.")], as_json: JsonOpt = False) -> None:
    """Counts for one collection: documents, chunks, tokens, file types, the largest documents."""
    data = _kb().stats(name)
    if as_json:
        _json(data)
        return
    for key in ("name", "embedder", "documents", "chunks", "tokens", "avg_chunk_tokens", "location"):
        out.print(f"{key:>17}: {data[key]}", markup=False)
    out.print(f"{'file types':>17}: " + ", ".join(f"{k} {v}" for k, v in data["file_types"].items()), markup=False)
    out.print(f"{'most chunks':>17}: " + ", ".join(f"{s} ({n})" for s, n in data["largest"]), markup=False)


ANSWER_MODES = ("auto", "extractive", "generative", "both", "none")
"""``kb eval --answer-mode``: how questions with an expected answer are answered (``both`` compares the two)."""


@kb_app.command("eval")
def eval_(
    qa: Annotated[Path, typer.Argument(help='JSONL, one {"question": ..., "sources": [...], "answer": ...} a line '
                                            "(sources, answer or both).")],
    collection: OptionalCollectionOpt = None,
    k: KOpt = 5,
    mode: ModeOpt = "hybrid",
    answer_mode: Annotated[str, typer.Option("--answer-mode", help="How questions with an expected answer are "
                                             "answered: auto (as podium ask would), extractive, generative, both, "
                                             "none.")] = "auto",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model spec for generated answers.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval (recall@k, MRR, nDCG@k) and, where answers are given, answers (exact match, token F1)."""
    from memory.eval import evaluate, load_qa

    if answer_mode not in ANSWER_MODES:
        raise PodiumError(f"unknown answer mode {answer_mode!r}", hint=f"use one of {', '.join(ANSWER_MODES)}")
    kb, items = _kb(), load_qa(qa)[:limit]
    collection = collection or kb.default_collection()
    kb.search(items[0].question, collection, k=k, mode=mode)  # fail fast on a bad collection or mode
    report = evaluate(lambda q: [h.source for h in kb.search(q, collection, k=k, mode=mode)], items, k, mode)
    answers = [] if answer_mode == "none" else _answers(items, collection, answer_mode, model, quiet=as_json)
    if as_json:
        _json({"collection": collection, **report.to_dict(misses=20),
               "answers": [a.to_dict(worst=10) for a in answers]})
        return
    out.print(f"{len(items)} questions · {collection} · {mode} · k={k}", markup=False)
    if report.questions:
        out.print(f"retrieval ({report.questions} with sources): recall@{k} {report.recall:.3f}   MRR {report.mrr:.3f}"
                  f"   nDCG@{k} {report.ndcg:.3f}", markup=False)
    for a in answers:
        out.print(f"answers, {a.mode} ({a.questions}): exact match {a.exact_match:.3f}   F1 {a.f1:.3f}   "
                  f"{a.seconds / max(a.questions, 1):.2f}s a question", markup=False)
    if report.misses:
        err.print(f"[dim]{len(report.misses)} questions found none of their sources, e.g. "
                  f"{escape(report.misses[0]['question'])!r}[/dim]")


def _answers(items: list[Any], collection: str, answer_mode: str, model: str | None, *, quiet: bool) -> list[Any]:
    """Answer the items that have expected answers in each requested mode, with a progress bar."""
    from agents.contract import TurnOptions
    from agents.knowledge import answer
    from agents.knowledge import answer_mode as mode_for
    from graph.app import PodiumApp
    from memory.eval import evaluate_answers
    from podium.settings import load_settings

    asked = [item for item in items if item.answers]
    if not asked:
        return []
    podium = PodiumApp(load_settings())
    ctx = podium.context(f"kb-eval-{int(time.time())}", TurnOptions(model=model or "", collection=collection))
    podium.preflight(ctx, asked[0].question)  # an unknown model or a missing key: one line, before any work
    modes = ["extractive", "generative"] if answer_mode == "both" else [
        mode_for(ctx) if answer_mode == "auto" else answer_mode]
    reports = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=quiet) as progress:
        for mode in modes:
            task = progress.add_task(f"answering ({mode})", total=len(asked))

            def one(question: str, mode: str = mode) -> str:
                return answer(ctx, question, collection, mode=mode)["messages"][-1].text

            reports.append(evaluate_answers(one, asked, mode, progress=partial(progress.advance, task)))
    return reports


def register(app: typer.Typer) -> None:
    """Add the knowledge commands to the ``podium`` app."""
    app.command()(ingest)
    app.command()(search)
    app.add_typer(kb_app, name="kb")
