"""Prices of remote models, overridable by the user with ``PODIUM_PRICES_FILE``.

Token prices are USD per 1M input/output tokens; remote GPU models (Modal) may
also have a price per GPU-second. The file maps a model (bare name or full
``provider/name`` spec) to ``[in, out]``, ``[in, out, gpu_second]`` or
``{"input": .., "output": .., "gpu_second": ..}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from podium.errors import ConfigError

# Public list prices at the time of writing; users override them with PODIUM_PRICES_FILE.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o4-mini": (1.10, 4.40),
}

_HINT = 'write {"model-name": [usd_per_1M_input, usd_per_1M_output], ...} (optionally a third: usd_per_gpu_second)'


@dataclass(frozen=True)
class PriceTable:
    """Token prices and GPU-second prices by model name or spec."""

    tokens: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    """USD per 1M (input, output) tokens."""
    gpu_second: dict[str, float] = field(default_factory=dict)
    """USD per GPU-second of remote GPU models."""

    def lookup(self, spec: str, name: str) -> tuple[tuple[float, float] | None, float]:
        """Token prices (``None`` when unknown) and GPU-second price of a model; the full spec wins."""
        tokens = self.tokens.get(spec, self.tokens.get(name))
        return tokens, self.gpu_second.get(spec, self.gpu_second.get(name, 0.0))


def _entry(model: str, raw: Any) -> tuple[tuple[float, float] | None, float]:
    if isinstance(raw, dict):
        unknown = set(raw) - {"input", "output", "gpu_second"}
        if unknown:
            raise ValueError(f"{model}: unknown keys {sorted(unknown)}")
        values = [raw.get("input"), raw.get("output"), raw.get("gpu_second", 0.0)]
    elif isinstance(raw, list) and len(raw) in (2, 3):
        values = [*raw, 0.0][:3]
    else:
        raise ValueError(f"{model}: expected [in, out] or [in, out, gpu_second], got {raw!r}")
    if values[0] is None and values[1] is None:
        tokens = None
    else:
        tokens = (float(values[0] or 0.0), float(values[1] or 0.0))
    gpu = float(values[2] or 0.0)
    if gpu < 0 or (tokens and min(tokens) < 0):
        raise ValueError(f"negative price for {model}")
    return tokens, gpu


@lru_cache(maxsize=8)
def _read(path: Path, mtime: float) -> PriceTable:
    table = PriceTable()
    try:
        raw = json.loads(Path(path).read_text())
        if not isinstance(raw, dict):
            raise ValueError("the top level must be an object")
        for model, entry in raw.items():
            tokens, gpu = _entry(model, entry)
            if tokens is not None:
                table.tokens[model] = tokens
            if gpu:
                table.gpu_second[model] = gpu
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"PODIUM_PRICES_FILE: malformed price table {path}: {exc}", setting="PODIUM_PRICES_FILE",
                          hint=_HINT) from exc
    return table


def load_table(path: Path | None) -> PriceTable:
    """The default prices updated from the user's file (re-read when the file changes)."""
    if path is None:
        return PriceTable()
    try:
        mtime = Path(path).stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"PODIUM_PRICES_FILE: {path} cannot be read: {exc.strerror}", setting="PODIUM_PRICES_FILE",
                          hint="point PODIUM_PRICES_FILE at an existing JSON file, or unset it") from exc
    return _read(Path(path), mtime)


def load_prices(path: Path | None) -> dict[str, tuple[float, float]]:
    """Token prices only: ``{"model": (usd_per_1M_in, usd_per_1M_out)}``."""
    return dict(load_table(path).tokens)
