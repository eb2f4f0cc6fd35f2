"""In-process GGUF models through llama-cpp-python, as a LangChain chat model (tools and structured output too).

One loaded ``Llama`` per (file, context size) is shared by every thread of the
process and guarded by a lock, so concurrent requests queue instead of crashing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk

from models.frames import FRAME_S, Frames
from models.gbnf import check, compiled, json_grammar, schema_grammar
from models.grammar_chat import GrammarChat
from models.llama_pool import Loaded, default_threads, load  # noqa: F401 - loading lives in models.llama_pool
from models.local import ALIASES, Alias, gguf_info, locate, resolve  # noqa: F401 - describing lives in models.local
from models.spec import ModelSpec
from models.toolcalls import to_chat
from podium.errors import ConfigError, ContextOverflowError, ModelError
from podium.settings import Settings


class ChatLlamaCpp(GrammarChat):
    """A chat model over a shared in-process llama.cpp instance; tools and structured output under grammars.

    Call options besides :class:`~models.grammar_chat.GrammarChat`'s: ``response_format`` (``{"type":
    "json_object", "schema": ...}``), ``grammar`` (GBNF text) and ``seed`` (this call's sampling seed).
    """

    model_path: str
    """Path of the GGUF file."""
    spec_name: str = ""
    """The spec string this model was built from, for usage records."""
    n_ctx: int = 4096
    """Context window the model is loaded with."""
    n_threads: int | None = None
    """CPU threads; default: every physical core (:func:`default_threads`)."""
    temperature: float = 0.2
    """Sampling temperature."""
    max_tokens: int = 512
    """Most tokens per answer."""
    seed: int = 0
    """Sampling seed."""
    kv_cache_mb: int = 256
    """Memory for saved KV states of interleaved conversations (0: off)."""
    lora_path: str = ""
    """A LoRA adapter GGUF applied on top (fine-tuned models); empty for none."""
    stream_frame_s: float = FRAME_S
    """Streamed text is sent at most once per this many seconds, the first token at once
    (:class:`~models.frames.Frames`); 0 sends every token as its own chunk."""

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    def parameters(self) -> int:
        """The parameter count from the GGUF's header (0 when it does not say)."""
        return int(gguf_info(Path(self.model_path)).get("parameters") or 0)

    @property
    def model_name(self) -> str:
        """The spec this model was built from, else its GGUF file's name."""
        return self.spec_name or Path(self.model_path).name

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "lora_path": self.lora_path}

    def loaded(self) -> Loaded:
        """The shared ``Llama`` (loaded on first use)."""
        return load(Path(self.model_path), self.n_ctx, self.n_threads, self.lora_path or None)

    def get_num_tokens(self, text: str) -> int:
        """Exact token count of ``text`` with the model's own tokenizer."""
        return len(self.loaded().llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Any = None) -> int:
        """Exact tokens of a chat prompt rendered with the model's template."""
        return len(self.loaded().render(to_chat(messages))[0])

    def complete_batch(self, prompts: list[Any], **options: Any) -> list[Any]:
        """Complete many prompts together on the shared model (:func:`models.batch.complete_batch`).

        ``max_tokens``, ``temperature`` and ``seed`` default to this model's own.
        """
        from models.batch import complete_batch

        defaults = {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed}
        return complete_batch(self, prompts, **{**defaults, **options})

    def loglikelihood(self, requests: list[tuple[str, list[str]]], **options: Any) -> list[list[Any]]:
        """Log-probabilities of continuations after their contexts (:func:`models.scoring.loglikelihood`)."""
        from models.scoring import loglikelihood

        return loglikelihood(self, requests, **options)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        loaded = self.loaded()
        chat, tools_grammar, reader = self._tool_turn(messages, kwargs)
        tokens, template_stop = loaded.render(chat)
        room = self.n_ctx - len(tokens)
        if room < 8:
            raise ContextOverflowError(len(tokens), self.n_ctx, model=self.model_name)
        params: dict[str, Any] = {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": min(kwargs.get("max_tokens") or self.max_tokens, room),
            "stop": [*(stop or []), *(self.stop or []), *template_stop],
            "seed": kwargs.get("seed", self.seed),
            "stream": True,
        }
        response_format = kwargs.get("response_format")
        if response_format and response_format.get("schema"):
            params["grammar"] = schema_grammar(json.dumps(response_format["schema"]))
        elif response_format:
            params["grammar"] = json_grammar()
        if kwargs.get("grammar"):
            params["grammar"] = compiled(kwargs["grammar"])
        if tools_grammar:
            params["grammar"] = compiled(tools_grammar)
        if "grammar" in params:
            check(params["grammar"], loaded.llm)
        completion, finish, started = 0, None, time.perf_counter()
        with loaded.lock:
            loaded.states.capacity = self.kv_cache_mb * 2**20
            loaded.states.prepare(loaded.llm, tokens)
            try:
                parts = loaded.llm.create_completion(tokens, **params)
                frames = Frames(self.stream_frame_s)
                for part in parts:
                    choice = part["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    delta = choice.get("text") or ""
                    text, calls = reader.feed(delta) if reader else (delta, [])
                    # Text waits for its frame; a tool call goes at once, after the text held before it.
                    text = frames.flush() + text if calls else frames.add(text)
                    if text or calls:
                        yield self._chunk(text, calls, run_manager)
                    if reader and reader.repeated:
                        finish = "stop"  # a tiny model repeating a call it just made: the reply is complete
                        parts.close()
                        break
                held = frames.flush()
                if held:
                    yield self._chunk(held, [], run_manager)
                # Tokens evaluated after the prompt are the answer's (the final sampled one is not evaluated).
                completion = max(loaded.llm.n_tokens - len(tokens) + (1 if finish == "length" else 0), 0)
            except ValueError as exc:
                if "context window" in str(exc):
                    raise ContextOverflowError(len(tokens), self.n_ctx, model=self.model_name) from exc
                raise ModelError(str(exc), provider="llamacpp", model=self.model_name) from exc
        usage: UsageMetadata = {"input_tokens": len(tokens), "output_tokens": completion,
                                "total_tokens": len(tokens) + completion}
        meta = {"finish_reason": "tool_calls" if reader and reader.called and finish == "stop" else finish,
                "model_name": self.model_name, "duration_s": time.perf_counter() - started}
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage, response_metadata=meta))

    @staticmethod
    def _chunk(text: str, calls: list[Any], run_manager: CallbackManagerForLLMRun | None) -> ChatGenerationChunk:
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=text, tool_call_chunks=calls))
        if run_manager:
            run_manager.on_llm_new_token(text, chunk=chunk)
        return chunk


def build(spec: ModelSpec, settings: Settings) -> ChatLlamaCpp:
    """A chat model for a resolved local spec."""
    if not spec.chat:
        raise ConfigError(
            f"{spec.spec} is a base model without a chat template",
            setting="model",
            hint="use it for completion and evaluation, or pick a chat model such as llamacpp/smollm2-135m",
        )
    return ChatLlamaCpp(
        model_path=str(spec.path),
        spec_name=spec.spec,
        n_ctx=spec.context_length,
        n_threads=settings.n_threads,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
        kv_cache_mb=settings.kv_cache_mb,
        lora_path=spec.extra.get("lora_path", ""),
        stream_frame_s=settings.stream_frame_ms / 1000,
    )
