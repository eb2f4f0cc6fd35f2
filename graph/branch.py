"""Branching a thread the way chat apps do: regenerate an answer, or edit a message and send it again.

Both are forks of the thread at the turn's input checkpoint (LangGraph keeps the old branch; the
thread's head moves to the new one): regenerating replays the turn from its input, editing first
writes the new message as that checkpoint's input. Like every turn they run as the thread's only
writer, and a failed or stopped run leaves the thread exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage

from graph import trace as T
from graph.checkpoint import latest_checkpoint_id, rollback
from podium.errors import NotFoundError, PodiumError

if TYPE_CHECKING:
    from langgraph.types import StateSnapshot

    from agents.contract import TurnOptions
    from graph.app import Event, PodiumApp


def asked(snapshot: StateSnapshot) -> list[Any]:
    """The user messages a turn's input (or edited-input) checkpoint starts with; none for a re-run's input."""
    if (snapshot.metadata or {}).get("source") not in ("input", "fork"):
        return []
    return [m for task in snapshot.tasks if task.name == "__start__"
            for m in (task.result or {}).get("messages") or [] if m.type == "human"]


def turn_inputs(app: PodiumApp, thread_id: str) -> list[StateSnapshot]:
    """The input checkpoint of every turn on the thread's current branch, oldest first.

    An edited message's checkpoint (a ``fork``) stands for the turn it replaced; a turn run again
    from its input (regenerate, replay) keeps its original input.
    """
    snapshots = T.history(app, thread_id)
    out: list[StateSnapshot] = []
    ran = True
    for snap in T.lineage(snapshots, snapshots[-1]):
        if asked(snap):
            if (snap.metadata or {}).get("source") == "fork" and out and not ran:
                out.pop()
            out.append(snap)
            ran = False
        elif (snap.metadata or {}).get("source") == "loop":
            ran = True
    return out


def last_input(app: PodiumApp, thread_id: str) -> str | None:
    """The input checkpoint of the thread's latest turn (walking back from its head: a few steps, not the history)."""
    snapshot: StateSnapshot | None = app.graph.get_state({"configurable": {"thread_id": thread_id}})
    while snapshot is not None and snapshot.config and not asked(snapshot):
        snapshot = app.graph.get_state(snapshot.parent_config) if snapshot.parent_config else None
    return T.cid(snapshot) if snapshot is not None and snapshot.metadata else None


def rerun(app: PodiumApp, thread_id: str, turn: int, text: str | None = None, *,
          options: TurnOptions | None = None, callbacks: list[Any] | None = None,
          multitask: str = "enqueue") -> Iterator[Event]:
    """Run turn ``turn`` (0-based; -1: the last) of the thread again as a new branch, with ``text`` as its
    message when given (an edit), else its own (a regenerated answer). Yields the run's events."""
    app.require_thread(thread_id)
    if text is not None and not text.strip():
        raise PodiumError("the edited message is empty", hint="type the new message, or cancel the edit")

    def run(extra: list[Any]) -> Iterator[Event]:
        inputs = turn_inputs(app, thread_id)
        if not -len(inputs) <= turn < len(inputs):
            raise NotFoundError("turn", str(turn), hint=f"thread {thread_id} has {len(inputs)} turns on this branch")
        start = inputs[turn]
        before = latest_checkpoint_id(app.checkpointer, thread_id)
        checkpoint = T.cid(start)
        try:
            if text is not None:  # the edited message becomes the input of a copy of the turn's start
                config = app.graph.update_state(start.config, {"messages": [HumanMessage(text.strip())]},
                                                as_node="__input__")
                checkpoint = config["configurable"]["checkpoint_id"]
            yield from app._resume(thread_id, checkpoint_id=checkpoint, callbacks=[*(callbacks or []), *extra],
                                   options=options)
        except BaseException:
            rollback(app.checkpointer, thread_id, before)  # the edit's checkpoint too: nothing half-written
            raise

    yield from app._locked(thread_id, multitask, None, run)


def delete_thread(app: PodiumApp, thread_id: str) -> None:
    """Delete a thread's checkpoints, every branch (its ledger rows stay: what was spent was spent)."""
    app.require_thread(thread_id)
    with app.locks.hold(thread_id, "reject"):
        app.checkpointer.delete_thread(thread_id)
        app.thread_index.forget(thread_id)
