"""The small dataclass every provider describes its models with."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """What Podium knows about one model before it loads it.

    Routing reads the capability flags so tool work never goes to a model that
    cannot do it, and the ledger reads the prices.
    """

    spec: str
    """The full spec string, ``provider/name``."""
    provider: str
    """Registry key of the provider: ``llamacpp``, ``openai``, ``scripted``..."""
    name: str
    """The provider's own name for the model (alias, file path or remote id)."""
    chat: bool = True
    """Has a chat template; base models (completion only) have not."""
    tool_calling: bool = False
    """Native tool calling (otherwise tools go through grammar-constrained JSON)."""
    json_schema: bool = True
    """Can be forced to emit JSON that matches a schema."""
    constrained: bool = False
    """Its ``bind_tools`` takes Podium's options for constrained decoding: a GBNF ``grammar`` for the calls
    and few-shot ``examples`` (llama.cpp, see :mod:`models.grammar_chat`)."""
    context_length: int = 8192
    """Tokens the model holds (prompt plus answer)."""
    local: bool = True
    """Runs on this machine (no network, no bill)."""
    price_in: float = 0.0
    """USD per 1M prompt tokens."""
    price_out: float = 0.0
    """USD per 1M completion tokens."""
    path: Path | None = None
    """The GGUF file, for local models."""
    license: str = ""
    """License of the weights, where known."""
    description: str = ""
    """One line for listings."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Provider-specific facts (model internals read from GGUF metadata...)."""

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD cost of one call at this model's prices."""
        return (prompt_tokens * self.price_in + completion_tokens * self.price_out) / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the spec."""
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data
