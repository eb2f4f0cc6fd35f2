"""A dataset asked for in chat: read the request, show a 3-row preview, finish the run, answer with the file.

The preview rows are the run's first rows (the file is resumed to the full count
afterwards), so nothing is generated twice. Used by the datasets specialist; kept
free of graph types so it is tested on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from podium.errors import PodiumError
from tools.datagen import store
from tools.datagen.engine import Stats, run
from tools.datagen.intent import DatasetIntent, parse_request
from tools.datagen.request import Request, default_out, plan

PREVIEW = 3
"""Rows shown before the full run."""
MAX_CHAT_ROWS = 500
"""Most rows a chat request may ask for (more belongs in `podium datagen`, with its progress bar)."""
HOW = ('Ask like "generate 20 support tickets as JSON with subject, body and priority", or use '
       "`podium datagen` / the Datasets tab for every option.")


@dataclass
class Outcome:
    """What the specialist answers with."""

    text: str
    path: Path | None = None
    rows: int = 0
    report: Path | None = None


def intent_of(text: str) -> DatasetIntent:
    """The request, or a :class:`PodiumError` saying how to ask."""
    intent = parse_request(text)
    if intent is None:
        raise PodiumError("I could not tell how many rows to make or what they are", hint=HOW)
    if intent.fields is None and not intent.chat:
        raise PodiumError(f"which fields should each of the {intent.description} have?",
                          hint='add "with subject, body and priority" (or "fields: name:type, ...")')
    if not 1 <= intent.n <= MAX_CHAT_ROWS:
        raise PodiumError(f"{intent.n} rows is more than a chat request makes ({MAX_CHAT_ROWS} at most)",
                          hint=f"use `podium datagen ... --n {intent.n}` for a big dataset")
    return intent


def request_for(intent: DatasetIntent, folder: Path) -> Request:
    """The CLI-equivalent request, writing under ``folder`` (``PODIUM_HOME/datasets``)."""
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{default_out(intent.description, intent.fmt).name}"
    return Request(description=intent.description, fields=intent.fields, chat=intent.chat, n=intent.n,
                   out=folder / name, fmt=intent.fmt)


def preview_text(rows: list[dict[str, Any]]) -> str:
    """The preview rows as a fenced JSON-lines block."""
    shown = "\n".join(json.dumps({k: v for k, v in r.items() if k != "_meta"}, ensure_ascii=False) for r in rows)
    return f"Preview of the first {len(rows)} rows:\n```json\n{shown}\n```"


def generate(text: str, backend: Any, folder: Path, *, embed: Any = None,
             on_preview: Callable[[str], None] = lambda _: None, progress: Callable[[Stats], None] | None = None,
             report: bool = True, **options: Any) -> Outcome:
    """Make the dataset a chat message asks for: preview first, then the rest, then the report.

    ``options`` set other :class:`Request` fields (``diversity=False``, ``seed=3``...).
    """
    intent = intent_of(text)
    folder.mkdir(parents=True, exist_ok=True)
    request = replace(request_for(intent, folder), **options)
    job, _ = plan(request)
    first = min(PREVIEW, job.n)
    job.n = first
    stats = run(job, backend, embed=embed, progress=progress)
    rows = store.read_rows(store.journal_path(job.out, job.fmt))
    if rows:
        on_preview(preview_text(rows))
    if stats.rows < first:
        return Outcome(_stopped(stats, job.out), job.out, stats.rows)
    if intent.n > first:
        job.n, job.resume = intent.n, True
        stats = run(job, backend, embed=embed, progress=progress)
    page = None
    if report:
        from tools.datagen.report import write_report

        page = write_report(job.out, job.fmt, embed=embed)
    lines = [f"Done: {stats.rows} {'conversations' if intent.chat else 'rows'} in [{job.out.name}]"
             f"(file://{job.out}) ({stats.invalid} invalid and {stats.duplicate} duplicate rows rejected, "
             f"{stats.seconds:.1f} s)."]
    if page:
        lines.append(f"Report: [{page.parent.name}/index.html](file://{page}).")
    if stats.stopped:
        lines.append(_stopped(stats, job.out))
    return Outcome(" ".join(lines), job.out, stats.rows, page)


def _stopped(stats: Stats, out: Path) -> str:
    why = {"invalid": f"the model kept writing invalid rows ({stats.problems[-1] if stats.problems else '?'})",
           "duplicates": "the model kept repeating itself", "max_cost": "the cost cap was reached"}
    return (f"Stopped early with {stats.rows} rows: {why.get(stats.stopped or '', stats.stopped)}. "
            f"Continue with `podium datagen ... --out {out} --resume`.")
