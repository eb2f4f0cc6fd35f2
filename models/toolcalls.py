"""Tool calls for chat models that only write text (llama.cpp): the wire format, the prompt, the grammar, the reader.

A model with tools bound either answers in text or writes a JSON list of calls,
``[{"tool": "<name>", "args": {...}}]``, under a llama.cpp grammar built from the tools'
JSON schemas, so a call always parses, names a bound tool and has arguments of the
declared types. ``tool_choice`` picks the grammar's root: ``auto`` lets the model start
with text (anything but ``[``) or the list, ``any`` requires the list, a tool name requires
exactly one call of that tool, ``none`` binds no grammar at all. :class:`WireReader`
turns the generated text back into streamed text or ``tool_call_chunks``, and
:func:`to_chat` renders a LangChain history (tool calls and tool results included) as the
plain role/content messages a GGUF's chat template takes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolCallChunk, ToolMessage
from langchain_core.messages.tool import tool_call_chunk

from models.gbnf import free_span, gbnf, json_strings

MAX_CALLS = 4
"""Most calls one reply may hold when parallel calls are allowed."""
CHOICES = ("auto", "any", "none")
"""``tool_choice`` values besides a tool's name (``required`` and ``True`` mean ``any``)."""

_TOOLS_PROMPT = (
    "You can call these tools:\n{tools}\n"
    'To call tools, reply with only a JSON list: [{{"tool": "<name>", "args": {{...}}}}].{otherwise}'
)
_RESULT = "Result of {name}: {text}"
_ERROR = "Error from {name}: {text}"


def choice(tool_choice: Any, names: Sequence[str]) -> str:
    """``tool_choice`` in any of LangChain's spellings as ``auto``, ``any``, ``none`` or a tool name.

    Raises :class:`ValueError` for a name that is not among ``names`` or a shape it does not know.
    """
    if tool_choice is None or tool_choice == "auto":
        return "auto"
    if tool_choice is True or tool_choice in ("any", "required"):
        return "any"
    if tool_choice is False or tool_choice == "none":
        return "none"
    if isinstance(tool_choice, dict):  # OpenAI's {"type": "function", "function": {"name": ...}}, Anthropic's
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        if tool_choice.get("type") in ("any", "auto", "none") and not name:
            return choice(tool_choice["type"], names)
        tool_choice = name
    if isinstance(tool_choice, str) and tool_choice in names:
        return tool_choice
    raise ValueError(f"tool_choice {tool_choice!r} names no bound tool; bound: {', '.join(names) or 'none'}")


def _rule(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-zA-Z0-9]+", "-", p).strip("-").lower() for p in parts if p) or "x"


_SPAN = "podium-span-of-the-message"
"""Stands for a copied span in a schema, so that llama.cpp's converter leaves a literal to replace."""


def _spanned(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every plain string property (no enum, pattern or format) standing for a span."""
    def plain(prop: dict[str, Any]) -> bool:
        return prop.get("type") == "string" and not {"enum", "const", "pattern", "format"} & prop.keys()
    props = {k: {"const": _SPAN} if plain(p) else p for k, p in (params.get("properties") or {}).items()}
    return {**params, "properties": props}


def calls_gbnf(functions: Sequence[dict[str, Any]], *, only: str | None = None, max_calls: int = MAX_CALLS,
               spans: str = "") -> str:
    """GBNF rules defining ``calls``: a JSON list of calls of ``functions`` (OpenAI function dicts).

    Each call's ``args`` follow that tool's parameter schema; ``only`` allows exactly one call of
    that tool; with ``spans`` (a message) the top-level plain string arguments are runs of its
    words, copied. The rules define no ``root``: :func:`grammar` adds it.
    """
    from llama_cpp.llama_grammar import SchemaConverter

    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    alternatives = []
    for function in functions:
        name = function["name"]
        if only and name != only:
            continue
        params = function.get("parameters") or {"type": "object", "properties": {}}
        if not params.get("properties") and params.get("additionalProperties") is None:
            params = {**params, "additionalProperties": False}  # no arguments: exactly {}
        if spans:
            params = _spanned(params)
        resolved = converter.resolve_refs(params, f"tool-{name}")
        args_rule = converter.visit(resolved, _rule("args", name))
        rule = _rule("call", name)
        head = gbnf('{"tool": ' + json.dumps(name, ensure_ascii=False) + ', "args": ')
        converter._add_rule(rule, f'{head} {args_rule} "}}"')  # noqa: SLF001 - its rule table is the grammar
        alternatives.append(rule)
    if not alternatives:
        raise ValueError(f"no tool named {only!r} is bound")
    rules = converter.format_grammar()
    if spans:
        rules = "\n".join([rules.replace(gbnf(json.dumps(_SPAN)), '"\\"" span "\\""'), *free_span(spans, "span")])
    more = ' ("," " " call' * (max_calls - 1) + ")?" * (max_calls - 1) if not only else ""
    return "\n".join([f'calls ::= "[" call{more} "]"', "call ::= " + " | ".join(alternatives), json_strings(rules)])


def grammar(calls: str, tool_choice: str) -> str:
    """The whole grammar: the ``calls`` rules under a root that ``tool_choice`` picks (text allowed on ``auto``)."""
    if tool_choice == "auto":
        # Text is anything not opening with "[": the model's first character decides, the rest is free.
        return f'root ::= calls | text\ntext ::= [^[] [^\\x00]*\n{calls}'
    return f"root ::= calls\n{calls}"


def _signature(function: dict[str, Any]) -> str:
    props = (function.get("parameters") or {}).get("properties") or {}
    args = ", ".join(f"{name}: {prop.get('type') or 'any'}" for name, prop in props.items())
    summary = " ".join((function.get("description") or "").split())
    return f"- {function['name']}({args})" + (f": {summary}" if summary else "")


def tools_prompt(functions: Sequence[dict[str, Any]], tool_choice: str) -> str:
    """What a model is told about the bound tools (one line each: the grammar enforces the rest)."""
    otherwise = " Otherwise answer in plain text." if tool_choice == "auto" else ""
    return _TOOLS_PROMPT.format(tools="\n".join(map(_signature, functions)), otherwise=otherwise)


def wire(calls: Sequence[Mapping[str, Any]]) -> str:
    """Calls as the model writes them."""
    return json.dumps([{"tool": c["name"], "args": c.get("args") or {}} for c in calls], ensure_ascii=False)


def to_chat(messages: Sequence[BaseMessage], *, tools: str = "",
            examples: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[dict[str, str]]:
    """Role/content messages for a chat template: tool calls in the wire format, tool results as user turns.

    ``tools`` (the tools prompt) joins the system message, or becomes one; ``examples``
    (user message, calls) are shown as earlier exchanges right after it.
    """
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    names = {c["id"]: c["name"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
    out: list[dict[str, str]] = []
    for message in messages:
        text = str(message.text)
        if isinstance(message, ToolMessage):
            name = message.name or names.get(message.tool_call_id) or "the tool"
            line = (_ERROR if message.status == "error" else _RESULT).format(name=name, text=text)
            if out and out[-1].get("tool_results"):  # results of one reply's calls: one user turn
                out[-1]["content"] += "\n" + line
            else:
                out.append({"role": "user", "content": line, "tool_results": "1"})
            continue
        if isinstance(message, AIMessage) and message.tool_calls:
            text = "\n".join(p for p in (text.strip(), wire(message.tool_calls)) if p)
        out.append({"role": roles.get(message.type, "user"), "content": text})
    for item in out:
        item.pop("tool_results", None)
    if tools:
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{tools}".strip()}
        else:
            out.insert(0, {"role": "system", "content": tools})
    shots = [turn for message, calls in examples
             for turn in ({"role": "user", "content": message}, {"role": "assistant", "content": wire(calls)})]
    at = 1 if out and out[0]["role"] == "system" else 0
    return [*out[:at], *shots, *out[at:]]


def new_id() -> str:
    """A fresh tool-call id."""
    return f"call_{uuid.uuid4().hex[:12]}"


class WireReader:
    """Reads generated text as it streams: plain text, or the JSON list of calls as ``tool_call_chunks``.

    ``calls_only`` (``any`` or a tool name) reads everything as calls; otherwise the first
    non-blank character decides (``[`` opens the list). The first call streams as it is
    written (its name and id once its ``args`` open, then the arguments' JSON text); later
    calls go out whole, so that a small model repeating a call it already made in this
    reply can be stopped (``repeated``) before the repeat reaches anyone.
    """

    def __init__(self, *, calls_only: bool) -> None:
        self.mode = "calls" if calls_only else ""
        self.raw = ""
        self.repeated = False
        """The model began a call identical to an earlier one of this reply: stop generating."""
        self.called = False
        """Some call went out."""
        self._depth = 0
        self._in_string = self._escaped = False
        self._call_start = 0
        self._call: dict[str, Any] | None = None
        self._sent = 0
        self._seen: set[str] = set()
        self._index = -1

    def feed(self, delta: str) -> tuple[str, list[ToolCallChunk]]:
        """``(text to show, tool-call chunks)`` for the next piece of generated text."""
        if not self.mode:
            stripped = (self.raw + delta).lstrip()
            if not stripped:
                self.raw += delta
                return "", []
            self.mode = "calls" if stripped.startswith("[") else "text"
            if self.mode == "text":
                text, self.raw = self.raw + delta, ""
                return text, []
        if self.mode == "text":
            return delta, []
        out: list[ToolCallChunk] = []
        for char in delta:
            if self.repeated:
                break
            self._read(char, out)
        if self._call is not None and self._call["index"] == 0:
            self._flush(out)
        self.called = self.called or bool(out)
        return "", out

    def _read(self, char: str, out: list[ToolCallChunk]) -> None:
        self.raw += char
        if self._call is not None and self._depth >= 3:
            self._call["args"] += char
        if self._in_string:
            if self._escaped:
                self._escaped = False
            elif char == "\\":
                self._escaped = True
            elif char == '"':
                self._in_string = False
        elif char == '"':
            self._in_string = True
        elif char in "[{":
            self._depth += 1
            if self._depth == 2:
                self._call_start = len(self.raw) - 1
            elif self._depth == 3:
                self._open()
        elif char in "]}":
            self._depth -= 1
            if self._depth == 2 and self._call is not None:
                self._close(out)

    def _open(self) -> None:
        self._index += 1
        found = re.search(r'"tool"\s*:\s*("(?:[^"\\]|\\.)*")', self.raw[self._call_start:])
        name = json.loads(found.group(1)) if found else ""
        self._call = {"name": name, "id": new_id(), "index": self._index, "args": "{"}
        self._sent = 0

    def _close(self, out: list[ToolCallChunk]) -> None:
        call, self._call = self._call, None
        assert call is not None
        try:
            key = json.dumps([call["name"], json.loads(call["args"])], sort_keys=True)
        except json.JSONDecodeError:
            key = call["name"] + call["args"]
        if key in self._seen:
            self.repeated = True
            return
        self._seen.add(key)
        if call["index"] == 0:
            self._call = call
            self._flush(out)
            self._call = None
        else:
            out.append(tool_call_chunk(name=call["name"], args=call["args"], id=call["id"], index=call["index"]))

    def _flush(self, out: list[ToolCallChunk]) -> None:
        """Send what the first call has written since the last flush."""
        assert self._call is not None
        call, fresh = self._call, self._call["args"][self._sent:]
        if self._sent == 0:
            out.append(tool_call_chunk(name=call["name"], args=fresh, id=call["id"], index=call["index"]))
        elif fresh:
            out.append(tool_call_chunk(name=None, args=fresh, id=None, index=call["index"]))
        self._sent += len(fresh)
