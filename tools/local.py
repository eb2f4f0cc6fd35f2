"""Tool calling for models without native support: pre-selection, a grammar, validation, repairs.

1. **Pre-select** deterministically: tools whose trigger matches the message are the
   only choices; when none matches, every allowed tool plus "answer directly" is offered.
   A message asking two things ('12*3 and the time in Tokyo') is cut into its requests,
   and the reply must hold one call per request.
2. **Generate** a JSON list of calls under a grammar built from those tools and the
   message (:mod:`tools.grammar`), so arguments are copied spans of what the user wrote.
3. **Validate** with each tool's pydantic model; an invalid value goes back to the
   model as an error, and is removed from the next grammar, for a bounded number of
   repairs. Then :class:`PlanFailed` lets the caller escalate to a stronger model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import ValidationError

from tools import grammar
from tools.registry import Tool
from tools.runner import explain, new_call

Generate = Callable[[list[BaseMessage], str], str]
"""``(messages, grammar) -> text``: one constrained generation by the model."""

REPAIRS = 2
"""Retries after an invalid reply, each told what was wrong."""

SYSTEM = (
    "You call tools for the user. Reply only with a JSON list of tool calls. Copy each argument exactly "
    "from the user's message; never rewrite it.\nTools:\n{tools}"
)


class PlanFailed(Exception):
    """The model gave no valid call within the repairs; ``attempts`` holds its replies."""

    def __init__(self, message: str, attempts: list[str]) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass
class Plan:
    """The calls a model chose (empty when it chose to answer directly)."""

    calls: list[dict[str, Any]]
    attempts: list[str] = field(default_factory=list)
    """The raw replies, in order (more than one means repairs happened)."""

    @property
    def answer_directly(self) -> bool:
        """The model chose no tool."""
        return not self.calls


def preselect(message: str, tools: dict[str, Tool]) -> tuple[dict[str, Tool], bool]:
    """``(candidate tools, may answer directly)``: triggered tools only (an exclusive one alone), else all
    of them plus answering."""
    hits = {name: t for name, t in tools.items() if t.trigger is not None and t.trigger.search(message)}
    exclusive = {name: t for name, t in hits.items() if t.exclusive}
    return (exclusive or hits, False) if hits else (dict(tools), True)


def prompt(message: str, tools: dict[str, Tool], *, several: bool = False) -> list[BaseMessage]:
    """System prompt listing the tools, their examples as earlier exchanges, then the message.

    ``several`` adds an example whose reply holds two calls (the message asks two things).
    """
    # Names and one line per tool: every prompt token costs time on a CPU, and the examples show the arguments.
    lines = [f"- {t.name}({', '.join(t.schema()['properties'])}): {t.description}" for t in tools.values()]
    messages: list[BaseMessage] = [SystemMessage(SYSTEM.format(tools="\n".join(lines)))]
    for t in tools.values():
        for example, args in t.examples:
            messages += [HumanMessage(example), AIMessage(json.dumps([{"tool": t.name, "args": args}]))]
    pair = next((t for t in tools.values() if len(t.examples) >= 2), None)
    if several and pair:
        (first, a), (second, b) = pair.examples[:2]
        both = f"{first.rstrip('?.!')} and {second[0].lower()}{second[1:]}"
        calls = [{"tool": pair.name, "args": a}, {"tool": pair.name, "args": b}]
        messages += [HumanMessage(both), AIMessage(json.dumps(calls))]
    return [*messages, HumanMessage(message)]


class InvalidCall(ValueError):
    """A reply that names a tool but whose arguments do not validate; ``value`` is the culprit."""

    def __init__(self, message: str, tool: str = "", arg: str = "", value: Any = None) -> None:
        super().__init__(message)
        self.tool, self.arg, self.value = tool, arg, value


def parse(text: str, tools: dict[str, Tool]) -> list[dict[str, Any]]:
    """Calls from a reply; ``[]`` means answer directly. Raises :class:`InvalidCall`."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidCall(f"the reply is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidCall("the reply must be a JSON list of objects")
    calls, seen = [], set()
    for item in items:
        name = item.get("tool")
        if name == "none":
            return []
        if name not in tools:
            raise InvalidCall(f"unknown tool {name!r}; use one of {', '.join(tools)}")
        args = item.get("args", {})
        try:
            args = tools[name].validate(args)
        except ValidationError as exc:
            loc = exc.errors()[0]["loc"]
            arg = str(loc[0]) if loc else ""
            raise InvalidCall(f"{name}: {explain(exc)}", name, arg, (item.get("args") or {}).get(arg)) from None
        key = json.dumps([name, args], sort_keys=True, default=str)
        if key not in seen:  # a model repeating itself in one reply means one call
            seen.add(key)
            calls.append(new_call(name, args))
    return calls


def plan(message: str, tools: dict[str, Tool], generate: Generate, *, repairs: int = REPAIRS,
         copy_spans: bool = True) -> Plan:
    """Choose calls for ``message`` with a constrained model; raise :class:`PlanFailed`.

    ``copy_spans`` (for small models) restricts string arguments to spans of the message.
    """
    # Two requests in one message ('12*3 and the square root of 81'): one call each, values from its own words.
    split = grammar.clauses(message, tools)
    if len(split) > 1:
        candidates, may_answer = {n: t for _, hits in split for n, t in hits.items()}, False
    else:
        split, (candidates, may_answer) = [], preselect(message, tools)
    conversation = prompt(message, candidates, several=bool(split))
    excluded: dict[tuple[str, str], set[str]] = {}
    attempts: list[str] = []
    for _ in range(repairs + 1):
        rules = grammar.build(message, candidates, answer=may_answer, excluded=excluded, copy_spans=copy_spans,
                              clauses=split)
        text = generate(conversation, rules)
        attempts.append(text)
        try:
            return Plan(parse(text, candidates), attempts)
        except InvalidCall as exc:
            if exc.arg and isinstance(exc.value, str):
                excluded.setdefault((exc.tool, exc.arg), set()).add(exc.value)
            conversation = [*conversation, AIMessage(text),
                            HumanMessage(f"Error: {exc}. Reply again with corrected JSON.")]
    raise PlanFailed(f"no valid tool call after {len(attempts)} tries", attempts)
