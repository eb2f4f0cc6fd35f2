"""The generation loop: rows are made (in worker threads), validated, deduplicated and appended.

``Job`` says what to make; :func:`run` makes it. Workers call the model (concurrently
for remote models, one at a time on a local one, whose lock serializes anyway); the
main thread alone judges and writes rows, so the journal and the duplicate index
need no locks. The run stops at ``n`` rows, at the dollar cap, or after too many
invalid or duplicate rows in a row, always with the valid rows kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.errors import PodiumError
from tools.datagen import store
from tools.datagen.dedup import Deduper, row_text
from tools.datagen.job import Job
from tools.datagen.makers import Candidate, Maker, maker_for
from tools.datagen.prompts import QA_SCHEMA

log = logging.getLogger(__name__)

SIDECAR_EVERY_S = 1.0
"""Most seconds between sidecar updates (counts for ``--resume`` and the report)."""


@dataclass
class Stats:
    """Counts of a run so far (shown live and in the ``--json`` summary)."""

    n: int
    rows: int = 0
    invalid: int = 0
    exact: int = 0
    near: int = 0
    cost_usd: float | None = 0.0
    seconds: float = 0.0
    """Wall time of this run (earlier runs of a resumed dataset not included)."""
    new_rows: int = 0
    stopped: str | None = None
    """Why the run ended before ``n`` rows (``max_cost``, ``invalid``, ``duplicates``, ``interrupted``)."""
    problems: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    @property
    def duplicate(self) -> int:
        """Rows dropped as exact or near duplicates."""
        return self.exact + self.near

    @property
    def rows_per_s(self) -> float:
        """Accepted rows per second in this run."""
        return self.new_rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate."""
        return (self.n - self.rows) / self.rows_per_s if self.rows_per_s else None


Progress = Callable[[Stats], None]


class _Run:
    def __init__(self, job: Job, backend: Any, embed: Any, passages: list[dict[str, Any]],
                 progress: Progress | None, log: Callable[[str], None]) -> None:
        self.job, self.backend, self.progress, self.log = job, backend, progress, log
        self.stats = Stats(job.n)
        self.deduper = Deduper(embed, job.dedup)
        self.maker: Maker = maker_for(job, backend, passages)
        self.text_schema = QA_SCHEMA if job.mode == "docs" else job.schema
        self.started = time.perf_counter()
        self.saved_at = 0.0
        self.sidecar: dict[str, Any] = {}
        self.streak = {"invalid": 0, "duplicate": 0}
        self.dearest = 0.0
        """The most one row has cost so far (USD), for ``--max-cost``."""
        self.meta_journal: store.Journal | None = None

    def execute(self) -> Stats:
        job = self.job
        existing = store.prepare(job.out, job.fmt, resume=job.resume, force=job.force)
        self.sidecar = self._resume_state(existing)
        self.stats.rows = len(existing)
        self.deduper.seed([row_text(r, self.text_schema) for r in existing])
        self.stats.topics = self.maker.prepare(self.sidecar.get("topics"), self.log)
        journal = store.Journal(store.journal_path(job.out, job.fmt))
        if job.meta and job.mode == "chat":  # conversations stay pure OpenAI format: provenance goes beside them
            store.read_meta(job.out, len(existing))
            self.meta_journal = store.Journal(store.meta_path(job.out))
        try:
            self._save(force=True)
            self._loop(journal, int(self.sidecar.get("next_index", 0)))
        except KeyboardInterrupt:
            self.stats.stopped = "interrupted"
        except PodiumError:
            journal.close()
            self._close_meta()
            with contextlib.suppress(PodiumError, OSError):  # keep what was made, in the format asked for
                self._finish()
            raise
        finally:
            journal.close()
            self._close_meta()
            self.stats.seconds = time.perf_counter() - self.started
            with contextlib.suppress(PodiumError):
                self._save(force=True)
        self._finish()
        return self.stats

    def _close_meta(self) -> None:
        if self.meta_journal is not None:
            self.meta_journal.close()

    def _resume_state(self, existing: list[dict[str, Any]]) -> dict[str, Any]:
        saved = store.load_sidecar(self.job.out) if existing else {}
        ours = self.job.settings_dict()
        if saved and existing:
            for key in ("mode", "schema", "collection"):
                if saved.get("settings", {}).get(key) != ours.get(key):
                    raise PodiumError(f"--resume: {self.job.out.name} was generated with another {key}",
                                      hint="run with the same options, or start over with --force")
        metas = store.read_meta(self.job.out, len(existing)) if self.job.mode == "chat" else \
            [r.get("_meta") for r in existing]
        indexes = [i for m in metas if isinstance(m, dict) and isinstance(i := m.get("index"), int)]
        next_index = max([int(saved.get("next_index", 0)), *[i + 1 for i in indexes], len(existing)])
        totals = saved.get("totals", {})
        return {"settings": ours, "next_index": next_index, "topics": saved.get("topics"), "earlier": totals,
                "runs": int(saved.get("runs", 0)) + 1}

    def _loop(self, journal: store.Journal, index: int) -> None:
        if self.maker.batches():
            self._batched(journal, index)
            return
        job = self.job
        pending: dict[Future[Candidate], int] = {}
        workers = max(1, job.concurrency)
        with ThreadPoolExecutor(workers, thread_name_prefix="datagen") as pool:
            try:
                while self.stats.rows < job.n and not self.stats.stopped:
                    while len(pending) < workers and self.stats.rows + len(pending) < job.n + workers - 1 \
                            and self._affordable(len(pending)):
                        pending[pool.submit(self.maker.make, index)] = index
                        index += 1
                    if not pending:
                        self.stats.stopped = self.stats.stopped or "max_cost"
                        break
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        pending.pop(future)
                        self.sidecar["next_index"] = max(self.sidecar["next_index"], index)
                        if self.stats.rows < job.n and not self.stats.stopped:
                            # a PodiumError other than invalid output ends the run here
                            self._judge(future.result(), journal)
            finally:
                for future in pending:
                    future.cancel()

    def _batched(self, journal: store.Journal, index: int) -> None:
        """Rows made a batch at a time on the local model (as many as are still missing, ``job.batch`` at most),
        judged and appended in index order as each batch ends: a kill loses only the batch being decoded."""
        while self.stats.rows < self.job.n and not self.stats.stopped:
            size = min(self.job.batch, self.job.n - self.stats.rows)
            indexes = list(range(index, index + size))
            index += size
            self.sidecar["next_index"] = max(self.sidecar["next_index"], index)
            for candidate in self.maker.make_batch(indexes):
                if self.stats.rows < self.job.n and not self.stats.stopped:
                    self._judge(candidate, journal)

    def _affordable(self, in_flight: int) -> bool:
        """Whether one more row fits under ``--max-cost`` with the rows in flight at the dearest cost seen so far."""
        cap = self.job.max_cost
        if cap is None:
            return True
        # A row costs what its calls cost; repairs and retries can add more, hence the margin over the dearest one, and
        # never less than one whole call at the answer's token limit (a cheap first row says little about the next).
        worst = max(self.dearest * 1.5, self.maker.first_cost())
        spent = self.backend.spent()
        self.stats.cost_usd = spent
        return spent + worst * (in_flight + 1) <= cap

    def _judge(self, candidate: Candidate, journal: store.Journal) -> None:
        self.dearest = max(self.dearest, candidate.meta.get("cost_usd") or 0.0)
        if candidate.row is None:
            self.stats.invalid += 1
            if len(self.stats.problems) < 20:
                self.stats.problems.append(candidate.problem or "invalid")
            self._streak("invalid")
        else:
            text = row_text(candidate.row, self.text_schema)
            kind, vector = self.deduper.check(text)
            if kind:
                setattr(self.stats, kind, getattr(self.stats, kind) + 1)
                self._streak("duplicate")
            else:
                row = dict(candidate.row)
                meta = {**candidate.meta, "prompt_hash": _hash(candidate.prompt), "time": store.now_iso()}
                if self.meta_journal is not None:
                    journal.append(row)
                    self.meta_journal.append(meta)
                elif self.job.meta:
                    journal.append({**row, "_meta": meta})
                else:
                    journal.append(row)
                self.deduper.keep(text, vector)
                self.stats.rows += 1
                self.stats.new_rows += 1
                log.info("row %d/%d accepted", self.stats.rows, self.job.n)
                self.streak = {"invalid": 0, "duplicate": 0}
        self.stats.seconds = time.perf_counter() - self.started
        self.stats.cost_usd = self.backend.spent()
        self._save()
        if self.progress:
            self.progress(self.stats)

    def _streak(self, kind: str) -> None:
        self.streak[kind] += 1
        limit = self.job.max_failures if kind == "invalid" else max(50, 2 * self.job.max_failures)
        if self.streak[kind] >= limit:
            self.stats.stopped = kind if kind == "invalid" else "duplicates"

    def _save(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.saved_at < SIDECAR_EVERY_S:
            return
        self.saved_at = now
        earlier = self.sidecar.get("earlier") or {}
        totals = {"invalid": self.stats.invalid + int(earlier.get("invalid", 0)),
                  "exact": self.stats.exact + int(earlier.get("exact", 0)),
                  "near": self.stats.near + int(earlier.get("near", 0)),
                  "seconds": round(self.stats.seconds + float(earlier.get("seconds", 0)), 3),
                  "cost_usd": _add(self.stats.cost_usd, earlier.get("cost_usd", 0.0)),
                  "rows": self.stats.rows}
        data = {**{k: v for k, v in self.sidecar.items() if k != "earlier"}, "model": self.backend.spec.spec,
                "totals": totals, "topics": self.stats.topics, "problems": self.stats.problems,
                "stopped": self.stats.stopped, "ledger_thread": self.backend.thread_id}
        store.write_atomic(store.sidecar_path(self.job.out), store.json_text(data))

    def _finish(self) -> None:
        job = self.job
        if job.fmt == "jsonl":
            return
        journal = store.journal_path(job.out, job.fmt)
        store.export(store.read_journal(journal), job.out, job.fmt)
        if self.stats.rows >= job.n:
            journal.unlink(missing_ok=True)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a + b, 6)


def run(job: Job, backend: Any, *, embed: Any = None, passages: list[dict[str, Any]] | None = None,
        progress: Progress | None = None, log: Callable[[str], None] = lambda _: None) -> Stats:
    """Generate ``job.n`` rows into ``job.out`` (appending to what a resumed run already has)."""
    if job.n < 1:
        raise PodiumError(f"--n must be at least 1 (got {job.n})", hint="ask for the number of rows you want")
    return _Run(job, backend, embed, passages or [], progress, log).execute()


def summary(job: Job, stats: Stats, report: Path | None, model: str) -> dict[str, Any]:
    """The ``--json`` summary: out, rows, rejected, seconds, rows_per_s, cost_usd, model, report (and why it
    stopped)."""
    return {"out": str(job.out), "rows": stats.rows, "rejected": {"invalid": stats.invalid,
                                                                  "duplicate": stats.duplicate},
            "seconds": round(stats.seconds, 3), "rows_per_s": round(stats.rows_per_s, 3),
            "cost_usd": None if stats.cost_usd is None else round(stats.cost_usd, 6),
            "model": model, "report": str(report) if report else None, "n": job.n, "stopped": stats.stopped,
            "near_duplicates": stats.near}
