"""The process's loaded llama.cpp models: one shared, locked instance per file, context, threads and adapter.

Loading is the slowest part of a one-shot command, and it is C work: :func:`preload` starts it
on a background thread as soon as a command knows its model, so it overlaps Python importing
the rest of Podium. Nothing here imports llama.cpp, LangChain or numpy until a model loads.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium.errors import ConfigError, PodiumError

if TYPE_CHECKING:
    from models.spec import ModelSpec


def _kv_states() -> Any:
    from models.kv_states import KVStates

    return KVStates(0)


@dataclass
class Loaded:
    """One ``Llama`` instance, its chat template, the lock that serializes its use, and saved KV states."""

    llm: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    states: Any = field(default_factory=lambda: _kv_states())
    """Saved KV states of conversations that take turns (:class:`models.kv_states.KVStates`)."""
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


_PRELOADS: list[threading.Thread] = []


@atexit.register
def _close_all() -> None:
    """Free models before interpreter teardown (llama-cpp-python's __del__ fails once globals are gone)."""
    for thread in _PRELOADS:
        thread.join(timeout=60)  # a model still loading is freed once it is in
    for loaded in list(_LOADED.values()):
        if loaded.engine is not None:
            loaded.engine.close()
        loaded.llm.close()
    _LOADED.clear()


def default_threads() -> int:
    """llama.cpp threads when ``PODIUM_N_THREADS`` is unset: every physical core this process may run on.

    Chosen by measurement (``bench/overhead.py``): on 2 cores raw llama-cpp-python streams SmolLM2
    fastest on both (163 tok/s, against about 140 on one), and once streamed text goes out in display
    frames (:mod:`models.frames`) Podium's own work between tokens is too small to need a core of its
    own. Hyper-threads of one core are counted once: llama.cpp's compute threads gain nothing from a
    sibling and wait for each other at every step.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package, core = ((topology / name).read_text().strip() for name in ("physical_package_id", "core_id"))
            cores.add((package, core))
        except OSError:  # no topology (not Linux, a restricted container): every CPU counts as a core
            cores.add((str(cpu), ""))
    return max(1, len(cores))


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


def preload(described: ModelSpec, n_threads: int | None) -> threading.Thread | None:
    """Start loading a described model in the background when it is a local GGUF; the thread, else ``None``.

    A later :func:`load` of the same model waits for it (one lock), then shares it. A model
    that cannot load is left alone: the turn that needs it reports the error.
    """
    path = described.path
    if described.provider != "llamacpp" or path is None:
        return None

    def run() -> None:
        try:
            load(Path(path), described.context_length, n_threads, described.extra.get("lora_path") or None)
        except PodiumError:
            pass

    thread = threading.Thread(target=run, name="podium-preload", daemon=True)
    _PRELOADS.append(thread)
    thread.start()
    return thread
