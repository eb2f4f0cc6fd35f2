"""Tools: typed, documented functions, selected by each specialist's explicit allow-list, and a safe runner.

Importing the package defines the built-in tools (each checked when it is defined).
"""

from __future__ import annotations

from collections.abc import Iterable

from tools import calculator, clock, dates, files, knowledge, python_exec, units  # noqa: F401 - defining registers them
from tools.registry import REGISTRY, Tool, ToolDefinitionError, ToolError, tool
from tools.runner import ToolEnv, run_calls


def select(names: Iterable[str]) -> dict[str, Tool]:
    """The named tools, by name, in the order given (a specialist's allow-list, see ``agents/*.py``).

    An unknown name is a developer's mistake and raises :class:`ToolDefinitionError`.
    """
    names = tuple(names)
    missing = [n for n in names if n not in REGISTRY]
    if missing:
        raise ToolDefinitionError(f"no tool named {', '.join(map(repr, missing))}; defined: {', '.join(REGISTRY)}")
    return {name: REGISTRY[name] for name in names}


__all__ = ["REGISTRY", "Tool", "ToolDefinitionError", "ToolEnv", "ToolError", "run_calls", "select", "tool"]
