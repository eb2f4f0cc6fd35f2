"""Tools for one engine call: bound to each model of the chain through its own ``bind_tools``, replies checked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from models.spec import ModelSpec

REPAIR_PROMPT = "Your previous reply is not valid: {problem}. Reply again with a valid call of {names}."


@dataclass(frozen=True)
class Tools:
    """What :meth:`models.call.ModelCaller.call` binds to whichever model answers."""

    tools: Sequence[Any]
    """LangChain tools, functions, pydantic models or OpenAI tool dicts."""
    choice: str | None = None
    """``tool_choice``: ``auto`` (``None``), ``any``, ``none`` or a tool's name."""
    per_model: Callable[[ModelSpec], dict[str, Any]] | None = None
    """Extra ``bind_tools`` options for one model of the chain (Podium's call grammar and few-shot
    examples for models whose spec says they take them: ``ModelSpec.constrained``)."""

    def names(self) -> list[str]:
        """The tools' names, in order."""
        return [convert_to_openai_tool(t)["function"]["name"] for t in self.tools]

    def bind(self, model: BaseChatModel, spec: ModelSpec) -> Runnable:
        """``model`` with the tools bound its own way."""
        extra = self.per_model(spec) if self.per_model else {}
        return model.bind_tools(self.tools, tool_choice=self.choice, **extra)

    def required(self) -> str | None:
        """The tool that must be called (a name), ``"any"`` when some call is required, else ``None``."""
        if self.choice in (None, "auto", "none"):
            return None
        return "any" if self.choice in ("any", "required") else self.choice

    def check(self, reply: AIMessage) -> str | None:
        """What is wrong with ``reply`` as an answer to this call (``None``: nothing)."""
        names = self.names()
        if reply.invalid_tool_calls:
            return f"the arguments of {reply.invalid_tool_calls[0].get('name') or 'a call'} are not valid JSON"
        for call in reply.tool_calls:
            if call["name"] not in names:
                return f"unknown tool {call['name']!r}"
        required = self.required()
        if required and not reply.tool_calls:
            return "it calls no tool" if required == "any" else f"it does not call {required}"
        if required not in (None, "any") and any(c["name"] != required for c in reply.tool_calls):
            return f"it calls a tool other than {required}"
        return None

    def repair_prompt(self, problem: str) -> str:
        """What a model is told after an invalid reply."""
        required = self.required()
        names = required if required not in (None, "any") else " or ".join(self.names())
        return REPAIR_PROMPT.format(problem=problem, names=names)
