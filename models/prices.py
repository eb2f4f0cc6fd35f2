"""Prices of remote models in USD per 1M input/output tokens, overridable by the user."""

from __future__ import annotations

import json
from pathlib import Path

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


def load_prices(path: Path | None) -> dict[str, tuple[float, float]]:
    """The default price table updated from a JSON file ``{"model": [in, out], ...}``."""
    prices = dict(DEFAULT_PRICES)
    if path is None:
        return prices
    try:
        raw = json.loads(Path(path).read_text())
        for model, pair in raw.items():
            price_in, price_out = (float(x) for x in pair)
            if price_in < 0 or price_out < 0:
                raise ValueError(f"negative price for {model}")
            prices[model] = (price_in, price_out)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"malformed price table {path}: {exc}",
            setting="PODIUM_PRICES_FILE",
            hint='write {"model-name": [usd_per_1M_input, usd_per_1M_output], ...}',
        ) from exc
    return prices
