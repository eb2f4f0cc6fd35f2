"""Where rows go: a crash-safe JSON-lines journal, exports to csv/parquet/hf, and the run's sidecar.

Accepted rows are appended to the journal and flushed one by one, so a killed run
loses at most the row being written; ``--resume`` trims a torn last line and
continues. For ``jsonl`` the journal *is* the output; for the other formats it is
``OUT.partial.jsonl``, exported atomically (temporary file, then rename) when the run
ends and removed once the dataset is complete. The sidecar ``OUT.datagen.json`` keeps
the run's settings and counts for ``--resume`` and the report.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from podium.errors import ConfigError, PodiumError
from podium.jsonl import records

FORMATS = ("jsonl", "csv", "parquet", "hf")
"""Output formats (``--format``)."""
_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class DiskError(PodiumError):
    """Writing the dataset failed (disk full, file too large, read-only...); written rows are kept."""


def detect_format(out: Path, requested: str | None) -> str:
    """The format asked for, else the one the file name implies (``jsonl`` by default)."""
    if requested:
        if requested not in FORMATS:
            raise ConfigError(f"--format: unknown format {requested!r}", setting="--format",
                              hint=f"use one of {', '.join(FORMATS)}")
        return requested
    return _SUFFIXES.get(out.suffix.lower(), "hf" if out.is_dir() else "jsonl")


def sidecar_path(out: Path) -> Path:
    """The run's settings and counts, next to the output."""
    return out.with_name(out.name + ".datagen.json")


def meta_path(out: Path) -> Path:
    """Provenance of chat rows, one line per row in the same order (their own lines stay pure OpenAI format)."""
    return out.with_name(out.name + ".meta.jsonl")


def read_meta(out: Path, rows: int) -> list[dict[str, Any]]:
    """The provenance lines of a chat dataset, cut or padded to ``rows`` (a kill can fall between the two writes)."""
    path = meta_path(out)
    metas = read_journal(path) if path.exists() else []
    fixed = metas[:rows] + [{"index": None}] * (rows - len(metas))
    if path.exists() and fixed != metas:
        write_atomic(path, "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in fixed))
    return fixed


def journal_path(out: Path, fmt: str) -> Path:
    """Where rows are appended while the run goes on."""
    return out if fmt == "jsonl" else out.with_name(out.name + ".partial.jsonl")


def check_out(out: Path, fmt: str, *, resume: bool, force: bool) -> None:
    """Refuse an output that cannot be written or would be clobbered (changes nothing on disk)."""
    if not out.parent.is_dir():
        what = "is not a folder" if out.parent.exists() else "does not exist"
        raise ConfigError(f"--out: the folder {out.parent} {what}", setting="--out",
                          hint="create the folder first, or pick another --out")
    if out.exists() and fmt != "hf" and not out.is_file():
        raise ConfigError(f"--out: {out} is not a regular file", setting="--out", hint="pick a file name for --out")
    if out.is_dir() and force and not (out / "dataset_info.json").exists() and not (out / "state.json").exists():
        raise ConfigError(f"--out: {out} is a folder that is not a saved dataset; not deleting it",
                          setting="--out", hint="pick another --out")
    if (out.exists() or journal_path(out, fmt).exists()) and not (resume or force):
        raise ConfigError(f"--out: {out} already exists", setting="--out",
                          hint="add --resume to continue it, --force to replace it, or pick another --out")
    _check_writable(out.parent)


def prepare(out: Path, fmt: str, *, resume: bool, force: bool) -> list[dict[str, Any]]:
    """Check ``out`` (see :func:`check_out`), clear it for ``force``, and return the rows to resume from."""
    check_out(out, fmt, resume=resume, force=force)
    journal = journal_path(out, fmt)
    if force:
        _remove(out)
        for path in (journal, sidecar_path(out), meta_path(out)):
            path.unlink(missing_ok=True)
        return []
    if journal.exists():
        return read_journal(journal)
    return read_rows(out, fmt) if out.exists() else []


def _check_writable(folder: Path) -> None:
    probe = folder / f".podium-write-test-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"--out: cannot write in {folder} ({exc.strerror or exc})", setting="--out",
                          hint="pick a folder you can write to") from None


def _remove(out: Path) -> None:
    if out.is_dir():
        shutil.rmtree(out)
    elif out.is_file():
        out.unlink()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The complete rows of a journal; a torn last line (a kill mid-write) is cut off the file."""
    data = path.read_bytes()
    rows, good = [], 0
    for line in data.splitlines(keepends=True):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("torn line")
            rows.append(json.loads(line))
            good += len(line)
        except ValueError:
            if good + len(line) < len(data):  # not the last line: the file is damaged, not torn
                raise ConfigError(f"{path.name} has a damaged line {len(rows) + 1}", setting="--out",
                                  hint="fix or remove that line, or start over with --force") from None
            break
    if good < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good)
    return rows


class Journal:
    """Appends rows as JSON lines, flushed one by one; a failed write is rolled back to the last row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open for the run, closed by close()
        self._good = self._file.seek(0, os.SEEK_END)
        self.rows = 0

    def append(self, row: dict[str, Any]) -> None:
        """Write one row; on failure truncate to the last complete row and raise :class:`DiskError`."""
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                written = self._file.write(view)
                view = view[written or 0:]
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._file.truncate(self._good)
            raise disk_error(self.path, exc) from None
        self._good += len(data)
        self.rows += 1

    def sync(self) -> None:
        """Force written rows to the disk (a kill needs only the flush; a power cut needs this)."""
        with contextlib.suppress(OSError):
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Sync and close (a second call does nothing)."""
        if self._file.closed:
            return
        self.sync()
        self._file.close()


def disk_error(path: Path, exc: OSError) -> DiskError:
    """A one-line error for a failed write, saying the rows written so far are kept."""
    why = "the disk is full" if exc.errno in _FULL else exc.strerror or str(exc)
    return DiskError(f"cannot write {path.name}: {why}; the rows written before are kept",
                     hint="free some space or pick another --out, then run the same command with --resume")


def write_atomic(path: Path, text: str) -> None:
    """Replace a small file in one step (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise disk_error(path, exc) from None


def load_sidecar(out: Path) -> dict[str, Any]:
    """The sidecar of a run (``{}`` when there is none or it is unreadable)."""
    try:
        return json.loads(sidecar_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def export(rows: list[dict[str, Any]], out: Path, fmt: str) -> None:
    """Write ``rows`` to ``out`` as ``fmt`` through a temporary sibling, then rename it into place."""
    if fmt == "jsonl":
        return
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if fmt == "csv":
            _write_csv(rows, tmp)
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), tmp)
        else:
            _write_hf(rows, tmp)
        if out.is_dir():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        raise disk_error(out, exc) from None


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    import csv

    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:  # nested values (lists, chat messages, _meta) as JSON text in their cell
            writer.writerow({k: v if isinstance(v, str | int | float | bool) or v is None else
                             json.dumps(v, ensure_ascii=False) for k, v in row.items()})


def _write_hf(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        from datasets import Dataset
    except ImportError:
        raise ConfigError("--format hf needs the datasets package", setting="--format",
                          hint="pip install 'podium[hf]'") from None
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    Dataset.from_list(rows).save_to_disk(str(path))


def read_rows(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """Rows of a dataset in any of :data:`FORMATS` (CSV cells holding JSON are decoded)."""
    fmt = fmt or detect_format(path, None)
    if not path.exists():
        raise ConfigError(f"no such dataset {path}", setting="FILE", hint="check the path")
    try:
        if fmt == "jsonl":
            return [row for _, row in records(path.read_text(encoding="utf-8"))]
        if fmt == "csv":
            import csv

            with open(path, newline="", encoding="utf-8") as handle:
                return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        from datasets import load_from_disk

        return list(load_from_disk(str(path)))
    except (ValueError, OSError, ImportError) as exc:
        raise ConfigError(f"cannot read {path.name} as {fmt}: {str(exc).splitlines()[0][:200]}", setting="FILE",
                          hint="give a dataset written by podium datagen (jsonl, csv, parquet or an hf folder)") \
            from None


def _cell(value: str) -> Any:
    if value[:1] in "[{" or value in ("true", "false"):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(value)
    return value


def json_text(data: Any) -> str:
    """Indented JSON for small files people may open."""
    return json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n"


def now_iso() -> str:
    """The local time as an ISO string, for provenance."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
