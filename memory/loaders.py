"""Turn a file into blocks, one loader per file type; a bad file raises :class:`LoadError` with the reason.

Markdown, reStructuredText, HTML, PDF (pypdf), JSON/JSONL text fields, plain text
and source code. Text must be UTF-8 (or UTF-16 with a byte-order mark): guessing
another encoding silently would index mojibake.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memory.chunking import Block
from memory.markup import html_blocks, markdown_blocks, rst_blocks
from podium.jsonl import BadLine, records

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Files above this are refused (a reason is reported, the rest of the run goes on)."""

CODE_SUFFIXES = {
    ".py", ".pyi", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt", ".scala", ".c", ".h",
    ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".sh", ".bash", ".sql", ".r", ".lua", ".pl",
    ".toml", ".yaml", ".yml", ".ini", ".cfg", ".css", ".scss", ".vue", ".svelte", ".ex", ".exs", ".hs",
}


class LoadError(Exception):
    """A file that cannot be ingested; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (BOM or not) or UTF-16 with a BOM; anything else is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoadError(f"broken UTF-16 text at byte {exc.start}") from exc
    if b"\x00" in data[:8192]:
        raise LoadError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        "convert it, e.g. iconv -f latin1 -t utf-8") from exc


def _plain(text: str) -> list[Block]:
    return [Block(p.strip()) for p in re.split(r"\n\s*\n", text) if p.strip()]


_DEFINITION = re.compile(
    r"^(?:export\s+|pub\s+|public\s+|private\s+|static\s+|async\s+|abstract\s+)*"
    r"(?:def|class|function|func|fn|interface|struct|enum|impl|trait|module)\b"
)


def _code(text: str) -> list[Block]:
    """Top-level definitions start new blocks, so a function stays in one piece where it fits."""
    blocks: list[Block] = []
    current: list[str] = []
    heading: tuple[str, ...] = ()

    def close() -> None:
        if any(line.strip() for line in current):
            blocks.append(Block("\n".join(current).strip("\n"), heading, "code"))

    for line in text.splitlines():
        if _DEFINITION.match(line):
            lead: list[str] = []  # decorators and comments right above a definition belong to it
            while current and current[-1].strip() and current[-1].lstrip()[:1] in "@#/*":
                lead.insert(0, current.pop())
            close()
            current, heading = lead, (line.strip().rstrip(":{ ").strip()[:80],)
        current.append(line)
    close()
    return blocks


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """``(key path, text)`` for every string that reads as text (has a space), depth first."""
    if isinstance(value, str):
        return [(path, value.strip())] if " " in value.strip() else []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{path}[{i}]")]
    return []


def _record_blocks(record: Any, fallback: str) -> list[Block]:
    title = next((str(record[k]) for k in ("title", "name", "question", "id")
                  if isinstance(record, dict) and isinstance(record.get(k), str | int)), fallback)
    return [Block(f"{key}: {text}" if key else text, (title[:80],)) for key, text in _strings(record, "")]


def _json(text: str) -> list[Block]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    records = data if isinstance(data, list) else [data]
    return [b for i, r in enumerate(records, 1) for b in _record_blocks(r, f"record {i}")]


def _jsonl(text: str) -> list[Block]:
    try:
        lines = records(text)
    except BadLine as exc:
        raise LoadError(f"invalid JSON on line {exc.line}: {exc.msg}") from exc
    return [b for number, record in lines for b in _record_blocks(record, f"line {number}")]


def _pdf(data: bytes) -> list[Block]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs every repair it attempts; the one-line reason below is what the user needs.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF (needs a password); decrypt it first, e.g. qpdf --decrypt")
        titles = _outline(reader)
        blocks: list[Block] = []
        for number, page in enumerate(reader.pages, 1):
            text = page.extract_text() or ""
            text = re.sub(r"-\n(?=[a-z])", "", text)  # re-join words hyphenated across lines
            heading = next((t for p, t in reversed(titles) if p <= number), "")
            blocks += [Block(re.sub(r"[ \t]*\n[ \t]*", " ", p).strip(), (heading,) if heading else (), page=number)
                       for p in re.split(r"\n\s*\n", text) if p.strip()]
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise LoadError(f"corrupt PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if not blocks:
        raise LoadError("PDF has no extractable text (a scanned PDF needs OCR first)")
    return blocks


def _outline(reader: Any) -> list[tuple[int, str]]:
    """Top-level bookmarks as ``(page, title)``, sorted; best effort (many PDFs have none)."""
    try:
        items = [i for i in reader.outline if not isinstance(i, list)]
        return sorted((reader.get_destination_page_number(i) + 1, str(i.title).strip()) for i in items)
    except Exception:  # noqa: BLE001 - an odd outline must not fail an otherwise readable PDF
        return []


TEXT_LOADERS: dict[str, Callable[[str], list[Block]]] = {
    ".md": markdown_blocks, ".markdown": markdown_blocks, ".mdx": markdown_blocks,
    ".rst": rst_blocks, ".html": html_blocks, ".htm": html_blocks,
    ".txt": _plain, ".text": _plain, ".json": _json, ".jsonl": _jsonl, ".ndjson": _jsonl,
    **{suffix: _code for suffix in CODE_SUFFIXES},
}
"""Loaders of text formats by suffix; ``.pdf`` is read from bytes by pypdf."""

SUPPORTED = {*TEXT_LOADERS, ".pdf"}
"""Suffixes picked up when a directory is walked (and ``.gz`` of them, see :func:`readable`)."""
NOT_TEXT = {".tar", ".cpio", ".img", ".iso", ".bin", ".deb", ".rpm", ".png", ".jpg", ".jpeg", ".gif", ".wasm"}
"""Inner suffixes of ``.gz`` files that are never text."""


def readable(name: str) -> str | None:
    """Why a file found in a folder is not ingested (``None``: it is): its type, or being hidden."""
    if name.startswith("."):
        return "hidden file"
    suffix = Path(name).suffix.lower()
    if suffix == ".gz":  # /usr/share/doc is mostly gzipped text: changelog.gz, README.md.gz
        inner = Path(name[:-3]).suffix.lower()
        return f"compressed {inner} file (not text)" if inner in NOT_TEXT else None
    return None if suffix in SUPPORTED else f"unsupported file type {suffix or '(no suffix)'}"


def _gunzip(data: bytes) -> bytes:
    """The contents of a gzip file, refused beyond :data:`MAX_FILE_BYTES` (a gzip bomb stays small)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            inner = stream.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise LoadError(f"corrupt gzip file ({exc})") from exc
    if len(inner) > MAX_FILE_BYTES:
        raise LoadError(f"too large once decompressed (over {MAX_FILE_BYTES / 2**20:.0f} MiB)")
    return inner


def load_blocks(path: Path, data: bytes) -> list[Block]:
    """Blocks of one file whose bytes are ``data``; raises :class:`LoadError` for a bad file.

    A ``.gz`` file is decompressed and read by the suffix before it (``notes.md.gz`` as Markdown).
    """
    if path.suffix.lower() == ".gz":
        return load_blocks(path.with_suffix(""), _gunzip(data))
    if not data.strip():
        raise LoadError("empty file")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        if not data.startswith(b"%PDF"):
            raise LoadError("not a PDF (no %PDF header)")
        return _pdf(data)
    blocks = TEXT_LOADERS.get(suffix, _plain)(decode(data))
    if not blocks:
        raise LoadError("no text found")
    return blocks
