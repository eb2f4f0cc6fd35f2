"""Ingest files and folders into a collection: incremental, per-file atomic, one writer at a time.

Each file is read, hashed, loaded, chunked and embedded; unchanged files (same
content hash) are skipped, changed ones replace their old chunks only after the
new ones are all in, and a bad file is reported with its reason while the rest go
on. Chunks of several small files are embedded together, so batching stays full.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from memory.chunking import Chunk, chunk_blocks
from memory.loaders import MAX_FILE_BYTES, LoadError, load_blocks, readable
from memory.manifest import DocRecord
from memory.store import DEFAULT_COLLECTION, check_name
from podium.errors import ModelError, NotFoundError

if TYPE_CHECKING:
    from memory.store import KnowledgeBase

CHUNK_TOKENS = 200
"""Chunk size in embedding-model tokens (MiniLM reads 256; the heading path needs a few)."""
CHUNK_OVERLAP = 32
"""Tokens shared by consecutive chunks of a section."""
EMBED_BATCH = 256
"""Chunks gathered (across files) before one embedding call."""
SKIP_DIRS = {"node_modules", "__pycache__", "venv", "site-packages", "dist", "build"}


@dataclass
class FileResult:
    """What happened to one file."""

    source: str
    path: str
    status: str
    """``added``, ``updated``, ``unchanged``, ``failed``, ``pruned`` or ``skipped`` (found in a folder and left
    out on purpose: a hidden or dependency folder, a file type that is not text)."""
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    """The outcome of one ingest run."""

    collection: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    """Stopped by Ctrl-C: the files done before it are kept, the rest are not."""

    def count(self, status: str) -> int:
        """Files with ``status``."""
        return sum(f.status == status for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be ingested."""
        return [f for f in self.files if f.status == "failed"]

    @property
    def chunks(self) -> int:
        """Chunks written in this run."""
        return sum(f.chunks for f in self.files if f.status in ("added", "updated"))

    def skipped(self) -> dict[str, int]:
        """How many files and folders were left out, by reason, most common first."""
        reasons: dict[str, int] = {}
        for f in self.files:
            if f.status == "skipped":
                reasons[f.reason] = reasons.get(f.reason, 0) + 1
        return dict(sorted(reasons.items(), key=lambda kv: -kv[1]))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with every file."""
        counts = {s: self.count(s) for s in STATUSES}
        return {"collection": self.collection, **counts, "chunks": self.chunks, "seconds": round(self.seconds, 3),
                "interrupted": self.interrupted, "files": [asdict(f) for f in self.files]}


STATUSES = ("added", "updated", "unchanged", "failed", "pruned", "skipped")
"""What can happen to a file, in the order summaries list them."""


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped an ingest; ``report`` says what was kept (every file finished before it, whole)."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__("ingest interrupted")
        self.report = report


class Progress(Protocol):
    """Hears about an ingest as it goes (the CLI draws a progress bar)."""

    def start(self, files: int) -> None:
        """``files`` files will be looked at."""

    def file_done(self, result: FileResult) -> None:
        """One file is finished (any status)."""

    def chunks_embedded(self, n: int) -> None:
        """``n`` more chunks were embedded."""


class _Silent:
    def start(self, files: int) -> None: ...
    def file_done(self, result: FileResult) -> None: ...
    def chunks_embedded(self, n: int) -> None: ...


def discover(paths: Sequence[str | Path]) -> tuple[list[tuple[str, Path]], list[FileResult]]:
    """``(source, path)`` of every file to ingest, and results for paths that cannot be (failed) or are left
    out on purpose (skipped, with the reason).

    A directory is walked recursively (hidden and dependency or build folders skipped; supported
    suffixes and gzipped text only) and its files are named by their path relative to it; a file
    given directly is named by its file name and tried whatever its suffix.
    """
    found: dict[str, Path] = {}
    failed: list[FileResult] = []

    def add(source: str, path: Path) -> None:
        if source in found and found[source] != path:
            failed.append(FileResult(source, str(path), "failed", reason=f"same source name as {found[source]}"))
        else:
            found[source] = path

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, files in os.walk(path, onerror=lambda e: failed.append(
                    FileResult(Path(e.filename).name, str(e.filename), "failed", reason=_os_reason(e)))):
                for name in sorted(dirs):
                    why = "hidden folder" if name.startswith(".") else \
                        f"{name} folder (dependencies or build output)" if name in SKIP_DIRS else None
                    if why:
                        folder = Path(root) / name
                        failed.append(FileResult(folder.relative_to(path).as_posix() + "/", str(folder), "skipped",
                                                 reason=why))
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
                for name in sorted(files):
                    file = Path(root) / name
                    why = readable(name)
                    if why is None:
                        add(file.relative_to(path).as_posix(), file)
                    else:
                        failed.append(FileResult(file.relative_to(path).as_posix(), str(file), "skipped", reason=why))
        elif path.is_file():
            add(path.name, path)
        else:
            missing = not path.exists() and not path.is_symlink()
            reason = "no such file or directory" if missing else "not a regular file"
            failed.append(FileResult(path.name or str(path), str(path), "failed", reason=reason))
    return sorted(found.items()), failed


def check_paths(paths: Sequence[str | Path]) -> None:
    """Raise :class:`NotFoundError` for the first path that does not exist, named as given.

    A path the user typed that is not there is a mistake to fix, not a file to report
    among the results: nothing is ingested and no collection is created.
    """
    for raw in paths:
        if not os.path.lexists(Path(raw).expanduser()):
            raise NotFoundError("file or folder", str(raw), hint="check the path; give files or folders that exist")


def _os_reason(exc: OSError) -> str:
    return {13: "permission denied", 2: "no such file or directory"}.get(exc.errno or 0, exc.strerror or str(exc))


@dataclass
class _Prepared:
    source: str
    path: Path
    doc_hash: str
    chunks: list[Chunk]
    replaces: bool


def ingest(kb: KnowledgeBase, paths: Sequence[str | Path], collection: str = DEFAULT_COLLECTION, *,
           prune: bool = False, progress: Progress | None = None, on_wait: Callable[[str], None] | None = None,
           max_bytes: int = MAX_FILE_BYTES, named: Sequence[tuple[str, Path]] | None = None) -> IngestReport:
    """Ingest ``paths`` into ``collection`` (created on first use); see the module docstring.

    A path that does not exist raises :class:`NotFoundError` before anything is written.
    With ``prune``, documents of the collection that are not among this run's files are deleted.
    ``named`` gives ``(source, path)`` pairs to read instead of ``paths`` (re-reading documents under
    the names they have; a file gone since is reported as failed).
    """
    started = time.perf_counter()
    check_name(collection)
    if named is None:
        check_paths(paths)
        files, failures = discover(paths)
    else:
        files, failures = sorted((source, Path(path)) for source, path in named), []
    skipped = [f for f in failures if f.status == "skipped"]
    failures = [f for f in failures if f.status != "skipped"]
    with kb.writing(on_wait):
        run = _Run(kb, kb.collection(collection, create=True), IngestReport(collection), progress or _Silent())
        version = run.col.metadata.get("podium_version")
        stored = kb.documents(run.col)
        run.documents = dict(stored)
        run.begun = run.col.metadata.get("podium_version") != version  # leftovers were swept: that is a change
        seen = {source for source, _ in files} | {f.source for f in failures}
        removed = sorted(set(stored) - seen) if prune else []
        run.progress.start(len(files) + len(failures) + len(removed))
        run.report.files += skipped
        try:
            _write(run, files, failures, removed, stored, max_bytes)
        except KeyboardInterrupt:  # keep what is whole: the catalog and counts then match what is stored
            run.report.interrupted = True
            if run.begun:
                kb.commit(run.col, run.documents, clean=False)  # no manifest: the next run rescans for leftovers
            run.report.seconds = time.perf_counter() - started
            raise IngestInterrupted(run.report) from None
        if run.begun:  # an ingest that changed nothing leaves the collection (and its BM25 index) alone
            kb.commit(run.col, run.documents, clean=run.clean)
    run.report.seconds = time.perf_counter() - started
    return run.report


def _write(run: _Run, files: list[tuple[str, Path]], failures: list[FileResult], removed: list[str],
           stored: dict[str, DocRecord], max_bytes: int) -> None:
    """Prepare, embed and write every file, then prune ``removed`` documents."""
    for result in failures:
        run.done(result)
    pending: list[_Prepared] = []
    for source, path in files:
        item = _prepare(run.kb, source, path, stored, max_bytes)
        if isinstance(item, FileResult):
            run.done(item)
            continue
        pending.append(item)
        if sum(len(p.chunks) for p in pending) >= EMBED_BATCH:
            run.flush(pending)
    run.flush(pending)
    for source in removed:
        run.begin()
        run.kb.remove_document(run.col, source)
        run.documents.pop(source)
        run.done(FileResult(source, "", "pruned", stored[source].chunks))


def _prepare(kb: KnowledgeBase, source: str, path: Path, stored: dict[str, Any],
             max_bytes: int) -> _Prepared | FileResult:
    """Read, hash, load and chunk one file, or say why it cannot be (or need not be) ingested."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return FileResult(source, str(path), "failed",
                              reason=f"too large ({size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB)")
        data = path.read_bytes()
    except OSError as exc:
        return FileResult(source, str(path), "failed", reason=_os_reason(exc))
    doc_hash = hashlib.sha256(data).hexdigest()
    old = stored.get(source)
    if old is not None and old.doc_hash == doc_hash:
        return FileResult(source, str(path), "unchanged", old.chunks)
    try:
        blocks = load_blocks(path, data)
    except LoadError as exc:
        return FileResult(source, str(path), "failed", reason=exc.reason)
    chunks = chunk_blocks(blocks, kb.embedder.count_tokens, CHUNK_TOKENS, CHUNK_OVERLAP)
    if not chunks:
        return FileResult(source, str(path), "failed", reason="no text found")
    return _Prepared(source, path, doc_hash, chunks, old is not None)


@dataclass
class _Run:
    """One ingest's writer state: where results go, and whether the collection was touched yet."""

    kb: KnowledgeBase
    col: Any
    report: IngestReport
    progress: Progress
    begun: bool = False
    clean: bool = True
    """False once a write failed: its rollback may have failed too, so the next run rescans."""
    documents: dict[str, DocRecord] = field(default_factory=dict)
    """What the collection holds as the run goes: stored versions, then this run's changes."""

    def begin(self) -> None:
        """Mark the collection as changing, once, right before the first write."""
        if not self.begun:
            self.kb.begin(self.col)
            self.begun = True

    def done(self, result: FileResult) -> None:
        """Record one file's outcome."""
        self.report.files.append(result)
        self.progress.file_done(result)

    def flush(self, pending: list[_Prepared]) -> None:
        """Embed the pending files' chunks in one call, then add each file all-or-nothing."""
        if not pending:
            return
        texts = [c.embed_text for p in pending for c in p.chunks]
        parts = []
        try:
            for start in range(0, len(texts), EMBED_BATCH):
                parts.append(self.kb.embedder.embed(texts[start:start + EMBED_BATCH]))
                self.progress.chunks_embedded(len(parts[-1]))
        except ModelError as exc:  # a remote embedder failed: these files fail, the run goes on
            for p in pending:
                self.done(FileResult(p.source, str(p.path), "failed", reason=exc.message))
            pending.clear()
            return
        vectors, offset = np.concatenate(parts), 0
        self.begin()
        for p in pending:
            part, offset = vectors[offset:offset + len(p.chunks)], offset + len(p.chunks)
            try:
                self.kb.add_document(self.col, p.source, p.doc_hash, p.chunks, part, path=str(p.path.resolve()))
            except Exception as exc:  # noqa: BLE001 - a store error fails this file, not the run
                self.clean = False
                self.done(FileResult(p.source, str(p.path), "failed", reason=f"store error: {exc}"))
                continue
            if p.replaces:
                self.kb.remove_document(self.col, p.source, keep_hash=p.doc_hash)
            self.documents[p.source] = DocRecord(p.source, p.doc_hash, len(p.chunks))
            self.done(FileResult(p.source, str(p.path), "updated" if p.replaces else "added", len(p.chunks)))
        pending.clear()
