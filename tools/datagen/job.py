"""What one dataset generation is asked to make: every CLI flag of ``podium datagen`` lands in a :class:`Job`.

Below the engine and the row makers, so both can name it without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Job:
    """What to generate and how (every CLI flag lands here)."""

    description: str
    n: int
    out: Path
    fmt: str = "jsonl"
    mode: str = "records"
    """``records`` (fields), ``chat`` (conversations) or ``docs`` (question-answer pairs from passages)."""
    schema: dict[str, Any] | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0
    topics: list[str] = field(default_factory=list)
    personas: list[str] = field(default_factory=list)
    diversity: bool = True
    temperature: tuple[float, float] | None = None
    dedup: float | None = 0.92
    meta: bool = True
    max_cost: float | None = None
    concurrency: int = 1
    batch: int = 1
    """Rows whose calls a local llama.cpp model decodes together (1: one after another)."""
    max_failures: int = 20
    repairs: int = 1
    max_tokens: int | None = None
    magpie: bool = False
    style: str | None = None
    style_shots: list[list[dict[str, str]]] = field(default_factory=list)
    system: str | None = None
    turns: int = 1
    collection: str | None = None
    resume: bool = False
    force: bool = False

    def settings_dict(self) -> dict[str, Any]:
        """What a resumed run must agree on, and what the report and the card show."""
        keys = ("description", "mode", "schema", "seed", "diversity", "dedup", "magpie", "style", "system", "turns",
                "collection", "fmt", "n")
        return {k: v for k, v in asdict(self).items() if k in keys}
