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

from tools.registry import Tool

SPAN_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z_]+|\s+|\S")
"""Units a free span is built from: numbers, words, whitespace runs, single symbols."""
NUMBER = r'"-"? [0-9]+ ("." [0-9]+)?'
JSON_STRING = r'"\"" ([^"\\\x00-\x1f] | "\\" ["\\/bfnrt] | "\\u" [0-9a-fA-F]{4})* "\""'
"""Any JSON string: what models that can write their own arguments (code, say) get instead of spans."""
MAX_CALLS = 3
"""Most calls one local reply may hold (independent calls run in parallel)."""


def gbnf(text: str) -> str:
    """A GBNF string literal that produces exactly ``text``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def literal(text: str) -> str:
    """A GBNF literal producing ``text`` as it appears inside a JSON string (escaped, no quotes)."""
    return gbnf(json.dumps(text, ensure_ascii=False)[1:-1])


def _rule_name(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-zA-Z0-9]+", "-", p).strip("-").lower() for p in parts)


def free_span(message: str, name: str) -> list[str]:
    """Rules for ``name``: any contiguous run of the message's tokens (not starting or ending in space)."""
    pieces = SPAN_TOKEN.findall(message)
    starts = [i for i, p in enumerate(pieces) if not p.isspace()]
    if not starts:
        return [f'{name} ::= "?"']
    rules, alternatives = [], []
    for i in starts:
        following = [j for j in starts if j > i]
        step = f"{name}-{i}"
        if following:
            gap = "".join(pieces[i + 1:following[0]])
            rules.append(f"{step} ::= {literal(pieces[i])} ({literal(gap) + ' ' if gap else ''}{name}-{following[0]})?")
        else:
            rules.append(f"{step} ::= {literal(pieces[i])}")
        alternatives.append(step)
    return [f"{name} ::= " + " | ".join(alternatives), *rules]


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


def build(message: str, tools: dict[str, Tool], *, answer: bool = False, copy_spans: bool = True,
          excluded: dict[tuple[str, str], set[str]] | None = None, max_calls: int = MAX_CALLS,
          clauses: list[tuple[str, dict[str, Tool]]] | None = None) -> str:
    """The whole grammar: a JSON list of 1..``max_calls`` calls, or ``[{"tool": "none"}]`` when ``answer``.

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
        return "\n".join(['root ::= "[" ' + ' ", " '.join(slots) + ' "]"', *rules])
    names, rules = [], []
    for tool in tools.values():
        name, tool_rules = call_rule(tool, message, excluded, copy_spans)
        names.append(name)
        rules += tool_rules
    call = "call ::= " + " | ".join(names)
    more = ' ("," " " call' * (max_calls - 1) + ")?" * (max_calls - 1)
    calls = f'"[" call{more} "]"'
    root = f'root ::= {calls} | {gbnf(json.dumps([{"tool": "none"}]))}' if answer else f"root ::= {calls}"
    return "\n".join([root, call, *rules])


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
