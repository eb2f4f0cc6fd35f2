"""Step records: one small dataclass per node run, shared by the CLI, the Debug tab and the logs.

A :class:`StepRecord` says where a step sits in the thread's checkpoint history, what it
changed, which messages and tool calls it added, which model calls it made (matched in
the cost ledger by thread, node and time) and what went wrong. :class:`StepRecorder`
builds them live from a run's ``task``/``checkpoint`` events; ``graph.trace`` rebuilds
them afterwards from the checkpoints. Everything they show passes through :func:`redact`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import BaseMessage

from agents.planner import public
from models.ledger import Ledger

log = logging.getLogger("podium.steps")
REDACTED = "[redacted]"
SECRET_ENV = re.compile(r"(_KEY|_TOKEN)$|SECRET|PASSWORD", re.IGNORECASE)
"""Environment variables whose values are secrets (``OPENAI_API_KEY``, ``HF_TOKEN``, ``*SECRET*``)."""
SECRET_FIELD = re.compile(r"(api_?key|access_?token|auth_?token|^token|secret|password|authorization)$",
                          re.IGNORECASE)
"""Dict keys whose string values are secrets wherever they appear."""
SECRET_TEXT = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}|\bBearer\s+[A-Za-z0-9._\-]{12,}")
"""Secret-shaped text: OpenAI-style keys and bearer tokens."""
MIN_SECRET_LEN = 8
"""Shorter env values are not treated as secrets (redacting ``"1"`` everywhere would hide real data)."""
LEDGER_SLACK_S = 0.001
"""Tolerance when matching ledger rows to a step's time window (two reads of the same wall clock)."""


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of secret-looking environment variables, longest first (so overlaps redact fully)."""
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items() if SECRET_ENV.search(k) and len(v) >= MIN_SECRET_LEN}
    return sorted(found, key=len, reverse=True)


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """A copy of ``value`` (JSON-like data or text) with every secret replaced by ``[redacted]``."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return SECRET_TEXT.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(v, str) and v and SECRET_FIELD.search(str(k))
                else redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, secrets) for v in value]
    return value


def message_dict(message: BaseMessage) -> dict[str, Any]:
    """A message as a compact JSON-ready dict: type, content and whatever else it carries."""
    out: dict[str, Any] = {"type": message.type, "content": jsonable(message.content)}
    for key in ("name", "tool_calls", "tool_call_id", "usage_metadata", "id"):
        if getattr(message, key, None):
            out[key] = jsonable(getattr(message, key))
    model = (message.response_metadata or {}).get("model")
    if model:
        out["model"] = model
    return out


def jsonable(value: Any) -> Any:
    """Graph values (messages, pydantic models, dataclasses, tuples) as plain JSON data."""
    if isinstance(value, BaseMessage):
        return message_dict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    return str(value)


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC timestamp."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds") if ts else None


@dataclass
class StepRecord:
    """One node run (or a user input, a replay or an edit) in a thread's history."""

    thread: str
    """The thread it ran in."""
    node: str
    """The node that ran; ``__start__`` for a user's input, ``__replay__``/``__edit__`` for branch points."""
    checkpoint_id: str | None = None
    """Checkpoint saved after the step: the state it left (``podium debug state --checkpoint``)."""
    parent_checkpoint_id: str | None = None
    """Checkpoint it started from: replay or fork from here to run it again."""
    step: int | None = None
    """LangGraph's step number of ``checkpoint_id``."""
    started: float | None = None
    """Start time, epoch seconds."""
    duration_s: float | None = None
    """How long it ran."""
    delta: dict[str, Any] = field(default_factory=dict)
    """What it wrote to the state, per key (JSON-ready)."""
    messages_added: list[dict[str, Any]] = field(default_factory=list)
    """Messages it added to the conversation."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls it requested or ran."""
    model_calls: list[dict[str, Any]] = field(default_factory=list)
    """Its model calls from the ledger: model, tokens, cost, duration, outcome."""
    error: str | None = None
    """Why it failed, if it did."""
    interrupts: list[Any] = field(default_factory=list)
    """Interrupts it raised (pending approvals)."""
    plan: list[dict[str, Any]] = field(default_factory=list)
    """The plan steps it wrote (the conductor: the whole plan; ``plan_step``: its step), as users see them."""

    @property
    def tokens(self) -> tuple[int, int]:
        """Prompt and completion tokens over its model calls."""
        return (sum(c.get("prompt_tokens") or 0 for c in self.model_calls),
                sum(c.get("completion_tokens") or 0 for c in self.model_calls))

    @property
    def cost_usd(self) -> float | None:
        """What its model calls cost; ``None`` when one of them has no price (unknown, not free)."""
        costs = [c.get("cost_usd") for c in self.model_calls if c.get("outcome") != "running"]
        return None if None in costs else sum(c or 0.0 for c in costs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and redacted, with totals."""
        data = jsonable(dataclasses.asdict(self))
        prompt, completion = self.tokens
        data.update(started_at=iso(self.started), prompt_tokens=prompt, completion_tokens=completion,
                    cost_usd=None if self.cost_usd is None else round(self.cost_usd, 8))
        return redact(data)

    def line(self) -> str:
        """One redacted line for terminals and logs."""
        when = datetime.fromtimestamp(self.started).strftime("%H:%M:%S.%f")[:-3] if self.started else "-"
        took = f"{self.duration_s * 1000:.0f}ms" if self.duration_s is not None else "-"
        parts = [f"{when} {self.node:<12} {took:>7}"]
        if self.messages_added:
            parts.append(f"+{len(self.messages_added)} msg")
        changed = [k for k in self.delta if k != "messages"]
        if changed:
            parts.append("set " + ",".join(changed))
        if self.tool_calls:
            parts.append("tools " + ",".join(str(t.get("name", "?")) for t in self.tool_calls))
        if self.model_calls:
            prompt, completion = self.tokens
            models = ",".join(sorted({str(c.get("model")) for c in self.model_calls}))
            cost = "cost unknown" if self.cost_usd is None else f"${self.cost_usd:.6f}"
            parts.append(f"{models} {prompt}+{completion} tok {cost}")
        if self.interrupts:
            parts.append(f"interrupt x{len(self.interrupts)}")
        if len(parts) == 1 and not self.model_calls:
            parts.append("no change")
        if self.error:
            parts.append(f"ERROR {self.error}")
        parts.append(f"ckpt {self.checkpoint_id or '-'}")
        return redact(" · ".join(parts))


def fill(record: StepRecord, writes: dict[str, Any], before: dict[str, Any] | None = None) -> StepRecord:
    """Set a record's delta, added messages and tool calls from what its node wrote.

    Writes that leave a key as it was in ``before`` (the state the node saw) are not changes.
    """
    before = before or {}
    record.delta = jsonable({k: v for k, v in writes.items()
                             if k == "messages" or k not in before or before[k] != v})
    messages = [m for m in writes.get("messages") or [] if isinstance(m, BaseMessage)]
    record.messages_added = [message_dict(m) for m in messages]
    if writes.get("plan") is not None:
        steps = getattr(writes["plan"], "value", writes["plan"])  # the conductor writes LangGraph's Overwrite
        record.plan = jsonable(public(steps))
        record.delta["plan"] = record.plan  # without a waiting step's working turn
    calls = [dict(c) for c in writes.get("tool_calls") or [] if isinstance(c, dict)]
    ran = {c.get("id") for c in calls}
    for m in messages:  # calls a model requested that no tool has run (yet)
        calls += [{"name": c.get("name"), "args": c.get("args"), "id": c.get("id"), "requested": True}
                  for c in getattr(m, "tool_calls", None) or [] if c.get("id") not in ran]
    record.tool_calls = jsonable(calls)
    return record


def model_calls(ledger: Ledger | None, thread: str, node: str, start: float | None,
                end: float | None) -> list[dict[str, Any]]:
    """Ledger rows of ``node`` in ``thread`` that started between ``start`` and ``end`` (epoch s)."""
    if ledger is None or start is None or node.startswith("__"):
        return []
    stop = (end if end is not None else time.time()) + LEDGER_SLACK_S
    keep = ("id", "model", "provider", "prompt_tokens", "completion_tokens", "token_source", "ttft_s",
            "duration_s", "cost_usd", "outcome", "error_class", "error")
    rows = ledger.calls(thread=thread, since=start - LEDGER_SLACK_S)
    return [{k: getattr(c, k) for k in keep} for c in rows if c.node == node and c.ts <= stop]


class StepRecorder:
    """Turns a run's ``task`` and ``checkpoint`` events into :class:`StepRecord` s as they happen."""

    def __init__(self, ledger: Ledger | None = None, thread: str = "") -> None:
        self.ledger = ledger
        self.thread = thread
        self.records: list[StepRecord] = []
        """Every finished record, in order."""
        self.running: dict[str, tuple[StepRecord, float, dict[str, Any]]] = {}
        """Task id -> (record, perf-counter start, state it saw) of nodes running now."""
        self._waiting: list[StepRecord] = []
        self._checkpoint: str | None = None
        self._checkpoint_wall: float | None = None

    @property
    def running_nodes(self) -> list[str]:
        """Names of the nodes running now (the Debug tab highlights them)."""
        return [record.node for record, _, _ in self.running.values()]

    def feed(self, event: Any) -> list[StepRecord]:
        """Take one :class:`graph.app.Event`; return the records it completed."""
        data = event.data
        if event.kind == "checkpoint":
            cfg = data["config"]["configurable"]
            self.thread = self.thread or cfg.get("thread_id", "")
            done, self._waiting = self._waiting, []
            for record in done:
                record.checkpoint_id, record.step = cfg.get("checkpoint_id"), data["metadata"].get("step")
            self._checkpoint = cfg.get("checkpoint_id")
            self._checkpoint_wall = time.time() - (time.perf_counter() - event.t)
            self._log(done)
            return done
        if event.kind != "task":
            return []
        started = time.time() - (time.perf_counter() - event.t)  # the event's perf time as wall time
        if "input" in data:
            record = StepRecord(self.thread, data["name"], parent_checkpoint_id=self._checkpoint,
                                started=started)
            seen = data["input"] if isinstance(data["input"], dict) else {}
            self.running[data["id"]] = (record, event.t, seen)
            return []
        running = self.running.pop(data["id"], None)
        if running is None:
            return []
        record, t0, seen = running
        record.duration_s = event.t - t0
        fill(record, data.get("result") or {}, seen)
        record.error = str(data["error"]) if data.get("error") else None
        record.interrupts = jsonable(data.get("interrupts") or [])
        # The checkpoint before the step is saved before the node starts, so no call of it is earlier.
        since = min(record.started or started, self._checkpoint_wall or started)
        record.model_calls = model_calls(self.ledger, record.thread or self.thread, record.node, since,
                                         started)
        self._waiting.append(record)
        return []

    def close(self, error: BaseException | None = None) -> list[StepRecord]:
        """Flush records no checkpoint followed (the run failed or stopped); returns them."""
        left = list(self._waiting)
        for record, t0, _ in self.running.values():
            record.duration_s = time.perf_counter() - t0
            record.error = record.error or (f"{type(error).__name__}: {error}" if error else "did not finish")
            record.model_calls = model_calls(self.ledger, record.thread or self.thread, record.node,
                                             record.started, None)
            left.append(record)
        self._waiting, self.running = [], {}
        self._log(left)
        return left

    def _log(self, records: list[StepRecord]) -> None:
        """Keep finished records; the ``podium.steps`` logger gets each one (PODIUM_LOG_LEVEL=DEBUG)."""
        self.records += records
        for record in records:
            log.debug("step %s", record.line())
