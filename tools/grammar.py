"""GBNF grammars, built per turn from the allowed tools and the user's own message.

A schema alone does not make a 135M model right: asked for '1234 * 5678' it writes
``1234**5678``. So every string argument is restricted to spans *copied from the
message*: the candidates a tool's span finder proposes ('(48 + 52) * 3 - 7' as one
piece, parentheses included), or, when it proposes none, any run of the message's
tokens. Numbers are restricted to the numbers the user wrote. The model can still
pick the wrong candidate, but it cannot invent, rewrite or drop characters.
"""

from __future__ import annotations

import json
import re
from typing import Any

from models.gbnf import free_span, gbnf, literal
from tools.registry import Tool

NUMBER = r'"-"? [0-9]+ ("." [0-9]+)?'
JSON_STRING = r'"\"" ([^"\\\x00-\x1f] | "\\" ["\\/bfnrt] | "\\u" [0-9a-fA-F]{4})* "\""'
"""Any JSON string: what models that can write their own arguments (code, say) get instead of spans."""
MAX_CALLS = 3
"""Most calls one local reply may hold (independent calls run in parallel)."""


def _rule_name(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-zA-Z0-9]+", "-", p).strip("-").lower() for p in parts)


def _value(tool: Tool, arg: str, prop: dict[str, Any], message: str, excluded: set[str],
           required: bool, copy_spans: bool, prefix: str) -> tuple[str, list[str]] | None:
    """``(expression, extra rules)`` for one argument's value; ``None`` leaves an optional one out."""
    name = _rule_name(prefix, tool.name, arg)
    kind = prop.get("type") or next((a.get("type") for a in prop.get("anyOf", []) if a.get("type") != "null"), "")
    finder = tool.spans.get(arg) if copy_spans else None
    candidates = [c for c in (finder(message) if finder else []) if c not in excluded]
    if "enum" in prop:
        return "(" + " | ".join(gbnf(json.dumps(v)) for v in prop["enum"]) + ")", []
    if kind == "boolean":
        return '("true" | "false")', []
    if kind in ("number", "integer"):
        numbers = [c for c in candidates if re.fullmatch(r"-?\d+(?:\.\d+)?", c)]
        if numbers:
            return "(" + " | ".join(gbnf(n) for n in numbers) + ")", []
        return (f"({NUMBER})", []) if required or not copy_spans else None
    if not copy_spans:  # a model trusted to write its own values gets every argument, as any JSON string
        return JSON_STRING, []
    if candidates:
        return '"\\"" (' + " | ".join(literal(c) for c in candidates) + ') "\\""', []
    if not required:
        return None
    return f'"\\"" {name} "\\""', free_span(message, name)


def call_rule(tool: Tool, message: str, excluded: dict[tuple[str, str], set[str]],
              copy_spans: bool = True, prefix: str = "call") -> tuple[str, list[str]]:
    """The rule for one call of ``tool``: ``{"tool": "<name>", "args": {...}}`` with constrained values."""
    schema = tool.schema()
    required = set(schema.get("required", []))
    parts, rules = [], []
    for arg, prop in schema["properties"].items():
        value = _value(tool, arg, prop, message, excluded.get((tool.name, arg), set()), arg in required,
                       copy_spans, prefix)
        if value is None:
            continue
        expression, extra = value
        parts.append(f"{gbnf(json.dumps(arg) + ': ')} {expression}")
        rules += extra
    args = ' ", " '.join(parts)
    name = _rule_name(prefix, tool.name)
    body = gbnf('{"tool": ' + json.dumps(tool.name) + ', "args": {')
    rules.insert(0, f'{name} ::= {body} {args + " " if args else ""}"}}}}"')
    return name, rules


def build(message: str, tools: dict[str, Tool], *, copy_spans: bool = True,
          excluded: dict[tuple[str, str], set[str]] | None = None, max_calls: int = MAX_CALLS,
          clauses: list[tuple[str, dict[str, Tool]]] | None = None, single: bool = False) -> str:
    """GBNF rules defining ``calls``: a JSON list of 1..``max_calls`` calls (one when ``single``).

    The list is the wire format of :mod:`models.toolcalls` (``[{"tool": ..., "args": {...}}]``),
    so the rules go to a llama.cpp model as ``bind_tools(..., grammar=...)``, which adds the root.
    ``copy_spans=False`` lets string arguments be any JSON string, for models trusted to write them.
    With ``clauses`` (several questions in one message, see :func:`clauses`) the list holds exactly one
    call per clause, each with values taken from its own clause: '5 miles to km and 3 kg to pounds'
    cannot pair 5 with kg.
    """
    excluded = excluded or {}
    if clauses and len(clauses) > 1:
        rules, slots = [], []
        for index, (text, clause_tools) in enumerate(clauses):
            names = []
            for tool in clause_tools.values():
                name, tool_rules = call_rule(tool, text, excluded, copy_spans, prefix=f"q{index}")
                names.append(name)
                rules += tool_rules
            slots.append("(" + " | ".join(names) + ")")
        return "\n".join(['calls ::= "[" ' + ' ", " '.join(slots) + ' "]"', *rules])
    names, rules = [], []
    for tool in tools.values():
        name, tool_rules = call_rule(tool, message, excluded, copy_spans)
        names.append(name)
        rules += tool_rules
    call = "call ::= " + " | ".join(names)
    count = 1 if single else max_calls
    more = ' ("," " " call' * (count - 1) + ")?" * (count - 1)
    return "\n".join([f'calls ::= "[" call{more} "]"', call, *rules])


_BREAKS = re.compile(r"\?\s+|;\s+|\.\s+(?=[A-Z])|,?\s+\b(?:and|also|then|plus)\s+", re.IGNORECASE)


def clauses(message: str, tools: dict[str, Tool]) -> list[tuple[str, dict[str, Tool]]]:
    """The separate requests of a message (exact substrings), each with the tools its own words trigger.

    The message is cut at question marks, semicolons, sentence ends and 'and'/'also'; a piece
    that triggers no tool joins its neighbour, so 'what is 3 + 4 and why' stays one request.
    """
    def triggered(text: str) -> dict[str, Tool]:
        hits = {n: t for n, t in tools.items() if t.trigger is not None and t.trigger.search(text)}
        return {n: t for n, t in hits.items() if t.exclusive} or hits

    cuts = [0, *(m.end() for m in _BREAKS.finditer(message)), len(message)]
    spans: list[list[int]] = []  # [start, end] of each request so far
    for start, end in zip(cuts, cuts[1:], strict=False):
        if spans and (not triggered(message[start:end]) or not triggered(message[spans[-1][0]:spans[-1][1]])):
            spans[-1][1] = end  # a piece without a request of its own belongs to its neighbour
        else:
            spans.append([start, end])
    found = [(message[a:b].strip(), triggered(message[a:b])) for a, b in spans]
    return [(text, hits) for text, hits in found if hits]
