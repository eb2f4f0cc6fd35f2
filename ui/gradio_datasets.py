"""The Datasets tab: describe a dataset, edit its fields, preview 3 rows, generate with live progress, see the
report, download the file.

Thin wiring over :mod:`tools.datagen` and :mod:`ui.datagen_view`. Handlers are plain methods of
:class:`DatasetsTab`, so tests call them without a server. Runs write to
``PODIUM_HOME/datasets/``; generation is queued one at a time (the ``datagen`` group).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from podium.errors import PodiumError
from tools.datagen.request import Request, default_out, plan
from ui.datagen_view import (
    EXAMPLE_FIELDS,
    FIELD_HEADERS,
    FIELD_TYPES,
    MODES,
    preview_table,
    progress_line,
    suggest_fields,
    table_to_spec,
)
from ui.gradio_events import PRIVATE

PREVIEW_ROWS = 3


def _warn(exc: Exception) -> str:
    return exc.one_line() if isinstance(exc, PodiumError) else f"{type(exc).__name__}: {exc}"


class DatasetsTab:
    """Handlers of the Datasets tab."""

    def __init__(self, podium: Any) -> None:
        self.podium = podium
        self.folder = podium.settings.data_dir / "datasets"

    def request(self, form: Sequence[Any], out: Path, rows: int | None = None) -> Request:
        """A :class:`Request` from the form's values (the same checks as the CLI flags); ``rows`` overrides its n."""
        description, mode, table, collection, style, n, model, seed, diversity = form
        n = n if rows is None else rows
        kind = MODES.get(mode, "records")
        return Request(description=description or "", fields=table_to_spec(table) if kind == "records" else None,
                       chat=kind == "chat", style=(style or None) if kind == "chat" else None,
                       from_docs=(collection or "") if kind == "docs" else None, n=int(n or 0), out=out,
                       model=(model or "").strip() or None, seed=int(seed or 0), diversity=bool(diversity), force=True)

    def _start(self, request: Request) -> tuple[Any, Any, Any, list[dict[str, Any]]]:
        from ui.datagen_setup import open_backend

        job, _ = plan(request)
        backend, embed, passages = open_backend(request, job, self.podium.settings, models=self.podium.models,
                                                ledger=self.podium.ledger, knowledge=self.podium.knowledge)
        return job, backend, embed, passages

    def suggest(self, description: str) -> Any:
        """Fields guessed from "with subject, body and priority" in the description."""
        rows = suggest_fields(description or "")
        if not rows:
            gr.Warning('Name the fields in the description ("... with subject, body and priority") or edit the '
                       "table.", duration=6)
            return gr.skip()
        return rows

    def preview(self, *form: Any) -> Any:
        """Three rows, made exactly as the full run would make them, not kept."""
        from tools.datagen.engine import run
        from tools.datagen.store import read_rows

        out = self.folder / ".preview" / f"preview-{time.time_ns()}.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            job, backend, embed, passages = self._start(self.request(form, out, rows=PREVIEW_ROWS))
            job.max_failures = PREVIEW_ROWS  # a preview that cannot make rows says so quickly
            stats = run(job, backend, embed=embed, passages=passages)
            rows = read_rows(out)
        except PodiumError as exc:
            gr.Warning(_warn(exc), duration=10)
            return gr.skip()
        finally:
            for leftover in out.parent.glob(f"{out.name}*"):
                leftover.unlink(missing_ok=True)
        if not rows:
            gr.Warning(f"No valid row came out: {stats.problems[-1] if stats.problems else 'all were duplicates'}",
                       duration=10)
            return gr.skip()
        headers, cells = preview_table(rows)
        return gr.Dataframe(value=cells, headers=headers)

    def generate(self, *form: Any) -> Iterator[tuple[Any, ...]]:
        """Run the whole job, yielding a progress line as rows arrive, then the report and the file."""
        from tools.datagen import report as reports
        from tools.datagen.engine import run
        from tools.datagen.store import read_rows

        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            out = self.folder / f"{stamp}-{default_out(form[0] or 'dataset', None).name}"
            job, backend, embed, passages = self._start(self.request(form, out))
        except PodiumError as exc:
            gr.Warning(_warn(exc), duration=10)
            yield (gr.skip(),) * 4
            return
        updates: queue.Queue[Any] = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["stats"] = run(job, backend, embed=embed, passages=passages, progress=updates.put)
                outcome["report"] = reports.write_report(job.out, job.fmt, embed=embed)
            except Exception as exc:  # noqa: BLE001 - shown in the tab
                outcome["error"] = exc
            finally:
                updates.put(None)

        threading.Thread(target=work, daemon=True, name="datagen-ui").start()
        yield f"Generating {job.n} rows with {backend.spec.spec} into `{job.out.name}`…", gr.skip(), gr.skip(), None
        while (stats := updates.get()) is not None:
            yield progress_line(stats), gr.skip(), gr.skip(), None
        if "error" in outcome:
            gr.Warning(_warn(outcome["error"]), duration=10)
            yield f"Stopped: {_warn(outcome['error'])}", gr.skip(), gr.skip(), None
            return
        stats = outcome["stats"]
        headers, cells = preview_table(read_rows(job.out, job.fmt)[:20])
        done = progress_line(stats) + (f" · stopped early: {stats.stopped}" if stats.stopped else " · done")
        yield (done, gr.Dataframe(value=cells, headers=headers), outcome["report"].read_text(encoding="utf-8"),
               str(job.out))

    def collections(self) -> Any:
        """Collection choices for QA from documents."""
        kb = self.podium.knowledge
        names = [c["name"] for c in kb.collections()] if kb is not None and kb.usable() else []
        return gr.Dropdown(choices=names, value=names[0] if names else None)


def add_datasets_tab(podium: Any, parts: Any = None) -> DatasetsTab:
    """Build the Datasets tab inside the app's tab set."""
    tab = DatasetsTab(podium)
    with gr.Tab("Datasets", id="datasets"):
        gr.Markdown("Describe a dataset, define its fields, preview a few rows, then generate. Rows are validated "
                    "and deduplicated; the report shows their distributions.")
        with gr.Row():
            description = gr.Textbox(label="Describe the dataset", scale=4, elem_id="podium-dg-description",
                                     value="customer support tickets for a SaaS product")
            mode = gr.Radio(list(MODES), value="Records (fields)", label="Kind", scale=2)
        fields = gr.Dataframe(value=EXAMPLE_FIELDS, headers=FIELD_HEADERS, datatype=["str"] * 5, interactive=True,
                              column_count=5, label=f"Fields (types: "
                              f"{', '.join(FIELD_TYPES)}; min/max bound lengths or values; enum values "
                              "comma-separated)", elem_id="podium-dg-fields")
        suggest = gr.Button("Suggest fields from the description", size="sm")
        with gr.Row():
            collection = gr.Dropdown([], label="Collection (QA from documents)", allow_custom_value=True)
            style = gr.Textbox(label="Style (chat)", placeholder="e.g. warm, brief, uses bullet points")
            n = gr.Number(value=20, precision=0, minimum=1, label="Rows", elem_id="podium-dg-n")
            model = gr.Textbox(value=podium.settings.model, label="Model")
        with gr.Accordion("Diversity", open=False):
            with gr.Row():
                seed = gr.Number(value=0, precision=0, label="Seed")
                diversity = gr.Checkbox(value=True, label="Topics, personas, balanced labels, temperature schedule")
        with gr.Row():
            preview = gr.Button("Preview 3 rows", elem_id="podium-dg-preview")
            generate = gr.Button("Generate", variant="primary", elem_id="podium-dg-generate")
        status = gr.Markdown(elem_id="podium-dg-status")
        rows = gr.Dataframe(label="Rows", interactive=False, wrap=True, elem_id="podium-dg-rows")
        with gr.Accordion("Report", open=True):
            report = gr.HTML(elem_id="podium-dg-report")
        download = gr.File(label="Download", elem_id="podium-dg-file")
    form = [description, mode, fields, collection, style, n, model, seed, diversity]
    suggest.click(tab.suggest, [description], [fields], api_name="datagen_suggest", concurrency_limit=None)
    preview.click(tab.preview, form, [rows], api_name="datagen_preview", concurrency_id="datagen",
                  concurrency_limit=1)
    generate.click(tab.generate, form, [status, rows, report, download], api_name="datagen_generate",
                   concurrency_id="datagen", concurrency_limit=1)
    mode.change(tab.collections, None, [collection], **PRIVATE, concurrency_limit=None)
    return tab
