"""A saved thread as the live chat showed it, rebuilt from its checkpoints; and its exports (Markdown, JSON).

Every step a turn took is in the thread's checkpoint history (what each node wrote, when), and
every model call in the ledger under the turn's id. :func:`thread_turns` reads them back into
the same :class:`graph.app.Event` records a live turn streams, and :func:`chat_messages` folds
them through the same :class:`ui.chat_view.TurnView`, so a reopened thread shows its steps, tool
arguments and results, sources and footers exactly as they were shown live.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from graph import trace as T
from graph.app import Event, TurnResult
from graph.branch import asked
from models.ledger import summarize
from ui.chat_view import TurnView, decision_message, user_message
from ui.render import footer
from ui.sources_view import source_label


@dataclass
class TurnRecord:
    """One turn of a thread's current branch, as it ran."""

    input_id: str
    """Its input checkpoint: regenerate and edit fork the thread there."""
    user: str
    """What the user sent."""
    started: float
    """When it was sent (epoch seconds)."""
    events: list[Event] = field(default_factory=list)
    """Its steps, then ``interrupt`` (still waiting for an approval) and ``done``, as a live turn streams them."""
    result: TurnResult | None = None
    """Its outcome (answer, sources, tool calls, usage)."""
    before: list[dict[str, Any]] = field(default_factory=list)
    """Messages written into the thread without a turn just before it (earlier history, an interrupted turn)."""


def _text(message: Any) -> str:
    return message.text if isinstance(message.text, str) else str(message.content)


def _plain(messages: list[Any]) -> list[dict[str, Any]]:
    """Messages written without a turn, as plain chat bubbles."""
    roles = {"human": "user", "ai": "assistant"}
    return [{"role": roles[m.type], "content": _text(m)} for m in messages if m.type in roles and _text(m)]


def _turn_meta(snapshot: Any) -> dict[str, Any]:
    raw = (snapshot.metadata or {}).get("podium_turn")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def _result(podium: Any, thread_id: str, end: Any, route: list[str], head: bool) -> TurnResult:
    """A finished (or waiting) turn's result, read back from its last checkpoint and the ledger."""
    values = end.values
    messages = values.get("messages") or []
    last = messages[-1] if messages else None
    turn_id = _turn_meta(end).get("turn_id")
    calls = podium.ledger.calls(turn=turn_id) if turn_id else []
    model = next((c.model for c in reversed(calls) if c.outcome == "ok"), calls[-1].model if calls else "")
    waiting = [i.value for i in end.interrupts] if head else []
    return TurnResult(thread_id=thread_id, answer=_text(last) if last is not None and last.type == "ai" else "",
                      route=route, model=model, usage=summarize(calls), sources=list(values.get("sources") or []),
                      tool_calls=list(values.get("tool_calls") or []), notices=list(values.get("notices") or []),
                      paused_before=list(end.next) if head else [], pending=waiting,
                      artifacts=list(values.get("artifacts") or []))


def thread_turns(podium: Any, thread_id: str) -> list[TurnRecord]:
    """The turns of the thread's current branch, oldest first, each with the events it streamed."""
    snapshots = T.history(podium, thread_id)
    path = T.lineage(snapshots, snapshots[-1])
    turns: list[TurnRecord] = []
    loose: list[dict[str, Any]] = []
    route: list[str] = []

    def close(end: Any) -> None:
        if turns and turns[-1].result is None:
            turn, head = turns[-1], end is path[-1]
            turn.result = _result(podium, thread_id, end, route, head)
            if turn.result.pending:
                turn.events.append(Event("interrupt", data={"interrupts": turn.result.pending}, t=T.epoch(end)))
            turn.events.append(Event("done", data={"result": turn.result}, t=T.epoch(end)))

    previous = None
    for snap in path:
        source = (snap.metadata or {}).get("source")
        if source in ("input", "fork"):  # a fork: a message edited and sent again from that turn
            written = [m for task in snap.tasks if task.name == "__start__"
                       for m in (task.result or {}).get("messages") or []]
            if not asked(snap):  # a turn run again from its input (regenerate, replay): no message of its own
                previous = snap
                continue
            if source == "fork" and turns and turns[-1].result is None and not turns[-1].events:
                turns.pop()  # the edited message replaces the one it was forked from
            if previous is not None:
                close(previous)
            loose += _plain(written[:-1])  # earlier history sent with the first message
            turns.append(TurnRecord(T.cid(snap) or "", _text(asked(snap)[-1]), T.epoch(snap),
                                    before=loose))
            loose, route = [], []
        elif source == "loop" and previous is not None and turns and turns[-1].result is None:
            ran = float(T.metadata(snap).get("podium_run_started") or 0)
            for task in previous.tasks:
                if task.name.startswith("__") or task.result is None:
                    continue
                route.append(task.name)
                turns[-1].events.append(Event("step", task.name, {"update": task.result, "run_started": ran},
                                              t=T.epoch(snap)))
        elif source == "update" and previous is not None:  # written without a turn (an interrupted turn kept)
            close(previous)
            loose += _plain(T.diff(previous.values, snap.values).get("messages") or [])
        previous = snap
    if previous is not None:
        close(previous)
    if loose:
        turns.append(TurnRecord("", "", T.epoch(path[-1]), result=None, before=loose))
    return turns


def _view(turn: TurnRecord) -> TurnView:
    """A turn folded exactly as the live chat folds it."""
    view = TurnView(started=turn.started)
    for event in turn.events:
        if event.kind == "step":
            view.resumed(float(event.data.get("run_started") or 0))
        view.apply(event)
        if event.kind == "step" and event.node == "approval":
            for call in event.data["update"].get("tool_calls") or []:
                if call.get("approved") is not None:
                    action = "reject" if call["approved"] is False else "approve"
                    view.work.append(decision_message(f"Approve tool call `{call.get('name')}`?",
                                                      {"action": action}))
    return view


def chat_messages(turns: list[TurnRecord]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The chat as the live view showed it, and the input checkpoint of each user message (by chat index)."""
    chat: list[dict[str, Any]] = []
    inputs: dict[str, str] = {}
    for turn in turns:
        chat += turn.before
        if not turn.input_id:
            continue
        inputs[str(len(chat))] = turn.input_id
        chat.append(user_message(turn.user))
        chat += _view(turn).messages()
    return chat, inputs


def _tool_lines(calls: list[dict[str, Any]]) -> list[str]:
    lines = []
    for call in calls:
        outcome = call.get("error") or call.get("result")
        lines.append(f"- tool `{call.get('name')}` with `{json.dumps(call.get('args'), ensure_ascii=False)}` → "
                     f"{'rejected' if call.get('approved') is False else outcome}")
    return lines


def export_markdown(turns: list[TurnRecord], title: str, thread_id: str) -> str:
    """The thread as a Markdown document: each question, its answer, tool calls, sources and footer."""
    parts = [f"# {title}", f"_Podium thread `{thread_id}`_"]
    for turn in turns:
        for message in turn.before:
            parts.append(f"**{'You' if message['role'] == 'user' else 'Podium'}:** {message['content']}")
        if not turn.input_id or turn.result is None:
            continue
        result = turn.result
        parts.append(f"## {turn.user}")
        body = [*_tool_lines(result.tool_calls), "", result.answer or "_(waiting for approval)_"]
        if result.sources:
            cited = [s for s in result.sources if s.get("cited")] or result.sources
            body += ["", "Sources:", *(f"[{s.get('n', i)}] {source_label(s)}" for i, s in enumerate(cited, 1))]
        body += ["", f"<sub>{footer(result.model, result.usage)}</sub>"]
        parts.append("\n".join(body).strip())
    return "\n\n".join(parts) + "\n"


def export_json(turns: list[TurnRecord], title: str, thread_id: str) -> dict[str, Any]:
    """The thread as one JSON object: every turn with the fields ``podium ask --json`` prints."""
    out = []
    for turn in turns:
        item: dict[str, Any] = {"earlier": turn.before} if turn.before else {}
        if turn.result is not None:
            item.update(question=turn.user, **turn.result.to_dict())
        out.append(item)
    return {"thread_id": thread_id, "title": title, "turns": out}
