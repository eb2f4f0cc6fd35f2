"""Long threads stay small: compressed checkpoint blobs and a retention policy for old steps.

LangGraph's savers store the whole state, every message, at every step, so a thread's
checkpoints grow with the square of its length. Two things keep them in bounds:

- :class:`StoreSerializer`, LangGraph's serializer with zlib-compressed blobs (a blob saved
  before compression has no ``+zlib`` in its type and is read as it was), which also keeps the
  last checkpoints it wrote or read deserialized, so a turn does not decode the whole thread again;
- :func:`plan_prune`: every checkpoint of the last ``keep_turns`` turns stays, and before them
  only what a user can reach: each turn's input (regenerate, edit, replay the turn), each turn's
  end (the boundary), edits and forks, branch points and the tips of branches. A kept checkpoint
  whose parent goes is re-parented to its nearest kept ancestor, so lineages stay whole.

The savers prune a thread in the same transaction as the write of each turn's input checkpoint
(:func:`graph.checkpoint.open_checkpointer`); ``podium threads compact`` prunes existing databases.
"""

from __future__ import annotations

import threading
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ormsgpack
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import copy_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

try:  # LangGraph's own encoder parts, so blobs are byte for byte what its serializer writes
    from langgraph.checkpoint.serde.jsonplus import _msgpack_default
    from langgraph.checkpoint.serde.jsonplus import _option as _OPTION
except ImportError:  # another LangGraph: encode every message each time, as LangGraph does
    _msgpack_default = None  # type: ignore[assignment]
    _OPTION = 0

LEVEL = 1
"""zlib level: state blobs are repetitive msgpack, level 1 already shrinks them several times, at little CPU."""
SUFFIX = "+zlib"
"""What compressed blobs add to their type (``msgpack+zlib``); a blob without it is read as it was saved."""
SMALL = 256
"""Blobs shorter than this stay as they are (compression would not pay)."""
RECENT = 8
"""Deserialized checkpoints kept in memory, keyed by their stored bytes."""
ENCODED = 20_000
"""Encoded messages kept in memory (all threads of the process) before the cache starts over."""
BRANCH_SOURCES = ("input", "update", "fork")
"""Checkpoint sources kept at any age: a turn's input, a debugger's or an edit's write, a fork."""


class _Recent:
    """The last few checkpoints written or read, by their exact stored bytes (so never a stale one)."""

    def __init__(self) -> None:
        self.items: OrderedDict[bytes, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: bytes) -> Any:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: bytes, checkpoint: Any) -> None:
        with self.lock:
            self.items[key] = checkpoint
            while len(self.items) > RECENT:
                self.items.popitem(last=False)


def _is_checkpoint(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("channel_values"), dict) and "versions_seen" in obj


class _Encoded:
    """Each message's msgpack extension, by object: a step's checkpoint re-encodes only its new messages."""

    def __init__(self) -> None:
        self.items: dict[int, tuple[Any, Any]] = {}

    def default(self, obj: Any) -> Any:
        if not isinstance(obj, BaseMessage) or obj.id is None:  # LangGraph gives a message its id in place
            return _msgpack_default(obj)
        found = self.items.get(id(obj))
        if found is None:  # holding the message keeps its id from being reused while it is here
            if len(self.items) >= ENCODED:
                self.items.clear()
            found = self.items[id(obj)] = (obj, _msgpack_default(obj))
        return found[1]


class StoreSerializer(JsonPlusSerializer):
    """LangGraph's serializer with zlib-compressed blobs, the last checkpoints kept deserialized and
    messages encoded once.

    Every step saves the whole state, and a turn reads its thread's newest checkpoint several times
    (LangGraph's loop, ``get_state``): encoding and decoding every message of a long thread were
    the costs that grew with its length. A checkpoint whose stored bytes equal one this process
    just wrote or read comes back from memory, as a fresh copy of its dicts (LangGraph updates
    versions in place), and a message already encoded by this process is not encoded again (once
    it has an id, a message in the state is never changed in place: a change is a new message).
    """

    def __init__(self) -> None:
        super().__init__()
        self.recent = _Recent()
        self.encoded = _Encoded()

    def _encode(self, obj: Any) -> tuple[str, bytes]:
        if _msgpack_default is None or obj is None or isinstance(obj, (bytes, bytearray)):
            return super().dumps_typed(obj)
        try:
            return "msgpack", ormsgpack.packb(obj, default=self.encoded.default, option=_OPTION)
        except ormsgpack.MsgpackEncodeError:
            return super().dumps_typed(obj)  # LangGraph's own handling (its pickle fallback, its error)

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize, then compress what is worth it; remember checkpoints by their bytes."""
        typ, data = self._encode(obj)
        if typ in ("null", "bytes", "bytearray") or len(data) < SMALL:
            return typ, data
        packed = zlib.compress(data, LEVEL)
        if _is_checkpoint(obj):
            self.recent.put(packed, copy_checkpoint(obj))
        return typ + SUFFIX, packed

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Decompress and deserialize (blobs saved before compression as they are)."""
        typ, blob = data
        if not typ.endswith(SUFFIX):
            return super().loads_typed(data)
        found = self.recent.get(blob)
        if found is None:
            found = super().loads_typed((typ[: -len(SUFFIX)], zlib.decompress(blob)))
            if not _is_checkpoint(found):
                return found
            self.recent.put(blob, copy_checkpoint(found))
        return copy_checkpoint(found)


@dataclass
class Prune:
    """What pruning one thread removes and which kept checkpoints get a new parent."""

    delete: list[str] = field(default_factory=list)
    """Checkpoint ids to delete (with their pending writes)."""
    reparent: dict[str, str | None] = field(default_factory=dict)
    """Kept checkpoint id -> its nearest kept ancestor (``None``: it becomes a root)."""
    cutoff: str = ""
    """The input checkpoint the kept window starts at: everything older is pruned already."""


def plan_prune(rows: Iterable[tuple[str, str | None, str | None]], keep_turns: int) -> Prune:
    """Which of a thread's checkpoints go, from ``(checkpoint_id, parent_id, source)`` rows.

    Kept: every checkpoint from the input of the ``keep_turns``-th newest turn on (any branch),
    and before it each turn's input and end, edits and forks, branch points and branch tips.
    ``keep_turns <= 0`` keeps everything. ``rows`` may leave out checkpoints older than the last
    cutoff (pruned already): their children are all newer, and a walk up stops at them.
    """
    rows = list(rows)
    inputs = sorted(cid for cid, _, source in rows if source == "input")
    if keep_turns <= 0 or len(inputs) <= keep_turns:
        return Prune()
    cutoff = inputs[-keep_turns]
    parent = {cid: p for cid, p, _ in rows}
    children = Counter(p for _, p, _ in rows if p is not None)
    ends = {parent[cid] for cid in inputs if parent.get(cid)}
    keep = {cid for cid, _, source in rows
            if cid >= cutoff or source in BRANCH_SOURCES or cid in ends or children[cid] != 1}
    out = Prune(delete=sorted(set(parent) - keep), cutoff=cutoff)
    for cid in keep:
        up = parent.get(cid)
        if up is None or up in keep or up not in parent:
            continue
        while up is not None and up in parent and up not in keep:
            up = parent.get(up)
        out.reparent[cid] = up
    return out


SQLITE_ROWS = ("SELECT checkpoint_id, parent_checkpoint_id, json_extract(CAST(metadata AS TEXT), '$.source') "
               "FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id >= ?")
POSTGRES_ROWS = ("SELECT checkpoint_id, parent_checkpoint_id, metadata->>'source' AS source "
                 "FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = '' AND checkpoint_id >= %s")
CHUNK = 500
"""Ids per ``IN (...)`` list (SQLite's default limit on variables is well above it)."""


def prune_sqlite(cur: Any, thread_id: str, keep_turns: int, since: str = "") -> Prune:
    """Prune one thread with a SQLite cursor (inside the caller's transaction), looking at checkpoints from
    ``since`` on (the last cutoff: a turn reads a window's worth of rows, not the thread's)."""
    plan = plan_prune(cur.execute(SQLITE_ROWS, (thread_id, since)).fetchall(), keep_turns)
    for i in range(0, len(plan.delete), CHUNK):
        ids = plan.delete[i:i + CHUNK]
        marks = ", ".join("?" * len(ids))
        for table in ("checkpoints", "writes"):
            cur.execute(f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = '' "
                        f"AND checkpoint_id IN ({marks})", (thread_id, *ids))
    cur.executemany("UPDATE checkpoints SET parent_checkpoint_id = ? WHERE thread_id = ? AND checkpoint_ns = '' "
                    "AND checkpoint_id = ?", [(p, thread_id, cid) for cid, p in plan.reparent.items()])
    return plan


def prune_postgres(cur: Any, thread_id: str, keep_turns: int, since: str = "") -> Prune:
    """Prune one thread with a psycopg cursor (LangGraph's tables: blobs no checkpoint uses go too)."""
    cur.execute(POSTGRES_ROWS, (thread_id, since))
    plan = plan_prune([(r["checkpoint_id"], r["parent_checkpoint_id"], r["source"]) for r in cur.fetchall()],
                      keep_turns)
    if not plan.delete and not plan.reparent:
        return plan
    for table in ("checkpoints", "checkpoint_writes"):
        cur.execute(f"DELETE FROM {table} WHERE thread_id = %s AND checkpoint_ns = '' "
                    "AND checkpoint_id = ANY(%s)", (thread_id, plan.delete))
    for cid, up in plan.reparent.items():
        cur.execute("UPDATE checkpoints SET parent_checkpoint_id = %s WHERE thread_id = %s AND checkpoint_ns = '' "
                    "AND checkpoint_id = %s", (up, thread_id, cid))
    # A blob is one channel value at one version, shared by the checkpoints at that version.
    cur.execute("DELETE FROM checkpoint_blobs b WHERE b.thread_id = %s AND b.checkpoint_ns = '' AND NOT EXISTS "
                "(SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = '' "
                "AND c.checkpoint->'channel_versions'->>b.channel = b.version)", (thread_id,))
    return plan
