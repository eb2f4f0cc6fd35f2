"""Diversity on purpose, and how much of it a dataset has.

Controls: seed topics (given, or generated first), personas, a temperature schedule,
label-balanced rows (each enum value in turn) and a per-row variation of the prompt.
Measures: distinct-n (share of unique n-grams), embedding spread (mean cosine distance
between rows) and per-field distributions.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from podium.errors import ConfigError

PERSONAS = (
    "a busy professional writing in a hurry", "a first-time user who is unsure of the terms",
    "a detail-oriented engineer", "a polite retiree", "a frustrated customer", "a student on a tight budget",
    "a non-native English speaker", "a manager writing for their team", "a cheerful small-business owner",
    "a skeptical expert", "a teacher explaining to others", "someone writing from a phone, briefly",
)
"""Voices rows are written in when ``--personas`` names none."""
ANGLES = (
    "an unusual case", "a typical case", "an edge case", "a specific, concrete situation", "a short one",
    "a detailed one", "one with numbers or names in it", "one that is urgent", "one with a positive tone",
    "one with a negative tone", "one that mentions a date", "one that asks a question",
)
"""Per-row variations of the request, combined with the row's topic and persona."""
TEMPERATURES = (0.7, 1.0)
"""The default temperature schedule: rows spread evenly over this range."""
_GOLDEN = (math.sqrt(5) - 1) / 2


def read_list(value: str | None, option: str) -> list[str]:
    """A ``--topics``/``--personas`` value: a file with one item a line, or a comma-separated list."""
    if not value or not value.strip():
        return []
    path = Path(value.removeprefix("@")).expanduser()
    if value.startswith("@") or (len(value) < 4096 and path.is_file()):
        try:
            items = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{option}: cannot read {path} ({exc})", setting=option,
                              hint="give a UTF-8 file with one item a line, or a comma-separated list") from None
    else:
        items = value.split(",")
    items = list(dict.fromkeys(i.strip() for i in items if i.strip()))
    if not items:
        raise ConfigError(f"{option}: no items in {value!r}", setting=option, hint="e.g. billing,login,exports")
    return items


def temperature_for(index: int, schedule: tuple[float, float]) -> float:
    """Row ``index``'s temperature: a low-discrepancy walk over the schedule's range (evenly spread)."""
    low, high = schedule
    return round(low + (high - low) * ((index * _GOLDEN) % 1.0), 3)


def parse_schedule(text: str | None, default: float) -> tuple[float, float]:
    """``--temperature 0.8`` or ``0.6..1.1``; each between 0 and 2."""
    if text is None:
        return (default, default)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:\.\.\s*(\d+(?:\.\d+)?)\s*)?", text)
    if not match:
        raise ConfigError(f"--temperature: cannot read {text!r}", setting="--temperature",
                          hint="a number such as 0.8, or a range such as 0.6..1.1")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    if not 0 <= low <= high <= 2:
        raise ConfigError(f"--temperature: {text} is not within 0..2 (low first)", setting="--temperature",
                          hint="temperatures go from 0 (always the same) to 2 (most random)")
    return (low, high)


def pick(items: Sequence[Any], index: int, salt: int) -> Any:
    """Item for row ``index``: every item once per round, in an order shuffled per round."""
    if not items:
        return None
    round_, slot = divmod(index, len(items))
    order = list(range(len(items)))
    random.Random(salt * 1_000_003 + round_).shuffle(order)
    return items[order[slot]]


def balanced_labels(schema: dict[str, Any], index: int, salt: int) -> dict[str, Any]:
    """The enum value each label field takes in row ``index``, so every value comes up equally often."""
    fixed = {}
    for offset, (name, prop) in enumerate(schema.get("properties", {}).items()):
        values = prop.get("enum") if isinstance(prop, dict) else None
        if values and len(values) > 1:
            fixed[name] = pick(values, index, salt + 7919 * offset)
    return fixed


# -- measures ---------------------------------------------------------------------------------

def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique word n-grams over all n-grams (1.0: nothing repeats)."""
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        words = re.findall(r"\w+", text.lower())
        grams.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    total = sum(grams.values())
    return round(len(grams) / total, 4) if total else 0.0


def spread(vectors: np.ndarray, sample: int = 2000) -> float | None:
    """Mean cosine distance between rows' normalized embeddings (0: all alike; ~1: unrelated)."""
    if vectors is None or len(vectors) < 2 or vectors.shape[1] < 2:
        return None
    rows = vectors[:sample]
    sims = rows @ rows.T
    count = len(rows)
    mean_sim = (sims.sum() - np.trace(sims)) / (count * (count - 1))
    return round(float(1 - mean_sim), 4)


def distributions(rows: Sequence[dict[str, Any]], schema: dict[str, Any], top: int = 20) -> dict[str, Any]:
    """Per field: counts of labels/booleans, or min/mean/max of numbers and of text lengths."""
    out: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        values = [row[name] for row in rows if name in row]
        if not values:
            continue
        if "enum" in prop or prop.get("type") == "boolean":
            counts = Counter(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
            out[name] = {"kind": "label", "counts": dict(counts.most_common(top))}
        elif prop.get("type") in ("integer", "number"):
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            out[name] = {"kind": "number", **_stats(numbers), "values": numbers}
        elif prop.get("type") == "array":
            out[name] = {"kind": "list", **_stats([len(v) for v in values if isinstance(v, list)])}
        else:
            lengths = [len(v) for v in values if isinstance(v, str)]
            out[name] = {"kind": "text", **_stats(lengths), "lengths": lengths}
    return out


def _stats(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"min": 0, "mean": 0, "max": 0}
    return {"min": min(values), "mean": round(sum(values) / len(values), 2), "max": max(values)}
