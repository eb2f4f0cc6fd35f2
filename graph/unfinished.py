"""Turns that did not end: waiting for an approval, paused at a breakpoint, or interrupted by a dead process.

A turn whose process is killed mid-stream (SIGKILL, a crash, a power cut) leaves its thread
at a checkpoint with a next node, like a breakpoint nobody set. :func:`unfinished` tells the
three apart, so a new message is refused with the way out that fits: answer the approval,
resume the breakpoint, or resume or :func:`discard` the interrupted turn. The ledger rows of a
call cut off that way are closed as ``interrupted`` (see :meth:`models.ledger.Ledger.interrupt`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graph.checkpoint import latest_checkpoint_id, rollback
from graph.locks import check_strategy
from podium.errors import PodiumError

PodiumApp = Any
"""The :class:`graph.app.PodiumApp` these functions serve (its graph, checkpointer, locks and ledger); named
loosely because graph.app imports this module."""

INTERRUPTED_POLICIES = ("discard", "refuse", "resume")
"""What the next writer does with a turn whose process died: roll it back (with a notice; the API's way),
leave it for the user to resume or discard (the CLI's), or continue it (``podium resume``)."""


@dataclass
class Unfinished:
    """A thread's last turn that did not end."""

    kind: str
    """``approval`` (a tool call waits), ``paused`` (a breakpoint or a debugger edit) or ``interrupted``
    (the process running it died: a kill, a crash, a power cut)."""
    nodes: list[str]
    """The nodes it stopped before (or was running, when interrupted)."""
    question: str
    """The message that started it."""
    calls: str = ""
    """The tool calls waiting for approval."""

    def error(self, thread_id: str) -> PodiumError:
        """Why a new message cannot go on this thread yet, and the ways out."""
        discard = f"podium resume {thread_id} --discard"
        if self.kind == "approval":
            return PodiumError(f"thread {thread_id!r} is waiting for your approval of {self.calls}",
                               hint=f"answer it first: podium resume {thread_id} --approve | --reject | --edit JSON")
        if self.kind == "interrupted":
            return PodiumError(f"the last turn of thread {thread_id!r} was interrupted during "
                               f"{', '.join(self.nodes)} (its process ended mid-turn)",
                               hint=f"resume it with `podium resume {thread_id}`, or discard it with `{discard}`")
        return PodiumError(f"thread {thread_id!r} is paused before {', '.join(self.nodes)}",
                           hint=f"finish that turn first with `podium resume {thread_id}` (or `{discard}`)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def waiting_names(interrupts: Any) -> str:
    """The tool names of pending approval interrupts, for messages."""
    return ", ".join(str(i.value.get("name", "?")) if isinstance(i.value, dict) else "?" for i in interrupts)


def saved_turn(app: PodiumApp, snapshot: Any) -> dict[str, Any]:
    """The turn's metadata saved with its checkpoints (options, ``turn_id``, ``break_before``)."""
    # An edited (forked) checkpoint has no run metadata of its own: take its nearest ancestor's.
    while snapshot is not None and "podium_turn" not in (snapshot.metadata or {}):
        snapshot = app.graph.get_state(snapshot.parent_config) if snapshot.parent_config else None
    return json.loads(snapshot.metadata["podium_turn"]) if snapshot is not None else {}


def unfinished(app: PodiumApp, thread_id: str) -> Unfinished | None:
    """How the thread's last turn stands when it did not end; ``None`` when it ended."""
    snapshot = app.graph.get_state({"configurable": {"thread_id": thread_id}})
    if not snapshot.next:
        return None
    question = next((m.text for m in reversed(snapshot.values.get("messages", [])) if m.type == "human"), "")
    if snapshot.interrupts:
        return Unfinished("approval", list(snapshot.next), question, waiting_names(snapshot.interrupts))
    breaks = set(saved_turn(app, snapshot).get("break_before") or [])
    edited = (snapshot.metadata or {}).get("source") == "update"
    kind = "paused" if edited or breaks & set(snapshot.next) else "interrupted"
    return Unfinished(kind, list(snapshot.next), question)


def close_interrupted_calls(app: PodiumApp, thread_id: str) -> None:
    """Close the ledger rows a dead turn left ``running`` (its process cannot finish them)."""
    snapshot = app.graph.get_state({"configurable": {"thread_id": thread_id}})
    app.ledger.interrupt(turn=saved_turn(app, snapshot).get("turn_id"))


def discard(app: PodiumApp, thread_id: str, *, multitask: str = "enqueue") -> Unfinished:
    """Remove the thread's unfinished last turn (interrupted, paused or waiting for approval): its question
    and everything it wrote; returns what was discarded."""
    app.require_thread(thread_id)
    with app.locks.hold(thread_id, check_strategy(multitask)):
        app.locks.begin(thread_id, latest_checkpoint_id(app.checkpointer, thread_id))
        try:
            state = unfinished(app, thread_id)
            if state is None:
                raise PodiumError(f"thread {thread_id!r} has no unfinished turn to discard",
                                  hint="its last turn ended; continue it with `podium ask --thread`")
            close_interrupted_calls(app, thread_id)
            snapshot = app.graph.get_state({"configurable": {"thread_id": thread_id}})
            rollback(app.checkpointer, thread_id, turn_start(app, snapshot))
            return state
        finally:
            app.locks.end(thread_id)


def turn_start(app: PodiumApp, snapshot: Any) -> str | None:
    """The checkpoint just before the turn that produced ``snapshot`` began (``None``: it began the thread).

    Raises when other checkpoints (a debugger branch) are newer than that: removing the turn would take them too.
    """
    walked = set()
    while snapshot is not None and (snapshot.metadata or {}).get("source") != "input":
        walked.add(snapshot.config["configurable"]["checkpoint_id"])
        snapshot = app.graph.get_state(snapshot.parent_config) if snapshot.parent_config else None
    if snapshot is None:
        raise PodiumError("cannot tell where the unfinished turn began",
                          hint="pick a checkpoint with `podium debug checkpoints`, then `podium debug replay`")
    walked.add(snapshot.config["configurable"]["checkpoint_id"])
    start = snapshot.parent_config["configurable"]["checkpoint_id"] if snapshot.parent_config else None
    thread_id = snapshot.config["configurable"]["thread_id"]
    newer = {c.config["configurable"]["checkpoint_id"] for c in app.checkpointer.list(
        {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})}
    if start is not None:
        newer = {c for c in newer if c > start}
    if newer - walked:
        raise PodiumError(f"thread {thread_id!r} has debugger branches newer than its unfinished turn",
                          hint="discarding would remove them too; resume the turn, or start a new thread")
    return start
