"""Pure conversions from turn events and records to Gradio chat messages and table rows.

Nothing here imports Gradio: a chat message is the plain dict ``gr.Chatbot`` accepts
(``{"role", "content", "metadata"}``), where ``metadata`` (title, status, duration, log)
turns a message into a collapsible "agent work" entry. So every rule is
unit-tested without a server, and the Gradio wiring stays thin.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ui.fold import TurnFold
from ui.render import footer, plan_line
from ui.sources_view import passages_block, sources_block

NODE_TITLES: dict[str, str] = {
    "conductor": "⚙ Conductor",
    "chat": "✎ Chat specialist",
    "knowledge": "☰ Knowledge specialist",
    "tools": "⚒ Tools specialist",
    "approval": "⚠ Approval",
    "plan_step": "☷ Plan step",
    "plan": "☷ Plan join",
    "plan_approval": "⚠ Plan step approval",
}
"""How each graph node is named in the chat; unknown nodes show their own name."""


def node_title(node: str) -> str:
    """Display title of a graph node."""
    return NODE_TITLES.get(node, f"⚙ {node}")


def user_message(text: str) -> dict[str, Any]:
    """The user's message as the chat shows it."""
    return {"role": "user", "content": text}


def work_message(title: str, content: str = "", *, status: str | None = "done", duration: float | None = None,
                 log: str = "") -> dict[str, Any]:
    """A collapsible assistant message describing agent work (a step, a tool call, a notice).

    Gradio shows ``pending`` with a spinner and opens it, folds ``done``, and opens a message
    without a status (no spinner).
    """
    meta: dict[str, Any] = {"title": title}
    if status:
        meta["status"] = status
    if duration is not None:
        meta["duration"] = round(max(duration, 0.0), 3)
    if log:
        meta["log"] = log
    return {"role": "assistant", "content": content, "metadata": meta}


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_call_message(call: dict[str, Any]) -> dict[str, Any]:
    """One tool call ``{name, args, result, error, approved}`` as a collapsible message.

    A finished call stays open (its arguments and result are the point); a call with neither
    result nor error is waiting for the user's approval (a spinner).
    """
    lines = [f"**args** `{_short(call.get('args', {}), 300)}`"]
    if call.get("error"):
        lines.append(f"**error** {_short(call['error'])}")
    elif call.get("result") is not None:
        lines.append(f"**result** {_short(call['result'])}")
    waiting = call.get("result") is None and not call.get("error") and call.get("approved") is None
    approved = call.get("approved")
    log = {True: "approved", False: "rejected"}.get(approved, "") if approved is not None else ""
    log = log or ("error" if call.get("error") else "awaiting approval" if waiting else "")
    return work_message(f"⚒ {call.get('name', 'tool')}", "\n\n".join(lines), log=log,
                        status="pending" if waiting else None)


def call_key(call: dict[str, Any]) -> str:
    """Identifies one tool call across events (its id, else its name and arguments)."""
    return str(call.get("id") or f"{call.get('name')}:{json.dumps(call.get('args'), sort_keys=True, default=str)}")


WAITING_TITLE = "⚠ Waiting for your approval"
"""Title of the work message that shows a pending approval (open, without a spinner: nothing runs)."""


def settle(chat: list[dict[str, Any]], log: str) -> list[dict[str, Any]]:
    """The chat with every still-open wait closed (a decision was taken, a turn ended)."""
    out = []
    for message in chat:
        meta = message.get("metadata") or {}
        if meta.get("status") == "pending" or meta.get("title") == WAITING_TITLE and meta.get("status") != "done":
            message = {**message, "metadata": {**meta, "status": "done", "log": log}}
        out.append(message)
    return out


_TEXT_SOURCES = re.compile(r"\n+Sources:\n(?:\[\d+\][^\n]*(?:\n|$))+\s*$")


def close_fences(text: str) -> str:
    """Close a code block an answer left open (cut at max tokens), so what follows is not swallowed by it."""
    return text + "\n```" if len(re.findall(r"^\s*```", text, flags=re.M)) % 2 else text


def strip_text_sources(answer: str) -> str:
    """The answer without a plain-text "Sources:" list at its end (the UI renders its own)."""
    return _TEXT_SOURCES.sub("", answer)


def step_summary(node: str, update: dict[str, Any]) -> str:
    """What a finished node did, in one or two lines, from its state update."""
    parts = []
    if update.get("route"):
        why = f" ({update['route_reason']})" if update.get("route_reason") else ""
        parts.append(f"routed to **{update['route']}**{why}")
    if update.get("sources"):
        parts.append(f"retrieved {len(update['sources'])} passages")
    if update.get("tool_calls"):
        parts.append("called " + ", ".join(c.get("name", "?") for c in update["tool_calls"]))
    plan = update.get("plan")
    steps = getattr(plan, "value", plan) or []  # the conductor writes LangGraph's Overwrite
    if node != "conductor" and steps:
        parts.append("; ".join(f"step {s['step']} ({s['specialist']}) {s['status']}" for s in steps))
    answers = [m for m in update.get("messages") or []
               if getattr(m, "type", "") == "ai" and not getattr(m, "tool_calls", None)]
    if answers:  # a tool-calling message is not an answer; its calls are listed on their own
        model = (getattr(answers[-1], "response_metadata", None) or {}).get("model", "")
        tokens = (getattr(answers[-1], "usage_metadata", None) or {}).get("output_tokens")
        parts.append("answered" + (f" with {model}" if model else "") + (f" ({tokens} tokens)" if tokens else ""))
    return "; ".join(parts) or "done"


PLAN_TITLE = "☷ Plan"
"""Title of the work message that lists a plan's steps and their statuses."""


def plan_message(plan: list[dict[str, Any]], live: dict[int, str] | None = None) -> dict[str, Any]:
    """A plan as one work message: a line per step, each with its status mark and output so far.

    It spins while a step runs, stays open without a spinner while one waits for approval, and
    folds once every step is done, failed or skipped.
    """
    body = "\n".join(f"- {plan_line(s, (live or {}).get(s['step'], ''))}" for s in plan)
    statuses = {s.get("status") for s in plan}
    status = "pending" if statuses & {"pending", "running"} else None if "waiting" in statuses else "done"
    done = sum(s.get("status") == "done" for s in plan)
    return work_message(PLAN_TITLE, body, status=status, log=f"{done}/{len(plan)} steps done")


@dataclass
class TurnView:
    """Builds one turn's chat messages as its events arrive.

    Agent work appears as collapsible messages in the order it happens (a spinner while a
    node runs, its duration once it is done); the answer streams into the last message,
    which gets the numbered sources and the usage footer when the turn ends.
    """

    started: float
    """Perf-counter time the turn was sent (durations are measured from it)."""
    fold: TurnFold = field(default_factory=TurnFold)
    """The run's events, folded as every front end folds them (answer, notices, approvals, result)."""
    work: list[dict[str, Any]] = field(default_factory=list)
    """Work messages in display order."""
    answer: str = ""
    """The answer shown: the fold's while it streams, the final one (without plain-text sources) once done."""
    tail: str = ""
    """Sources and footer appended under the answer when the turn ends."""
    error: str = ""
    """A friendly error or stop notice, when the turn did not finish."""
    _open: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    _last_end: float = 0.0
    _tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    _plan: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._last_end = self.started

    @property
    def pending(self) -> list[Any]:
        """Interrupt payloads waiting for the user (tool approvals)."""
        return self.fold.pending

    @property
    def result(self) -> Any:
        """The ``TurnResult`` once the turn is done."""
        return self.fold.result

    def _step(self, node: str) -> dict[str, Any]:
        """The open (spinning) work message of a running node, created on its first event."""
        if node not in self._open:
            message = work_message(node_title(node), "working…", status="pending")
            self.work.append(message)
            self._open[node] = (message, self._last_end)
        return self._open[node][0]

    def apply(self, event: Any) -> None:
        """Fold one :class:`graph.app.Event` into the view."""
        self.fold.apply(event)
        kind, node, data, t = event.kind, event.node, event.data, event.t
        if kind in ("token", "retract"):  # a retraction: a failed attempt's text; the retry streams again
            if kind == "token":
                self._step(node)
            self.answer = self.fold.answer
        elif kind == "route":
            self._step(node or "conductor")["content"] = f"routing to **{data.get('route')}**"
        elif kind == "notice":
            self.work.append(work_message("ℹ Notice", data.get("text", "")))
        elif kind == "step":
            self._finish(node, data.get("update") or {}, t)
        elif kind == "interrupt":
            for payload in self.pending:
                text, args = approval_text(payload)
                body = f"{text}\n\n```json\n{json.dumps(args, indent=1, ensure_ascii=False)}\n```"
                self.work.append(work_message(WAITING_TITLE, body, status=None))
        elif kind == "tool":  # a tool call finished (or was decided) just now
            self._step(node or "tools")  # the call shows after the step that made it
            self._tool(data)
        elif kind in ("plan", "step_token", "step_retract"):  # one message, updated in place as steps progress
            self._show_plan()
        elif kind == "done":
            self._done(data["result"])
        else:  # another specialist's custom event: shown on its node's step
            step = self._step(node or kind)
            step["metadata"]["log"] = kind
            step["content"] = _short({k: v for k, v in data.items() if k not in ("kind", "node")})

    def _show_plan(self) -> None:
        if not self.fold.plan:
            return
        message = plan_message(self.fold.plan, self.fold.step_text)
        if self._plan is None:
            self._plan = message
            self.work.append(message)
        else:
            self._plan.clear()
            self._plan.update(message)

    def resumed(self, t: float) -> None:
        """The run went on at ``t`` after a pause (an approval): the next step is timed from there."""
        self._last_end = max(self._last_end, t)

    def _finish(self, node: str, update: dict[str, Any], t: float) -> None:
        message, began = self._open.pop(node, (None, self._last_end))
        if message is None:
            message = work_message(node_title(node))
            self.work.append(message)
        message["content"] = step_summary(node, update)
        if update.get("sources"):  # what was retrieved, each passage openable (not just "retrieved 4 passages")
            message["content"] += "\n\n" + passages_block(update["sources"])
        message["metadata"].update(status="done", duration=round(max(t - began, 0.0), 3))
        self._last_end = t
        for call in update.get("tool_calls") or []:
            self._tool(call)

    def _tool(self, call: dict[str, Any]) -> None:
        """Show a tool call once, updating its message in place as it progresses."""
        message = tool_call_message(call)
        known = self._tools.get(call_key(call))
        if known is None:
            self._tools[call_key(call)] = message
            self.work.append(message)
            return
        known.clear()
        known.update(message)

    def _done(self, result: Any) -> None:
        for call in result.tool_calls:
            self._tool(call)
        self.answer = self.fold.final
        if self.pending and not self.answer:
            self.answer = "_Paused: approve, edit or reject the tool call below to continue._"
        if result.sources:
            self.answer = strip_text_sources(self.answer)
        parts = [sources_block(result.sources), f"<sub>{footer(result.model, result.usage)}</sub>"]
        self.tail = "\n\n".join(p for p in parts if p)

    def fail(self, message: str, hint: str = "", *, stopped: bool = False) -> None:
        """End the turn with a friendly error (or a stop notice); open steps are closed."""
        for step, _began in self._open.values():
            step["metadata"]["status"] = "done"
            step["metadata"]["log"] = "stopped" if stopped else "failed"
        self._open.clear()
        head = "■ **Stopped.**" if stopped else f"⚠ **{message}**"
        self.error = head + (f"\n\n_{hint}_" if hint else "")

    def messages(self) -> list[dict[str, Any]]:
        """The turn's messages, ready to append to the chat history."""
        out = list(self.work)
        body = "\n\n".join(p for p in (close_fences(self.answer.strip()), self.tail, self.error) if p)
        if body:
            out.append({"role": "assistant", "content": body})
        return out


def approval_text(payload: Any) -> tuple[str, dict[str, Any]]:
    """A pending approval interrupt as (Markdown description, editable arguments)."""
    data: dict[str, Any] = payload if isinstance(payload, dict) else {"question": str(payload)}
    call: dict[str, Any] = data["tool_call"] if isinstance(data.get("tool_call"), dict) else data
    name = call.get("name") or call.get("tool") or "tool"
    args: dict[str, Any] = call["args"] if isinstance(call.get("args"), dict) else {}
    why = data.get("question") or data.get("message") or data.get("reason") or ""
    what = data.get("description") or ""
    text = f"**Approve tool call `{name}`?**" + "".join(f"\n\n{p}" for p in (why, what) if p)
    return text, args


DECISION_TITLES = {"approve": "✓ Approved", "edit": "✎ Edited and approved", "reject": "✗ Rejected"}
"""How each approval decision is titled in the chat."""


def decision_message(title: str, decision: dict[str, Any]) -> dict[str, Any]:
    """The user's approval decision as it appears in the chat."""
    action = decision.get("action", "?")
    heading = DECISION_TITLES.get(action, f"• {action}")
    body = title.replace("**", "").removeprefix("Approve ").split("\n")[0].rstrip("?")
    extra = f" with `{_short(decision['args'], 200)}`" if "args" in decision else ""
    return work_message(heading, f"{body}{extra}")


def thread_choices(threads: list[Any], titles: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Saved threads (``ThreadInfo``) as ``(label, thread_id)`` choices, newest first, counted in turns
    (the message count also has tool calls and results, which the user never typed); a title the user
    gave a thread replaces its first message."""
    out = []
    for t in threads:
        title = (titles or {}).get(t.thread_id) or t.title or "(empty)"
        label = f"{title} · {t.turns} turn{'s' * (t.turns != 1)} · {t.updated[:16].replace('T', ' ')}"
        out.append((label, t.thread_id))
    return out
