"""The tool registry: typed, docstring'd functions, checked when they are defined.

A tool is a plain function whose Google-style docstring documents every argument;
:func:`tool` turns the signature and those descriptions into a pydantic model (the
JSON schema models see) and refuses, at definition time, a tool without a
description, an argument without a type or a description, or examples that do not
validate. Which specialist may use which tool is an explicit allow-list
(each specialist's ``tools``, read with :func:`tools.select`), never "everything registered".
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

SpanFinder = Callable[[str], list[str]]
"""Proposes candidate values for one argument from the user's message (spans of it)."""


class ToolDefinitionError(TypeError):
    """A tool is defined wrongly (missing description, untyped argument...): the developer must fix it."""


class ToolError(Exception):
    """A problem the model or the user can act on (bad expression, missing file, limit reached).

    Its message becomes the call's ``error`` and goes back to the model; it never crashes a turn.
    """


@dataclass(frozen=True)
class Tool:
    """One callable tool with its schema and how Podium should treat it."""

    name: str
    """Name models call it by."""
    description: str
    """What it does, from the docstring's summary."""
    func: Callable[..., Any]
    """The implementation; receives validated arguments (and ``env`` when it asks for it)."""
    args_model: type[BaseModel]
    """Pydantic model of the arguments (forbids unknown ones)."""
    needs_approval: bool = False
    """Side effects: a human approves, edits or rejects each call first."""
    timeout_s: float = 15.0
    """A call still running after this long is abandoned and reported as timed out."""
    spans: dict[str, SpanFinder] = field(default_factory=dict)
    """Per argument, candidate values taken from the user's message (used by local grammars)."""
    trigger: re.Pattern[str] | None = None
    """Matches messages that clearly ask for this tool (routing and pre-selection)."""
    exclusive: bool = False
    """When its trigger matches, no other tool is offered ('run this code: print(6*7)' is not arithmetic)."""
    examples: tuple[tuple[str, dict[str, Any]], ...] = ()
    """(user message, arguments) pairs: few-shot examples and documentation."""
    answer: Callable[[dict[str, Any], str], str] | None = None
    """Template turning (arguments, result) into a final answer when a model cannot be trusted to."""
    uses_env: bool = False
    """The function takes a keyword-only ``env`` (workspace, sandbox, clock)."""
    unavailable: Callable[[Any], str | None] | None = None
    """Why the tool cannot run with a given ``env`` (one line), or ``None``: an unavailable tool is listed
    with its reason, and its calls fail at once with it, no approval asked."""

    def off_reason(self, env: Any) -> str | None:
        """Why the tool cannot run with ``env``, or ``None`` when it can."""
        return self.unavailable(env) if self.unavailable is not None else None

    def schema(self) -> dict[str, Any]:
        """JSON schema of the arguments."""
        return _clean_schema(self.args_model.model_json_schema())

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI's function-calling format (what ``tools=`` takes)."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                  "parameters": self.schema()}}

    def as_langchain(self, env: Any = None) -> Any:
        """This tool as a LangChain ``StructuredTool`` (for LangGraph's and LangChain's own agents).

        Problems the model can fix (:class:`ToolError`) come back to it as the tool's error text.
        """
        from langchain_core.tools import StructuredTool, ToolException

        def run(**kwargs: Any) -> str:
            try:
                return str(self.func(**kwargs, **({"env": env} if self.uses_env else {})))
            except ToolError as exc:
                raise ToolException(str(exc)) from exc

        return StructuredTool.from_function(run, name=self.name, description=self.description,
                                            args_schema=self.args_model, handle_tool_error=True)

    def validate(self, args: Any) -> dict[str, Any]:
        """Validated, defaulted arguments; raises :class:`pydantic.ValidationError`."""
        return self.args_model.model_validate(args).model_dump()

    def describe(self, env: Any = None) -> dict[str, Any]:
        """A JSON-ready summary for listings (``podium tools --json``); ``off`` is why it cannot run with ``env``."""
        return {"name": self.name, "description": self.description, "needs_approval": self.needs_approval,
                "off": self.off_reason(env) if env is not None else None,
                "timeout_s": self.timeout_s, "parameters": self.schema(),
                "examples": [{"message": m, "args": a} for m, a in self.examples]}


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's auto-generated titles: they add tokens and tell a model nothing."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    schema["properties"] = {name: {k: v for k, v in prop.items() if k != "title"}
                            for name, prop in schema.get("properties", {}).items()}
    return schema


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and ``{argument: description}``."""
    summary: list[str] = []
    args: dict[str, str] = {}
    section, entry_indent, current = None, None, None
    for line in inspect.cleandoc(doc).splitlines():
        indent = len(line) - len(line.lstrip())
        header = re.fullmatch(r"(Args|Arguments|Returns|Raises|Examples?|Notes?):", line.strip())
        if header and indent == 0:
            section, entry_indent, current = header.group(1), None, None
        elif section is None:
            summary.append(line)
        elif section in ("Args", "Arguments") and line.strip():
            entry = re.fullmatch(r"(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line.strip())
            if entry and (entry_indent is None or indent == entry_indent):
                entry_indent, current = indent, entry.group(1)
                args[current] = entry.group(2).strip()
            elif current:  # a continuation line of the current argument
                args[current] = f"{args[current]} {line.strip()}".strip()
    return " ".join(" ".join(summary).split()), args


REGISTRY: dict[str, Tool] = {}
"""Every defined tool by name (specialists see only their allow-listed ones)."""


def tool(
    *,
    needs_approval: bool = False,
    timeout_s: float = 15.0,
    spans: dict[str, SpanFinder] | None = None,
    trigger: str | None = None,
    exclusive: bool = False,
    examples: list[tuple[str, dict[str, Any]]] | None = None,
    answer: Callable[[dict[str, Any], str], str] | None = None,
    unavailable: Callable[[Any], str | None] | None = None,
    register: bool = True,
) -> Callable[[Callable[..., Any]], Tool]:
    """Define a tool from a typed, documented function; raise :class:`ToolDefinitionError` if it is not."""
    def wrap(func: Callable[..., Any]) -> Tool:
        built = _build(func, needs_approval=needs_approval, timeout_s=timeout_s, spans=spans or {},
                       trigger=re.compile(trigger, re.IGNORECASE) if trigger else None, exclusive=exclusive,
                       examples=tuple(examples or ()), answer=answer, unavailable=unavailable)
        if register:
            if built.name in REGISTRY:
                raise ToolDefinitionError(f"tool {built.name!r} is defined twice")
            REGISTRY[built.name] = built
        return built
    return wrap


def _build(func: Callable[..., Any], **options: Any) -> Tool:
    name = func.__name__
    description, documented = parse_docstring(func.__doc__ or "")
    if not description:
        raise ToolDefinitionError(f"tool {name!r} has no description: write a docstring summary")
    hints = typing.get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    uses_env = False
    for param in inspect.signature(func).parameters.values():
        if param.name == "env" and param.kind is param.KEYWORD_ONLY:
            uses_env = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {name!r}: *args/**kwargs cannot be described to a model")
        if param.name not in hints:
            raise ToolDefinitionError(f"tool {name!r}: argument {param.name!r} has no type annotation")
        if not documented.get(param.name):
            raise ToolDefinitionError(f"tool {name!r}: argument {param.name!r} has no description in 'Args:'")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], Field(default, description=documented[param.name]))
    stale = set(documented) - set(fields)
    if stale:
        raise ToolDefinitionError(f"tool {name!r} documents arguments it does not take: {sorted(stale)}")
    unknown = set(options["spans"]) - set(fields)
    if unknown:
        raise ToolDefinitionError(f"tool {name!r} has span finders for unknown arguments: {sorted(unknown)}")
    model = create_model(f"{name.title().replace('_', '')}Args",
                         __config__=ConfigDict(extra="forbid"), **fields)
    built = Tool(name=name, description=description, func=func, args_model=model, uses_env=uses_env, **options)
    for message, args in built.examples:
        try:
            built.validate(args)
        except ValidationError as exc:
            raise ToolDefinitionError(f"tool {name!r}: example for {message!r} is invalid: {exc}") from exc
    return built


def format_args(args: dict[str, Any]) -> str:
    """Arguments as compact JSON, for messages and loop detection."""
    return json.dumps(args, ensure_ascii=False, sort_keys=True, default=str)
