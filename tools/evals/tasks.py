"""What a benchmark is: its items, how a prompt is built, how an answer is scored.

Prompts follow lm-evaluation-harness's templates (``Question: ...\\nAnswer:`` for ARC,
the preprocessed context for HellaSwag...), so scores can be put next to published ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.errors import ConfigError


@dataclass
class Item:
    """One benchmark question, ready to be scored."""

    id: str
    """Stable identifier within the benchmark (cache key, sample order)."""
    prompt: str
    """Multiple choice: the shared context; generative: the whole prompt."""
    choices: list[str] = field(default_factory=list)
    """Multiple choice: the continuations scored after ``prompt`` (without the delimiter)."""
    gold: Any = None
    """Multiple choice: index of the right choice; generative: what the scorer compares against."""
    delimiter: str = " "
    """Put between context and continuation (lm-evaluation-harness's ``target_delimiter``)."""
    contexts: list[str] = field(default_factory=list)
    """Winogrande's form: one context per choice, all continued by ``choices[0]``."""
    question: str = ""
    """Multiple choice asked generatively: the question with lettered options."""
    stop: list[str] = field(default_factory=list)
    """Generative: stop strings."""
    chat_prompt: str = ""
    """Generative, asked as a chat turn (``--chat``, remote models): the message, where ``prompt`` only makes
    sense continued as raw text (HumanEval's bare function header); empty: ``prompt``."""
    chat_stop: list[str] | None = None
    """Stop strings for that chat turn; ``None``: ``stop``."""
    max_tokens: int = 256
    """Generative: most tokens to generate."""
    baseline: float = 0.0
    """Score of random guessing on this item (0 to 1)."""
    group: str = ""
    """Subtask (MMLU subject, BBH task), for per-task scores."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What a scorer needs besides ``gold`` (tests of a coding task...)."""


Scorer = Callable[[Item, str], dict[str, float]]
"""Scores one generated answer: metric name to value (0 or 1, or an F1 in between)."""
Loader = Callable[[Path | None, int, int], list[Item]]
"""Builds the items from the data (``--data`` path or installed package), the shot count and the seed."""


@dataclass(frozen=True)
class Benchmark:
    """A benchmark Podium can run."""

    name: str
    """Its name on the command line."""
    title: str
    """One line for listings."""
    kind: str
    """``mc`` (log-likelihood multiple choice) or ``gen`` (generated answers)."""
    metric: str
    """The metric reported as ``score``."""
    load: Loader
    """Reads the data and builds the items."""
    shots: int = 0
    """Default few-shot examples (lm-evaluation-harness's defaults, or the published setting)."""
    work: str = "knowledge"
    """Kind of work it measures, for the ``best-for`` policy: knowledge, maths, code, reasoning, instructions."""
    score: Scorer | None = None
    """Generative benchmarks: scores one answer."""
    source: str = ""
    """Where the data comes from (package or ``--data``)."""


def fewshot_block(examples: list[tuple[str, str]], delimiter: str = " ") -> str:
    """lm-evaluation-harness's few-shot text: ``text<delimiter>target`` examples separated by blank lines."""
    return "".join(f"{text}{delimiter}{target}\n\n" for text, target in examples)


def fewshot_pool(pool: list[Any], shots: int, index: int, seed: int, *, first_n: bool = False) -> list[Any]:
    """The examples shown before item ``index``: the first ``shots`` of a dedicated split (``first_n``), or a
    seeded sample of the other items (the item itself is never its own example)."""
    if shots <= 0:
        return []
    if first_n:
        return pool[:shots]
    others = [p for i, p in enumerate(pool) if i != index]
    return random.Random(f"{seed}:{index}").sample(others, min(shots, len(others)))


def sample(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    """A fixed seeded sample of ``limit`` items in benchmark order (all items without a limit)."""
    if not limit or limit >= len(items):
        return list(items)
    if limit < 1:
        raise ConfigError(f"--limit must be at least 1 ({limit})", setting="--limit", hint="use --limit 20")
    chosen = set(random.Random(seed).sample(range(len(items)), limit))
    return [item for i, item in enumerate(items) if i in chosen]


def letters(n: int) -> list[str]:
    """``A``, ``B``, ... for ``n`` options."""
    return [chr(ord("A") + i) for i in range(n)]


def lettered(question: str, options: list[str]) -> str:
    """A question with lettered options, for models asked to answer with a letter."""
    lines = "\n".join(f"{letter}. {text}" for letter, text in zip(letters(len(options)), options, strict=True))
    return f"{question.strip()}\n{lines}"
