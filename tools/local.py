"""What small models get besides the tools' schemas: pre-selection, few-shot examples, the span grammar.

Every model is given the tools through its own ``bind_tools`` (see
:class:`models.tool_binding.Tools`). For models that take Podium's constrained-decoding
options (``ModelSpec.constrained``: llama.cpp) the tools specialist adds:

1. **Pre-selection**, deterministic: tools whose trigger matches the message are the only
   choices (and the model must call one); when none matches, every allowed tool is offered.
   A message asking two things ('12*3 and the time in Tokyo') is cut into its requests, and
   the reply must hold one call per request.
2. **Few-shot examples** from the tools' own ``examples``.
3. For models under a billion parameters, the **span grammar** (:mod:`tools.grammar`):
   string arguments are spans copied from the message, numbers are numbers it holds, and a
   value that failed validation earlier in the turn is left out of the next grammar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tools import grammar
from tools.registry import Tool

Examples = list[tuple[str, list[dict[str, Any]]]]
"""(user message, calls) pairs, each call ``{"name": ..., "args": {...}}``."""


def preselect(message: str, tools: dict[str, Tool]) -> tuple[dict[str, Tool], bool]:
    """``(candidate tools, may answer directly)``: triggered tools only (an exclusive one alone), else all
    of them plus answering."""
    hits = {name: t for name, t in tools.items() if t.trigger is not None and t.trigger.search(message)}
    exclusive = {name: t for name, t in hits.items() if t.exclusive}
    return (exclusive or hits, False) if hits else (dict(tools), True)


@dataclass(frozen=True)
class Selection:
    """The tools offered for one message and how the model must use them."""

    tools: dict[str, Tool]
    """The candidates, in allow-list order."""
    choice: str
    """``tool_choice``: a tool's name (the rules are sure), ``any`` (some call), or ``auto``."""
    clauses: list[tuple[str, dict[str, Tool]]]
    """The message's separate requests when it asks several things (else empty)."""


def select_for(message: str, tools: dict[str, Tool]) -> Selection:
    """Pre-select the tools for ``message`` (see the module docstring)."""
    split = grammar.clauses(message, tools)
    if len(split) > 1:
        return Selection({n: t for _, hits in split for n, t in hits.items()}, "any", split)
    candidates, may_answer = preselect(message, tools)
    if may_answer:
        return Selection(candidates, "auto", [])
    return Selection(candidates, next(iter(candidates)) if len(candidates) == 1 else "any", [])


def examples(tools: dict[str, Tool], *, several: bool = False) -> Examples:
    """Few-shot exchanges from the tools' examples; ``several`` adds one whose reply holds two calls."""
    shots: Examples = [(message, [{"name": t.name, "args": args}])
                       for t in tools.values() for message, args in t.examples]
    pair = next((t for t in tools.values() if len(t.examples) >= 2), None)
    if several and pair:
        (first, a), (second, b) = pair.examples[:2]
        both = f"{first.rstrip('?.!')} and {second[0].lower()}{second[1:]}"
        shots.append((both, [{"name": pair.name, "args": a}, {"name": pair.name, "args": b}]))
    return shots


def culprits(records: list[dict[str, Any]], tools: dict[str, Tool]) -> dict[tuple[str, str], set[str]]:
    """``{(tool, argument): values}`` of this turn's calls whose string arguments failed validation."""
    found: dict[tuple[str, str], set[str]] = {}
    for r in records:
        tool = tools.get(r.get("name") or "")
        if tool is None or not isinstance(r.get("args"), dict):
            continue
        try:
            tool.validate(r["args"])
        except ValidationError as exc:
            loc = exc.errors()[0]["loc"]
            value = r["args"].get(str(loc[0])) if loc else None
            if isinstance(value, str):
                found.setdefault((tool.name, str(loc[0])), set()).add(value)
    return found


def bind_options(message: str, selection: Selection, *, copy_spans: bool,
                 excluded: dict[tuple[str, str], set[str]] | None = None) -> dict[str, Any]:
    """``bind_tools`` options for a constrained model: the examples, and the span grammar when ``copy_spans``."""
    options: dict[str, Any] = {"examples": examples(selection.tools, several=bool(selection.clauses))}
    if copy_spans:
        options["grammar"] = grammar.build(message, selection.tools, excluded=excluded,
                                           clauses=selection.clauses or None, single=selection.choice not in
                                           ("any", "auto"))
    return options


def options_for(message: str, selection: Selection, small: Callable[[Any], bool],
                excluded: dict[tuple[str, str], set[str]] | None = None) -> Callable[[Any], dict[str, Any]]:
    """The per-model hook of :class:`models.tool_binding.Tools`: Podium's options for models that take them."""
    def per_model(spec: Any) -> dict[str, Any]:
        if not spec.constrained:
            return {}
        return bind_options(message, selection, copy_spans=small(spec), excluded=excluded)
    return per_model
