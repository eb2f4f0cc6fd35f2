"""OpenAI-compatible models with native tool calling off: Podium's call protocol instead of the server's tools API.

A model listed in ``PODIUM_NO_NATIVE_TOOLS`` is wrapped in :class:`PromptedToolsChat`. Its
``bind_tools`` is :class:`~models.grammar_chat.GrammarChat`'s: the tools are described in the
prompt, the reply is read by :class:`~models.toolcalls.WireReader` (text, or a JSON list of
calls that must parse), and a server that takes a GBNF grammar (llama.cpp's, at a custom
``OPENAI_BASE_URL``) gets the calls' grammar, so every call it writes parses and names a bound
tool. The request never carries ``tools``: the server's own tool calling is not used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage, convert_to_messages
from langchain_core.outputs import ChatGenerationChunk

from models.grammar_chat import GrammarChat


class PromptedToolsChat(GrammarChat):
    """An OpenAI-compatible chat model (``inner``) that calls tools through Podium's prompt and grammar."""

    inner: Any
    """The :func:`models.openai.chat_class` client that talks to the server."""
    send_grammar: bool = False
    """The server takes a GBNF ``grammar`` (llama.cpp's servers); OpenAI itself does not, so it gets the prompt only."""

    @property
    def _llm_type(self) -> str:
        return "openai-prompted-tools"

    @property
    def model_name(self) -> str:
        """The server's model name."""
        return str(self.inner.model_name)

    def get_num_tokens(self, text: str) -> int:
        """Tokens of one text (the inner client's offline count)."""
        return int(self.inner.get_num_tokens(text))

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Any = None, **_: Any) -> int:
        """Tokens of a chat prompt (the inner client's offline count)."""
        return int(self.inner.get_num_tokens_from_messages(messages))

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        chat, grammar, reader = self._tool_turn(messages, kwargs)
        if grammar and self.send_grammar:
            kwargs["grammar"] = grammar
        fmt = kwargs.get("response_format")
        if fmt and fmt.get("type") == "json_object" and fmt.get("schema") and not self.send_grammar:
            kwargs["response_format"] = {"type": "json_schema",  # OpenAI's own spelling of a schema
                                         "json_schema": {"name": "answer", "schema": fmt["schema"], "strict": False}}
        parts = self.inner._stream(convert_to_messages(chat), stop=stop, **kwargs)
        try:
            for part in parts:
                message = part.message
                text, calls = reader.feed(message.text) if reader else (message.text, [])
                meta = dict(message.response_metadata or {})
                if reader and reader.called and meta.get("finish_reason") == "stop":
                    meta["finish_reason"] = "tool_calls"
                chunk = ChatGenerationChunk(message=AIMessageChunk(
                    content=text, tool_call_chunks=calls, response_metadata=meta,
                    usage_metadata=getattr(message, "usage_metadata", None), id=message.id),
                    generation_info=part.generation_info)
                if run_manager and (text or calls):
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
                if reader and reader.repeated:  # a small model repeating a call it just made: the reply is complete
                    yield ChatGenerationChunk(message=AIMessageChunk(
                        content="", response_metadata={"finish_reason": "tool_calls"}))
                    return
        finally:
            close = getattr(parts, "close", None)
            if close:
                close()
