"""Counting tokens offline when a model cannot count its own (a remote model, one that failed to build)."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

_VOCAB_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _vocab() -> Any:
    """The embedded SmolLM2's tokenizer alone (no weights, no context; loads in ~0.15 s)."""
    import llama_cpp
    from llama_cpp._internals import LlamaModel  # the public Llama class would also build a context

    from models.local import ALIASES

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    return LlamaModel(path_model=str(ALIASES["smollm2-135m"].locate(None)), params=params, verbose=False)


def count_tokens(text: str) -> int:
    """Tokens of ``text`` by a byte-level BPE that works offline.

    Exact for SmolLM2 behind a llama.cpp server; for other vocabularies a close
    estimate (tiktoken would download its tables at run time, which Podium never does).
    """
    if not text:
        return 0
    with _VOCAB_LOCK:
        return len(_vocab().tokenize(text.encode("utf-8"), add_bos=False, special=True))
