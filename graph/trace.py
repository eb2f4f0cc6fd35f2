"""Time travel over a thread's checkpoints: trace, state at a checkpoint, replay and fork.

All of it reads LangGraph's own history (``get_state_history``) and writes only through
LangGraph (``update_state`` to fork, a run from a past ``checkpoint_id`` to replay), so a
branch never alters the checkpoints it started from.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from langgraph.errors import InvalidUpdateError
from langgraph.types import StateSnapshot
from pydantic import TypeAdapter, ValidationError

from agents.contract import State, TurnOptions
from graph.debug import StepRecord, fill, jsonable, model_calls, redact
from models.ledger import Ledger
from podium.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from graph.app import Event, PodiumApp

MAX_CHOICES = 8
"""How many valid checkpoint ids an error message lists."""
BRANCH_NODES = {"update": "__edit__", "fork": "__replay__"}
"""How checkpoints that no node wrote show up in a trace (a turn's input shows as its ``__start__`` step)."""


def cid(snapshot: StateSnapshot | None) -> str | None:
    """A snapshot's checkpoint id."""
    return snapshot.config["configurable"]["checkpoint_id"] if snapshot is not None else None


def parent_id(snapshot: StateSnapshot) -> str | None:
    """The id of the checkpoint a snapshot was made from."""
    return (snapshot.parent_config or {}).get("configurable", {}).get("checkpoint_id")


def metadata(snapshot: StateSnapshot) -> Mapping[str, Any]:
    """A checkpoint's metadata (empty when LangGraph has none for it)."""
    return snapshot.metadata or {}


def epoch(snapshot: StateSnapshot) -> float:
    """When a checkpoint was saved, epoch seconds."""
    return datetime.fromisoformat(snapshot.created_at).timestamp() if snapshot.created_at else 0.0


def require_thread(app: PodiumApp, thread_id: str) -> None:
    """Raise a one-line error listing the saved threads when ``thread_id`` is not one of them."""
    if app.thread_exists(thread_id):
        return
    ids = [t.thread_id for t in app.threads()]
    more = f" (+{len(ids) - MAX_CHOICES} older)" if len(ids) > MAX_CHOICES else ""
    raise NotFoundError("thread", thread_id, hint=f"choose from: {', '.join(ids[:MAX_CHOICES])}{more}"
                        if ids else "there are no threads yet; start one with `podium ask`")


def history(app: PodiumApp, thread_id: str) -> list[StateSnapshot]:
    """Every checkpoint of a thread, every branch, oldest first."""
    require_thread(app, thread_id)
    snapshots = list(app.graph.get_state_history({"configurable": {"thread_id": thread_id}}))
    return sorted(snapshots, key=lambda s: cid(s) or "")  # uuid6 ids sort by creation time


def find(snapshots: list[StateSnapshot], checkpoint_id: str | None, thread_id: str = "") -> StateSnapshot:
    """The checkpoint with this id (or unique id prefix); the newest one for ``None``."""
    if not checkpoint_id:
        return snapshots[-1]
    matches = [s for s in snapshots if (cid(s) or "").startswith(checkpoint_id)]
    if len(matches) == 1:
        return matches[0]
    newest = [cid(s) or "" for s in reversed(snapshots)][:MAX_CHOICES]
    more = f" (+{len(snapshots) - len(newest)} older)" if len(snapshots) > len(newest) else ""
    choices = f"choose from: {', '.join(newest)}{more}"
    if matches:
        raise ConfigError(f"checkpoint prefix {checkpoint_id!r} matches {len(matches)} checkpoints",
                          setting="checkpoint", hint=f"give more of the id; {choices}")
    raise NotFoundError("checkpoint", checkpoint_id,
                        hint=f"thread {thread_id!r} has no such checkpoint; {choices}")


def lineage(snapshots: list[StateSnapshot], head: StateSnapshot) -> list[StateSnapshot]:
    """The branch that leads to ``head``, root first."""
    by_id = {cid(s): s for s in snapshots}
    path: list[StateSnapshot] = []
    node: StateSnapshot | None = head
    while node is not None:
        path.append(node)
        node = by_id.get(parent_id(node))
    return path[::-1]


def other_branch(app: PodiumApp, thread_id: str) -> str | None:
    """A note when the thread's current branch leaves out another one, else ``None``.

    A debug replay or fork makes the newest checkpoint, so the thread continues from it: turns of
    the branch it left (newer ones included) are no longer in ``history`` or the next turn's context.
    """
    snapshots = history(app, thread_id)
    head = snapshots[-1]
    current = {cid(s) for s in lineage(snapshots, head)}
    left = [s for s in snapshots if cid(s) not in current]
    if not left:
        return None
    tip = max(left, key=lambda s: (_turns(s), cid(s) or ""))
    return (f"thread {thread_id} continues the branch of a debug replay or fork ({_turns(head)} turns); another "
            f"branch with {_turns(tip)} turns is not part of it: see it with `podium debug trace {thread_id} "
            f"--checkpoint {cid(tip)}`")


def _turns(snapshot: StateSnapshot) -> int:
    return sum(getattr(m, "type", "") == "human" for m in (snapshot.values or {}).get("messages", []))


def writer(snapshots: list[StateSnapshot], snapshot: StateSnapshot | None,
           by_id: dict[str | None, StateSnapshot] | None = None) -> str | None:
    """The node whose write produced a checkpoint (what ``update_state`` must act as to fork it)."""
    by_id = by_id if by_id is not None else {cid(s): s for s in snapshots}
    while snapshot is not None:
        source = snapshot.metadata.get("source") if snapshot.metadata else None
        parent = by_id.get(parent_id(snapshot))
        if source == "input":
            return "__input__"
        if source == "loop":
            names = {t.name for t in parent.tasks} if parent is not None else set()
            return names.pop() if len(names) == 1 else None
        snapshot = parent  # an edit or a replay copy acts as whatever wrote its parent
    return None


def trace(app: PodiumApp, thread_id: str, checkpoint_id: str | None = None) -> list[StepRecord]:
    """Step records of the branch ending at ``checkpoint_id`` (default: the thread's current head)."""
    snapshots = history(app, thread_id)
    head = find(snapshots, checkpoint_id, thread_id)  # default: the newest, the thread's current head
    by_id = {cid(s): s for s in snapshots}
    previous = {cid(b): epoch(a) for a, b in zip(snapshots, snapshots[1:], strict=False)}
    records: list[StepRecord] = []
    for child in lineage(snapshots, head):
        parent = by_id.get(parent_id(child))
        if parent is None:
            continue
        # A step runs from its parent checkpoint, or from the start of its run when that is later
        # (a resume after a breakpoint or an approval, a replay of an old checkpoint), to its own.
        run_started = metadata(child).get("podium_run_started")
        if isinstance(run_started, (int, float)):
            start = max(epoch(parent), float(run_started))
        else:  # checkpoints written before runs were stamped: the checkpoint saved just before, in time
            start = previous.get(cid(child), epoch(parent))
        end = epoch(child)
        if metadata(child).get("source", "loop") != "loop":
            start = end  # an input, an edit or a replay copy happens at once, when it is saved
        records += _records(app.ledger, thread_id, parent, child, start, end)
    records += _unfinished(app.ledger, thread_id, head)
    return records


def _records(ledger: Ledger, thread_id: str, parent: StateSnapshot, child: StateSnapshot,
             start: float, end: float) -> list[StepRecord]:
    source = metadata(child).get("source", "loop")
    base: dict[str, Any] = {"checkpoint_id": cid(child), "parent_checkpoint_id": cid(parent),
                            "step": metadata(child).get("step"), "started": start, "duration_s": max(end - start, 0.0)}
    if source != "loop":  # a new input, an edit or a replay copy: show what differs from the parent
        if source == "input":
            return []  # the input is shown by the __start__ step that applies it
        record = StepRecord(thread_id, BRANCH_NODES.get(source, source), **{**base, "duration_s": None})
        return [fill(record, diff(parent.values, child.values))]
    out = []
    for task in parent.tasks:
        record = fill(StepRecord(thread_id, task.name, **base), task.result or {}, parent.values)
        record.error = str(task.error) if task.error else None
        record.interrupts = jsonable([i.value for i in task.interrupts])
        record.model_calls = model_calls(ledger, thread_id, task.name, start, end)
        out.append(record)
    return out


def _unfinished(ledger: Ledger, thread_id: str, head: StateSnapshot) -> list[StepRecord]:
    """Tasks of the head checkpoint that failed or raised an interrupt (no checkpoint follows them)."""
    out = []
    for task in head.tasks:
        if task.error or task.interrupts:
            record = StepRecord(thread_id, task.name, parent_checkpoint_id=cid(head), started=epoch(head),
                                error=str(task.error) if task.error else None,
                                interrupts=jsonable([i.value for i in task.interrupts]))
            record.model_calls = model_calls(ledger, thread_id, task.name, epoch(head), None)
            out.append(record)
    return out


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two states; for ``messages`` only the new or replaced messages."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        if key == "messages":
            old = {getattr(m, "id", None): m for m in before.get("messages", [])}
            new = [m for m in value if getattr(m, "id", None) not in old or old[m.id] != m]
            if new:
                out[key] = new
        elif before.get(key) != value:
            out[key] = value
    return out


def state_at(app: PodiumApp, thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    """The full state at a checkpoint (default: the newest), JSON-ready and redacted."""
    snapshots = history(app, thread_id)
    snap = find(snapshots, checkpoint_id, thread_id)
    meta = snap.metadata or {}
    return redact({
        "thread_id": thread_id,
        "checkpoint_id": cid(snap),
        "parent_checkpoint_id": parent_id(snap),
        "step": meta.get("step"),
        "source": meta.get("source"),
        "created_at": snap.created_at,
        "next": list(snap.next),
        "values": jsonable(snap.values),
        "tasks": [{"node": t.name, "error": str(t.error) if t.error else None,
                   "interrupts": jsonable([i.value for i in t.interrupts])} for t in snap.tasks],
    })


def checkpoint_rows(app: PodiumApp, thread_id: str) -> list[dict[str, Any]]:
    """Every checkpoint as a table row: id, parent, step, source, written by, next, on the current branch."""
    snapshots = history(app, thread_id)
    head = cid(snapshots[-1])
    current = {cid(s) for s in lineage(snapshots, snapshots[-1])}
    by_id = {cid(s): s for s in snapshots}
    return [{"checkpoint_id": cid(s), "parent_checkpoint_id": parent_id(s), "step": metadata(s).get("step"),
             "source": metadata(s).get("source"), "created_at": s.created_at,
             "written_by": writer(snapshots, s, by_id), "next": list(s.next), "current_branch": cid(s) in current,
             "head": cid(s) == head} for s in snapshots]


def replay(app: PodiumApp, thread_id: str, checkpoint_id: str, *, break_before: list[str] | None = None,
           options: TurnOptions | None = None, callbacks: list[Any] | None = None) -> Iterator[Event]:
    """Re-run the thread from a past checkpoint as a new branch; yields the run's events (traced)."""
    snapshots = history(app, thread_id)
    snap = find(snapshots, checkpoint_id, thread_id)
    if not snap.next:
        runnable = [cid(s) or "" for s in reversed(snapshots) if s.next][:MAX_CHOICES]
        raise ConfigError(f"checkpoint {cid(snap)} ends its turn, so there is nothing to replay from it",
                          setting="checkpoint", hint=f"replay from one with work left: {', '.join(runnable)}")
    # Only the breakpoints asked for now: the ones saved with the original run do not apply to a replay.
    yield from app.resume(thread_id, checkpoint_id=cid(snap), break_before=list(break_before or []), trace=True,
                          options=options, callbacks=callbacks)


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``key=JSON`` pairs as state values, each checked against the :class:`State` schema."""
    hints = typing.get_type_hints(State, include_extras=True)
    keys = ", ".join(hints)
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"--set {pair!r} is not key=JSON", setting="set",
                              hint=f"e.g. --set route='\"chat\"'; keys: {keys}")
        if key not in hints:
            raise ConfigError(f"--set: the state has no key {key!r}", setting="set",
                              hint=f"choose from: {keys}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--set {key}: value is not JSON ({exc.msg})", setting="set",
                              hint='quote strings as JSON, e.g. route=\'"chat"\'') from exc
        hint = hints[key]
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
        try:
            values[key] = TypeAdapter(base).validate_python(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"--set {key}: {first['msg']}{' at ' + where if where else ''}", setting="set",
                              hint=f"{key} must be {_describe(base)}") from exc
    return values


def _describe(tp: Any) -> str:
    if "Message" in str(tp):
        return 'a JSON list of messages, e.g. [{"type": "human", "content": "hi"}]'
    if tp is str:
        return 'a JSON string, e.g. "chat"'
    if typing.get_origin(tp) is list:
        return "a JSON list of " + ("strings" if typing.get_args(tp)[0] is str else "objects")
    return str(tp)


def fork(app: PodiumApp, thread_id: str, checkpoint_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """A new branch from a past checkpoint with ``values`` written into its state.

    The edit is applied as if the node that wrote the checkpoint had written it too, so
    routing after it follows the edited state; the original checkpoints stay untouched.
    Returns the new checkpoint's summary (id, parent, next nodes).
    """
    if not values:
        raise ConfigError("fork needs at least one --set key=JSON", setting="set",
                          hint=f"keys: {', '.join(typing.get_type_hints(State))}")
    snapshots = history(app, thread_id)
    snap = find(snapshots, checkpoint_id, thread_id)
    try:
        config = app.graph.update_state(snap.config, values, as_node=writer(snapshots, snap))
    except (ValueError, InvalidUpdateError) as exc:  # a router refused the edited state: nothing was written
        raise ConfigError(f"the graph refuses this edit: {exc}", setting="set",
                          hint="set values the graph's routers accept (see `podium debug graph`)") from exc
    new = app.graph.get_state(config)
    return {"thread_id": thread_id, "checkpoint_id": cid(new), "parent_checkpoint_id": cid(snap),
            "next": list(new.next), "set": sorted(values)}
