"""What a run needs before it starts: an architecture transformers can load, enough memory, Modal."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from podium.errors import ConfigError

GIB = 2**30
_RUNTIME_BYTES = 700 * 2**20  # torch, transformers and llama.cpp themselves, measured on SmolLM2 runs


@lru_cache(maxsize=1)
def supported_architectures() -> tuple[str, ...]:
    """GGUF architectures transformers can load (dequantize) for training."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return tuple(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ("general", "tokenizer"))


def available_memory() -> int:
    """Bytes of memory the system can give now (``MemAvailable``; free pages where that is unknown)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def estimate_memory(info: dict[str, Any], batch_size: int, seq_len: int) -> int:
    """Peak bytes of a CPU LoRA run: float32 weights (twice while dequantizing), activations, logits.

    Activations: about 30 floats per hidden unit per layer per token kept for the backward
    pass; logits: three float copies of batch x sequence x vocabulary (logits, softmax, gradient).
    """
    params = int(info.get("parameters") or 0)
    layers, hidden = int(info.get("layers") or 0), int(info.get("embedding_size") or 0)
    vocab = int(info.get("vocab_size") or 0)
    tokens = batch_size * seq_len
    return 2 * 4 * params + tokens * (30 * layers * hidden + 3 * vocab) * 4 + _RUNTIME_BYTES


def check_memory(info: dict[str, Any], batch_size: int, seq_len: int) -> dict[str, float]:
    """Refuse a run whose estimate exceeds the memory available, with both figures; else the figures in GiB."""
    need, have = estimate_memory(info, batch_size, seq_len), available_memory()
    figures = {"estimate_gib": round(need / GIB, 2), "available_gib": round(have / GIB, 2)}
    if need > 0.9 * have:
        raise ConfigError(f"this run needs about {need / GIB:.1f} GiB of memory and {have / GIB:.1f} GiB is "
                          "available", setting="--batch-size",
                          hint="lower --batch-size or --max-length, pick a smaller base, or train on a GPU "
                               "with --remote modal")
    return figures


def modal_ready() -> Any:
    """The ``modal`` module once it is installed and has a token; a one-line error saying which is missing."""
    try:
        import modal
    except ImportError:
        raise ConfigError("Modal is not installed", setting="--remote",
                          hint="pip install 'podium[modal]', then `modal token new`") from None
    from modal.config import config

    if not (config.get("token_id") and config.get("token_secret")):
        raise ConfigError("Modal is not logged in (no token in ~/.modal.toml or MODAL_TOKEN_ID/MODAL_TOKEN_SECRET)",
                          setting="--remote", hint="run `modal token new` (or set MODAL_TOKEN_ID and "
                                                   "MODAL_TOKEN_SECRET), then try again")
    return modal
