"""Tools: typed, documented functions, an explicit allow-list per specialist, and a safe runner.

Importing the package defines the built-in tools (each checked when it is defined).
"""

from __future__ import annotations

from tools import calculator, clock, dates, files, knowledge, python_exec, units  # noqa: F401 - defining registers them
from tools.registry import REGISTRY, Tool, ToolDefinitionError, ToolError, tool
from tools.runner import ToolEnv, run_calls

ALLOWED: dict[str, tuple[str, ...]] = {
    "tools": ("calculator", "convert_units", "current_time", "date_calc", "read_file", "list_files", "python",
              "knowledge_search"),
    "chat": (),
}
"""Which specialist may call which tool. Explicit: a new tool reaches no agent until listed here."""


def tools_for(specialist: str) -> dict[str, Tool]:
    """The allow-listed tools of a specialist, by name, in allow-list order."""
    return {name: REGISTRY[name] for name in ALLOWED.get(specialist, ())}


__all__ = ["ALLOWED", "REGISTRY", "Tool", "ToolDefinitionError", "ToolEnv", "ToolError", "run_calls", "tool",
           "tools_for"]
