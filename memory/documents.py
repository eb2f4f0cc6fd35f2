"""The documents of a collection: list them, read one's chunks, delete one, read them all again from their files.

Reading works through any knowledge base view; changes need the collection's owner (through a
:class:`memory.access.UserKnowledge`) or the operator, and take the writer lock like an ingest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memory.access import UserKnowledge
from memory.chroma import read_all
from memory.ingest import IngestReport, ingest
from memory.store import KnowledgeBase
from podium.errors import NotFoundError, PodiumError


def _owner(kb: KnowledgeBase, name: str) -> None:
    if isinstance(kb, UserKnowledge):
        kb.require_owner(name)


def document_list(kb: KnowledgeBase, name: str) -> list[dict[str, Any]]:
    """Every document of a collection: source, chunks, tokens, when it was added and the file it came from."""
    docs: dict[str, dict[str, Any]] = {}
    for row in read_all(kb.collection(name), ["metadatas"]):
        m = row["metadata"]
        doc = docs.setdefault(m["source"], {"source": m["source"], "chunks": 0, "tokens": 0,
                                            "added": m.get("added"), "path": m.get("path", "")})
        doc["chunks"] += 1
        doc["tokens"] += int(m.get("tokens", 0))
    return sorted(docs.values(), key=lambda d: d["source"])


def document_chunks(kb: KnowledgeBase, name: str, source: str) -> list[dict[str, Any]]:
    """The chunks of one document in order: number, heading, page, tokens and text."""
    found = kb.collection(name).get(where={"source": source}, include=["documents", "metadatas"])
    if not found["ids"]:
        raise NotFoundError("document", source, hint=f"see the documents of collection {name!r}")
    rows = [{"chunk": int(m.get("chunk", 0)), "heading": m.get("heading", ""), "page": m.get("page"),
             "tokens": int(m.get("tokens", 0)), "text": text, "id": id_}
            for id_, text, m in zip(found["ids"], found["documents"], found["metadatas"], strict=True)]
    return sorted(rows, key=lambda r: r["chunk"])


def delete_document(kb: KnowledgeBase, name: str, source: str) -> int:
    """Remove one document from a collection (owner only); returns how many chunks went."""
    _owner(kb, name)
    with kb.writing():
        col = kb.collection(name)
        documents = dict(kb.documents(col))
        if source not in documents:
            raise NotFoundError("document", source, hint=f"see the documents of collection {name!r}")
        kb.begin(col)
        kb.remove_document(col, source)
        gone = documents.pop(source).chunks
        kb.commit(col, documents)
    return gone


def reingest(kb: KnowledgeBase, name: str, sources: list[str] | None = None, *,
             progress: Any = None) -> IngestReport:
    """Read a collection's documents (or ``sources`` of them) again from the files they came from (owner only).

    Changed files replace their old version, unchanged ones are skipped, a file gone since is
    reported (its document stays). Documents ingested before files were recorded say so.
    """
    _owner(kb, name)
    docs = {d["source"]: d for d in document_list(kb, name)}
    wanted = sources or sorted(docs)
    unknown = [s for s in wanted if s not in docs]
    if unknown:
        raise NotFoundError("document", unknown[0], hint=f"see the documents of collection {name!r}")
    unrecorded = [s for s in wanted if not docs[s]["path"]]
    if unrecorded and len(unrecorded) == len(wanted):
        raise PodiumError(f"{unrecorded[0]} was ingested before Podium recorded where documents came from",
                          hint="ingest its file again (upload it, or `podium ingest PATH`)")
    named = [(s, Path(docs[s]["path"])) for s in wanted if docs[s]["path"]]
    return ingest(kb, [], name, named=named, progress=progress)
