"""Which version of each document a collection holds.

Read from Chroma, that is a scan of every chunk's metadata that also repairs
interrupted writes; so after each ingest the answer is saved beside the data, and
trusted only while the collection's version is still the one it was saved at
(every write changes the version first, so a writer that died leaves it stale).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory.chroma import read_all


@dataclass(frozen=True)
class DocRecord:
    """The stored version of one source."""

    source: str
    doc_hash: str
    chunks: int


def scan(col: Any) -> tuple[dict[str, DocRecord], list[str]]:
    """Every source's complete version, and the ids of leftovers to delete.

    A version is complete when all its ``chunks`` are present; an interrupted add leaves
    an incomplete one, and an interrupted replace leaves two complete ones (the newer wins).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in read_all(col, ["metadatas"]):
        m = row["metadata"]
        groups.setdefault((m["source"], m["doc_hash"]), []).append({"id": row["id"], **m})
    best: dict[str, tuple[float, DocRecord, list[str]]] = {}
    stale: list[str] = []
    for (source, doc_hash), rows in groups.items():
        ids = [r["id"] for r in rows]
        if len(rows) != rows[0]["chunks"]:
            stale += ids
            continue
        added = float(rows[0].get("added", 0))
        if source in best and best[source][0] >= added:
            stale += ids
            continue
        if source in best:
            stale += best[source][2]
        best[source] = (added, DocRecord(source, doc_hash, len(rows)), ids)
    return {source: record for source, (_, record, _) in best.items()}, stale


def load(path: Path, version: str) -> dict[str, DocRecord] | None:
    """The saved records if they were saved at ``version``, else ``None``."""
    try:
        data = json.loads(path.read_text())
        if data["version"] != version:
            return None
        return {s: DocRecord(s, h, int(n)) for s, (h, n) in data["documents"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(path: Path, version: str, documents: dict[str, DocRecord]) -> None:
    """Write the records atomically, stamped with the collection version they describe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps({"version": version,
                               "documents": {s: [r.doc_hash, r.chunks] for s, r in sorted(documents.items())}}))
    tmp.replace(path)
