"""Running tool calls: validation, parallel execution, time limits, the loop guard, and records.

Whatever a model asks for, :func:`run_calls` returns one record per call in call order
(``{id, name, args, result, error, approved}``): unknown names, wrong types, tools that
raise and tools that hang all end as an ``error`` text, never as an exception.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tools.registry import Tool, ToolError, format_args
from tools.sandbox import Limits, Sandbox


@dataclass
class ToolEnv:
    """What tools may reach, built once by the entry point from the settings."""

    workspace: Path
    """The only folder read_file and list_files may see."""
    sandbox: Sandbox = field(default_factory=Sandbox)
    """Where the python tool runs code."""
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The clock (tests pin it)."""
    knowledge: Any = None
    """The knowledge base knowledge_search reads (``memory.store.KnowledgeBase``), if any."""

    @classmethod
    def from_settings(cls, settings: Any, limits: Limits | None = None, knowledge: Any = None) -> ToolEnv:
        """The environment for a process's settings (the sandbox's limits from ``PODIUM_SANDBOX_*``)."""
        return cls(workspace=settings.workspace_dir, sandbox=Sandbox.from_settings(settings, limits),
                   knowledge=knowledge)


def new_call(name: str, args: dict[str, Any], call_id: str | None = None) -> dict[str, Any]:
    """A tool call in LangChain's shape (what ``AIMessage.tool_calls`` holds)."""
    return {"name": name, "args": args, "id": call_id or f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}


def record(call: Mapping[str, Any], *, result: str | None = None, error: str | None = None,
           approved: bool | None = None) -> dict[str, Any]:
    """One entry of the turn's ``tool_calls``."""
    return {"id": call["id"], "name": call["name"], "args": call.get("args", {}), "result": result,
            "error": error, "approved": approved}


REFUSED = ("unknown tool ", "arguments must be a JSON object", "invalid arguments: ", "arguments are not valid JSON")
"""How the errors of calls refused before running begin (the model can fix those)."""


def invalid(item: dict[str, Any]) -> bool:
    """Whether a record's call was refused before running: an unknown tool or arguments that do not validate."""
    return bool(item.get("error")) and str(item["error"]).startswith(REFUSED)


def explain(exc: ValidationError) -> str:
    """Pydantic errors as one line a model can act on."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        parts.append(f"{where}: {err['msg']}")
    return "invalid arguments: " + "; ".join(parts)


def check(call: Mapping[str, Any], tools: dict[str, Tool]) -> tuple[Tool | None, dict[str, Any], str | None]:
    """Resolve and validate a call: ``(tool, validated args, None)`` or ``(tool?, raw args, error)``."""
    found = tools.get(call.get("name", ""))
    if found is None:
        return None, call.get("args") or {}, f"unknown tool {call.get('name')!r}; available: {', '.join(tools)}"
    args = call.get("args")
    if not isinstance(args, dict):
        return found, {}, "arguments must be a JSON object"
    try:
        return found, found.validate(args), None
    except ValidationError as exc:
        return found, args, explain(exc)


def run_calls(calls: Sequence[Mapping[str, Any]], tools: dict[str, Tool], env: ToolEnv, *,
              seen: set[str] | None = None, approved: bool | None = None) -> list[dict[str, Any]]:
    """Run independent calls in parallel and return their records in call order.

    ``seen`` holds ``name + args`` keys already run this turn: a repeated identical call
    is not run again (the loop guard) and is reported as such.
    """
    seen = seen if seen is not None else set()
    records: list[dict[str, Any]] = [{} for _ in calls]
    jobs: list[tuple[int, dict[str, Any], _Job]] = []
    for index, call in enumerate(calls):
        found, args, error = check(call, tools)
        call = {**call, "name": found.name if found else call.get("name", ""), "args": args}
        key = f"{call['name']}:{format_args(args)}"
        if error is None and key in seen:
            error = "repeated identical call; not run again (loop guard). Use the earlier result or answer."
        if error is not None or found is None:
            records[index] = record(call, error=error, approved=approved)
            continue
        seen.add(key)
        jobs.append((index, call, _Job(found, args, env)))
    for _, _, job in jobs:
        job.start()
    for index, call, job in jobs:
        result, error = job.wait()
        records[index] = record(call, result=result, error=error, approved=approved)
    return records


class _Job:
    """One tool call on a daemon thread, so a hung tool is abandoned instead of blocking the turn."""

    def __init__(self, tool: Tool, args: dict[str, Any], env: ToolEnv) -> None:
        self.tool, self.args, self.env = tool, args, env
        self.done = threading.Event()
        self.result: str | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"tool-{tool.name}", daemon=True)

    def start(self) -> None:
        """Begin running the call."""
        self.thread.start()

    def _run(self) -> None:
        try:
            kwargs = {**self.args, **({"env": self.env} if self.tool.uses_env else {})}
            self.result = str(self.tool.func(**kwargs))
        except ToolError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a crashing tool is reported, never propagated
            self.error = f"the tool failed: {type(exc).__name__}: {exc}"
        finally:
            self.done.set()

    def wait(self) -> tuple[str | None, str | None]:
        """The result or error, or a time-out error once the tool's limit has passed."""
        if not self.done.wait(self.tool.timeout_s):
            return None, f"timed out after {self.tool.timeout_s:g} s; the call was abandoned"
        return self.result, self.error
