"""Human approval and final answers for tool calls: the interrupt payload, decisions, and answer templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from tools.registry import Tool
from tools.runner import explain


def approval_request(call: Mapping[str, Any], allowed: dict[str, Tool]) -> dict[str, Any]:
    """The interrupt payload shown to the user for one call."""
    tool = allowed.get(call["name"])
    return {"type": "tool_approval", "id": call["id"], "name": call["name"], "args": call["args"],
            "question": f"Run {call['name']} with these arguments?",
            "description": tool.description if tool else ""}


def parse_decision(value: Any) -> tuple[str, dict[str, Any] | None]:
    """``(action, edited args)`` from a resume value: 'approve', 'reject', or ``{"action", "args"}``."""
    if isinstance(value, dict):
        action = str(value.get("action") or value.get("decision") or "").lower()
        if action == "edit":
            if not isinstance(value.get("args"), dict):
                raise ValueError("an edit needs 'args' as a JSON object")
            return "edit", value["args"]
        value = action
    if value is True or str(value).lower() in ("approve", "approved", "yes", "y"):
        return "approve", None
    if value is False or str(value).lower() in ("reject", "rejected", "no", "n"):
        return "reject", None
    raise ValueError(f"unrecognized decision {value!r}; use approve, reject or edit with args")


def check_decision(request: dict[str, Any], decision: Any, allowed: dict[str, Tool]) -> dict[str, Any]:
    """The resume value for one approval request, validated (edited arguments against the tool's schema).

    Raises ``ValueError`` with a message for the user; the approval node never sees a bad decision.
    """
    action, args = parse_decision(decision)
    tool = allowed.get(str(request.get("name")))
    if action == "edit" and tool is not None:
        try:
            tool.validate(args)
        except ValidationError as exc:
            raise ValueError(f"edited arguments for {tool.name}: {explain(exc)}") from None
    return {"action": action, **({"args": args} if args is not None else {})}


def compose(records: list[dict[str, Any]], allowed: dict[str, Tool]) -> str:
    """The final answer from this turn's results, one line (or block) per call."""
    lines = []
    for r in records:
        tool = allowed.get(r["name"])
        if r.get("approved") is False:
            lines.append(f"You rejected the {r['name']} call, so it was not run.")
        elif r.get("error"):
            lines.append(f"{r['name']} could not do that: {r['error']}")
        elif tool and tool.answer:
            lines.append(tool.answer(r["args"], r["result"]))
        else:
            lines.append(f"{r['name']}: {r['result']}")
    return "\n".join(lines)
