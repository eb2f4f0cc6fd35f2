"""A scripted chat model for graph tests, registered through the same registry.

``scripted/echo`` repeats the last user message; ``scripted/<name>`` plays the
replies registered with :func:`register_script` in order and fails loudly when
asked for more than it was given (an unexpected model call is a test failure).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk

from models.grammar_chat import GrammarChat, tool_request
from models.spec import ModelSpec
from podium.errors import ConfigError
from podium.settings import Settings

_SCRIPTS: dict[str, list[str]] = {}
_REMOTE: set[str] = set()


def register_script(name: str, replies: list[str], *, local: bool = True) -> str:
    """Register replies for ``scripted/<name>`` and return that spec string.

    ``local=False`` describes it as a remote model, which routing treats as capable (a router or planner).
    """
    _SCRIPTS[name] = list(replies)
    (_REMOTE.discard if local else _REMOTE.add)(name)
    return f"scripted/{name}"


class ScriptedChatModel(GrammarChat):
    """Replies from a script, streamed word by word, with word-count usage.

    With tools bound, a reply is read as a llama.cpp model's would be: a JSON list of calls
    (``[{"tool": ..., "args": {...}}]``) becomes ``tool_calls``, anything else is text.
    """

    script: str
    """Name of the script (``echo`` or one registered with :func:`register_script`)."""
    calls: int = 0
    """How many replies were played."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def get_num_tokens(self, text: str) -> int:
        """Whitespace words stand in for tokens."""
        return len(text.split())

    def _reply(self, messages: list[BaseMessage]) -> str:
        if self.script == "echo":
            last = next((m for m in reversed(messages) if m.type == "human"), None)
            return f"You said: {last.content}" if last else "Nothing to echo."
        replies = _SCRIPTS[self.script]
        if self.calls >= len(replies):
            raise AssertionError(
                f"scripted/{self.script} was called {self.calls + 1} times, scripted for {len(replies)}"
            )
        self.calls += 1
        return replies[self.calls - 1]

    def _usage(self, messages: list[BaseMessage], text: str) -> UsageMetadata:
        prompt = sum(self.get_num_tokens(str(m.content)) for m in messages)
        completion = self.get_num_tokens(text)
        return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        tools = tool_request(kwargs)
        reader = tools.reader() if tools else None
        text = self._reply(messages)
        for i, word in enumerate(text.split(" ")):
            piece = word if i == 0 else " " + word
            shown, calls = reader.feed(piece) if reader else (piece, [])
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=shown, tool_call_chunks=calls))
            if run_manager:
                run_manager.on_llm_new_token(shown, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=self._usage(messages, text),
                                                         response_metadata={"finish_reason": "stop"}))


def resolve(name: str, settings: Settings) -> ModelSpec:
    """Describe a scripted model; unknown script names are a configuration error."""
    if name != "echo" and name not in _SCRIPTS:
        raise ConfigError(
            f"unknown scripted model {name!r}", setting="model", hint="register it with register_script()"
        )
    return ModelSpec(
        spec=f"scripted/{name}",
        provider="scripted",
        name=name,
        json_schema=False,
        local=name not in _REMOTE,
        context_length=100_000,
        description="scripted replies for tests",
    )


def build(spec: ModelSpec, settings: Settings) -> ScriptedChatModel:
    """A fresh scripted model (each build replays its script from the start)."""
    return ScriptedChatModel(script=spec.name)
