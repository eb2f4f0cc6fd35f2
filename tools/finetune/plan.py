"""A fine-tuning run's request and its checked plan, below the pipeline and the Modal path that both use them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.settings import Settings
from tools.finetune import data as ftdata
from tools.finetune.train import TrainConfig

Event = Callable[[dict[str, Any]], None]


@dataclass
class Request:
    """What ``podium finetune run`` (or the Fine-tune tab) asks for."""

    base: str
    """Base model spec (a llama.cpp GGUF)."""
    data: Path
    """Chat JSONL."""
    name: str
    """Registry name of the result."""
    config: TrainConfig = field(default_factory=TrainConfig)
    """Hyperparameters."""
    val: Path | None = None
    """Held-out conversations; else ``val_fraction`` of ``data``."""
    val_fraction: float = 0.2
    """Share of ``data`` held out when ``val`` is not given."""
    max_length: int = 512
    """Tokens per example; longer ones are cut (and reported)."""
    merge: str | None = None
    """Also write a merged GGUF: ``f16``, ``q8_0`` or ``q4_k_m``."""
    eval_limit: int = 20
    """Held-out prompts answered by each model for exact match."""
    benchmarks: list[str] = field(default_factory=list)
    """``podium eval`` benchmarks scored for base and fine-tune after registration."""
    benchmark_limit: int = 50
    """Items per benchmark."""


@dataclass
class Plan:
    """A checked request: resolved base, tokenized splits and their statistics."""

    request: Request
    base_path: Path
    architecture: str
    tokenizer: ftdata.ChatTokenizer
    train: list[dict[str, list[int]]]
    val: list[dict[str, list[int]]]
    val_conversations: list[Any]
    stats: dict[str, Any]
    steps: int
    memory: dict[str, float]
    settings: Settings
