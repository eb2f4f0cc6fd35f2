"""LangChain's tool calling and structured output for chat models that write text under a grammar.

:class:`GrammarChat` gives a ``BaseChatModel`` that only writes text (llama.cpp, the
scripted test model) the standard ``bind_tools`` and ``with_structured_output``: both
become call options (``tools``, ``tool_choice``, ``response_format``) that the model's
``_stream`` turns into a prompt, a grammar and a :class:`~models.toolcalls.WireReader`
through :func:`tool_request`. Podium's own options ride along: a caller-made ``grammar``
for the calls (the span-copying grammar of :mod:`tools.grammar` for tiny models) and
few-shot ``examples``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import JsonOutputKeyToolsParser, JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import PydanticToolsParser
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

from models import toolcalls

Examples = Sequence[tuple[str, list[dict[str, Any]]]]
"""Few-shot (user message, calls) pairs; each call ``{"name": ..., "args": {...}}``."""
DECIDES_TOOLS_FROM = 1_000_000_000
"""Parameters from which a model is trusted to choose between text and calls, and to write its own arguments."""


@dataclass(frozen=True)
class ToolRequest:
    """The tools of one call: what the model is told, the grammar it writes under, how its text is read."""

    functions: list[dict[str, Any]]
    """The bound tools as OpenAI function dicts (name, description, parameters)."""
    choice: str
    """``auto``, ``any``, ``none`` or a tool's name."""
    parallel: bool = True
    """Several calls in one reply (else exactly one)."""
    calls_grammar: str | None = None
    """GBNF defining ``calls`` made by the caller (else built from the tools' schemas)."""
    examples: Examples = field(default=())
    """Few-shot exchanges shown after the system prompt."""
    copy_from: str = ""
    """When set, plain string arguments are spans copied from this text (the user's latest message)."""

    def deciding(self, policy: str, messages: Sequence[BaseMessage]) -> ToolRequest:
        """This request with ``auto`` settled by ``policy``: ``model`` leaves it to the model; ``call_then_answer``
        calls on a turn that has no tool results yet and answers in text once they are in."""
        if self.choice != "auto" or policy == "model":
            return self
        answered = bool(messages) and isinstance(messages[-1], ToolMessage)
        return replace(self, choice="none" if answered else "any")

    def prompt(self, messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
        """The conversation for the chat template, with the tools described when the model may call them."""
        if self.choice == "none":
            return toolcalls.to_chat(messages)
        return toolcalls.to_chat(messages, tools=toolcalls.tools_prompt(self.functions, self.choice),
                                 examples=self.examples)

    def grammar(self) -> str | None:
        """The GBNF the reply is written under (``None``: free text, no tools)."""
        if self.choice == "none":
            return None
        only = None if self.choice in ("auto", "any") else self.choice
        calls = self.calls_grammar or toolcalls.calls_gbnf(
            self.functions, only=only, max_calls=toolcalls.MAX_CALLS if self.parallel else 1, spans=self.copy_from)
        return toolcalls.grammar(calls, self.choice)

    def reader(self) -> toolcalls.WireReader | None:
        """Reads the reply as text or calls (``None`` when no call is possible)."""
        return None if self.choice == "none" else toolcalls.WireReader(calls_only=self.choice != "auto")


def tool_request(kwargs: dict[str, Any]) -> ToolRequest | None:
    """Pop the tool options of a call from ``kwargs`` (``None`` when it has no tools)."""
    functions = kwargs.pop("tools", None)
    choice = kwargs.pop("tool_choice", None)
    parallel = kwargs.pop("parallel_tool_calls", None)
    grammar = kwargs.pop("tool_grammar", None)
    examples = kwargs.pop("tool_examples", None) or ()
    if not functions:
        return None
    functions = [f.get("function", f) if f.get("type") == "function" else f for f in functions]
    picked = toolcalls.choice(choice, [f["name"] for f in functions])
    return ToolRequest(functions, picked, parallel is not False, grammar, tuple(examples))


def _structured_parser(schema: Any, method: str) -> Runnable:
    pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    if method == "function_calling":
        if pydantic:
            return PydanticToolsParser(tools=[schema], first_tool_only=True)
        return JsonOutputKeyToolsParser(key_name=convert_to_openai_tool(schema)["function"]["name"],
                                        first_tool_only=True)
    return PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()


class GrammarChat(BaseChatModel):
    """A ``BaseChatModel`` that writes text under grammars; its ``_stream`` reads :meth:`_tool_turn`.

    Subclasses stream text; this base gives them LangChain's ``bind_tools``,
    ``with_structured_output``, ``_generate`` and standard tracing parameters.
    """

    stop: list[str] | None = None
    """Stop sequences of every call (besides each call's own ``stop``)."""
    auto_tools: Literal["model", "call_then_answer"] | None = None
    """How ``tool_choice="auto"`` is settled: ``model`` (the model chooses text or calls under the grammar) or
    ``call_then_answer`` (calls on a turn without tool results, text once they are in). Default: the latter for
    models under :data:`DECIDES_TOOLS_FROM` parameters, which cannot tell when a tool helps."""
    copy_spans: bool | None = None
    """Plain string arguments of tool calls are spans copied from the user's latest message (the model cannot
    invent, rewrite or drop characters). Default: on for models under :data:`DECIDES_TOOLS_FROM` parameters."""

    @property
    def model_name(self) -> str:
        """The name reported in ``response_metadata`` and traces."""
        return self._llm_type

    def parameters(self) -> int:
        """The model's parameter count (0: unknown, treated as small)."""
        return 0

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(ls_provider=self._llm_type, ls_model_name=kwargs.get("model") or self.model_name,
                                 ls_model_type="chat")
        for key in ("temperature", "max_tokens"):
            value = kwargs.get(key, getattr(self, key, None))
            if value is not None:
                params[f"ls_{key}"] = value  # type: ignore[literal-required]
        if stop or self.stop:
            params["ls_stop"] = [*(stop or []), *(self.stop or [])]
        return params

    def _tool_turn(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> tuple[
            list[dict[str, str]], str | None, toolcalls.WireReader | None]:
        """``(chat messages, grammar, reader)`` for one call: the tools in ``kwargs`` (popped) settled for it."""
        request = tool_request(kwargs)
        if request is None:
            return toolcalls.to_chat(messages), None, None
        small = self.parameters() < DECIDES_TOOLS_FROM
        request = request.deciding(self.auto_tools or ("call_then_answer" if small else "model"), messages)
        latest = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        if (small if self.copy_spans is None else self.copy_spans) and latest.strip():
            request = replace(request, copy_from=latest)
        return request.prompt(messages), request.grammar(), request.reader()

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, parallel_tool_calls: bool | None = None,
                   grammar: str | None = None, examples: Examples | None = None, **kwargs: Any) -> Runnable:
        """Bind tools (LangChain tools, functions, pydantic models, TypedDicts or JSON/OpenAI schemas).

        ``tool_choice``: ``"auto"`` (default: text or calls), ``"any"``/``"required"``/``True`` (at least one
        call), a tool's name (exactly one call of it) or ``"none"``. ``parallel_tool_calls=False`` allows one
        call per reply. Podium's options: ``grammar``, GBNF rules defining ``calls`` that replace the ones
        built from the schemas (same wire format, see :mod:`models.toolcalls`), and ``examples``, few-shot
        ``(message, calls)`` pairs.
        """
        functions = [convert_to_openai_tool(t)["function"] for t in tools]
        picked = toolcalls.choice(tool_choice, [f["name"] for f in functions])
        options: dict[str, Any] = {"tools": functions, "tool_choice": picked}
        if parallel_tool_calls is not None:
            options["parallel_tool_calls"] = parallel_tool_calls
        if grammar:
            options["tool_grammar"] = grammar
        if examples:
            options["tool_examples"] = [(m, [{"name": c["name"], "args": c.get("args") or {}} for c in calls])
                                        for m, calls in examples]
        return self.bind(**options, **kwargs)

    def with_structured_output(
        self, schema: Any, *, method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        include_raw: bool = False, strict: bool | None = None, **kwargs: Any,
    ) -> Runnable:
        """Output matching ``schema`` (pydantic model, TypedDict, JSON schema or OpenAI tool), written under a grammar.

        ``json_schema`` (default) constrains the reply to the schema's JSON; ``function_calling`` binds the
        schema as the one tool the model must call; ``json_mode`` constrains it to any JSON object (say what
        you want in the prompt). ``include_raw`` returns ``{"raw", "parsed", "parsing_error"}``.
        """
        if kwargs:
            raise ValueError(f"unsupported arguments: {sorted(kwargs)}")
        if schema is None and method != "json_mode":
            raise ValueError(f"method={method!r} needs a schema")
        traced: dict[str, Any] = {"ls_structured_output_format": {"kwargs": {"method": method}, "schema": schema}}
        if method == "function_calling":
            name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools([schema], tool_choice=name, parallel_tool_calls=False, **traced)
        elif method == "json_schema":
            pydantic_v2 = isinstance(schema, type) and hasattr(schema, "model_json_schema")
            as_json = schema.model_json_schema() if pydantic_v2 else convert_to_json_schema(schema)
            llm = self.bind(response_format={"type": "json_object", "schema": as_json}, **traced)
        elif method == "json_mode":
            llm = self.bind(response_format={"type": "json_object"}, **traced)
        else:
            raise ValueError(f"unknown method {method!r}; use json_schema, function_calling or json_mode")
        parser = _structured_parser(schema, method) if schema is not None else JsonOutputParser()
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        failed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks([failed], exception_key="parsing_error")
