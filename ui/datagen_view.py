"""Pure conversions for the Datasets tab: the field table editor, row previews and progress lines."""

from __future__ import annotations

import json
from typing import Any

from tools.datagen.fields import parse_fields
from tools.datagen.intent import _field_names, field_type

FIELD_HEADERS = ["name", "type", "min", "max", "values"]
"""Columns of the field editor: bounds go in min/max, enum values comma-separated in values."""
FIELD_TYPES = ["str", "int", "float", "bool", "enum", "list[str]"]
MODES = {"Records (fields)": "records", "Chat conversations": "chat", "QA from documents": "docs"}
"""The tab's mode choices and the engine mode each means."""
EXAMPLE_FIELDS = [["subject", "str", "5", "120", ""], ["body", "str", "20", "600", ""],
                  ["priority", "enum", "", "", "low, medium, high"]]
"""What the editor starts with: the README's ticket example."""


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # empty cells arrive as None or NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def table_to_spec(rows: Any) -> str:
    """The ``--fields`` spec of the editor's rows (blank rows skipped); errors come from the parser."""
    rows = rows.values.tolist() if hasattr(rows, "values") else rows or []
    parts = []
    for row in rows:
        name, kind, low, high, values = ([_cell(c) for c in row] + [""] * 5)[:5]
        if not name and not kind:
            continue
        kind = kind or "str"
        if kind == "enum":
            parts.append(f"{name}:enum[{','.join(v.strip() for v in values.split(','))}]")
        elif low or high:
            parts.append(f"{name}:{kind}({low}..{high})")
        else:
            parts.append(f"{name}:{kind}")
    return ", ".join(parts)


def spec_to_table(spec: str) -> list[list[str]]:
    """Editor rows for a ``--fields`` spec."""
    rows = []
    for name, prop in parse_fields(spec)["properties"].items():
        kind = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "array": "list[str]"}.get(
            prop.get("type", ""), "str")
        if "enum" in prop:
            rows.append([name, "enum", "", "", ", ".join(prop["enum"])])
            continue
        low = prop.get("minLength", prop.get("minimum", prop.get("minItems")))
        high = prop.get("maxLength", prop.get("maximum", prop.get("maxItems")))
        rows.append([name, kind, _cell(low), _cell(high), ""])
    return rows


def suggest_fields(description: str) -> list[list[str]]:
    """Editor rows guessed from "... with subject, body and priority" in a description (empty when none)."""
    lowered = description.lower()
    if " with " not in lowered:
        return []
    names = _field_names(description[lowered.index(" with ") + 6:])
    return spec_to_table(", ".join(f"{n}:{field_type(n)}" for n in names)) if names else []


def preview_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells for showing rows (nested values as compact JSON, provenance left out)."""
    headers = list(dict.fromkeys(k for r in rows for k in r if k != "_meta"))
    cells = [[v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in
              (r.get(h, "") for h in headers)] for r in rows]
    return headers, cells


def progress_line(stats: Any) -> str:
    """One Markdown line: accepted of total, rejected, rows/s, ETA, cost."""
    eta = f"{stats.eta_s:.0f} s" if stats.eta_s is not None else "?"
    cost = "cost unknown" if stats.cost_usd is None else "free (local)" if stats.cost_usd == 0 \
        else f"${stats.cost_usd:.4f}"
    return (f"**{stats.rows} / {stats.n} rows** · {stats.invalid} invalid · {stats.duplicate} duplicate · "
            f"{stats.rows_per_s:.2f} rows/s · ETA {eta} · {cost}")
