"""The Debug tab's pure conversions: step and checkpoint records as table rows, pending approvals as text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ui.chat_view import approval_text

STEP_HEADERS = ["#", "node", "started", "ms", "changed", "msgs", "tools", "model", "tokens", "cost $",
                "checkpoint", "error"]
STEP_WIDTHS: list[str | int] = [
    "36px", "100px", "120px", "60px", "160px", "56px", "110px", "150px", "76px", "90px", "140px", "118px"]
"""What each header and value needs (percentages broke "tokens" and "error" mid-word at 1400 px; "auto"
lets a long "changed" list take the whole table); the table spans the page, long text wraps."""
CHECKPOINT_HEADERS = ["", "checkpoint", "step", "source", "written by", "next"]


SHORT_ID = 8
"""Fewest characters of a checkpoint id the step table shows."""


def short_ids(ids: Iterable[str], minimum: int = SHORT_ID) -> dict[str, str]:
    """Each id cut to the shortest prefix (at least ``minimum`` characters, whole ``-`` groups) that tells
    the ids apart.

    Checkpoint ids are time-ordered UUIDs: those of one turn share their first 8 characters,
    so a fixed cut would show the same text on every row.
    """
    ids = sorted({i for i in ids if i})
    longest = max(map(len, ids), default=0)
    length = minimum
    while length < longest and len({i[:length] for i in ids}) < len(ids):
        length += 1
    return {i: i[:length] + i[length:].split("-")[0] for i in ids}


def step_rows(steps: list[dict[str, Any]]) -> list[list[Any]]:
    """Step records (``StepRecord.to_dict()``) as table rows; checkpoint ids shortened (the detail has them whole)."""
    short = short_ids(s.get("checkpoint_id") or "" for s in steps)
    rows = []
    for i, s in enumerate(steps):
        models = sorted({str(c.get("model")) for c in s.get("model_calls", [])})
        took = s.get("duration_s")
        usd = s.get("cost_usd", 0)  # None: a remote model missing from the price table
        cost = "" if not models else "?" if usd is None else f"{usd:.6f}" if usd else "0"
        rows.append([i, s["node"], (s.get("started_at") or "")[11:23], round(took * 1000) if took is not None else "",
                     ", ".join(k for k in s.get("delta", {}) if k != "messages"), len(s.get("messages_added", [])),
                     ", ".join(str(t.get("name")) for t in s.get("tool_calls", [])), ", ".join(models),
                     f"{s.get('prompt_tokens', 0)}+{s.get('completion_tokens', 0)}" if models else "",
                     cost, short.get(s.get("checkpoint_id") or "", ""),
                     s.get("error") or ""])
    return rows


def checkpoint_table(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Checkpoint rows, newest first; ``>`` marks the head, ``*`` the rest of the current branch."""
    return [[">" if r["head"] else "*" if r["current_branch"] else "", r["checkpoint_id"], r["step"], r["source"],
             r["written_by"] or "", ", ".join(r["next"])] for r in reversed(rows)]


def new_debug_session() -> dict[str, Any]:
    """One browser session's debugger state (``pending``: tool calls waiting for approval)."""
    return {"thread_id": None, "steps": [], "paused": [], "pending": []}


def pending_text(pending: list[Any]) -> str:
    """What is waiting for approval, in one line: ``python`` with ``{"code": ...}``."""
    calls = []
    for payload in pending:
        title, args = approval_text(payload)
        name = title.split("`")[1] if title.count("`") >= 2 else "tool"
        calls.append(f"`{name}` with `{json.dumps(args, ensure_ascii=False)[:200]}`")
    return ", ".join(calls)
