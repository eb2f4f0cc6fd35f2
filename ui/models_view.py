"""The Models tab's pure conversions: registry entries as table rows and as picker choices."""

from __future__ import annotations

from typing import Any

from ui.render import human_size, model_row

MODEL_HEADERS = ["spec", "architecture", "parameters", "layers", "context", "quantization", "size", "license",
                 "$ in / 1M", "$ out / 1M", "local", "tools", "status"]
"""Columns of the Models tab's table."""
MODEL_WIDTHS: list[str | int] = [
    "210px", "110px", "105px", "70px", "85px", "120px", "85px", "110px", "80px", "80px", "65px", "80px",
    "360px"]
"""Column widths: every header on one line and the status readable; a narrow screen scrolls the table."""


def model_table(items: list[Any], problems: dict[str, str] | None = None) -> list[list[Any]]:
    """Registry entries (``ModelSpec`` or the error that prevents one) as table rows.

    ``problems`` maps specs that resolve but cannot be built (a provider without a key) to why.
    """
    problems = problems or {}
    rows = []
    for item in items:
        if isinstance(item, Exception):
            message = item.one_line() if hasattr(item, "one_line") else str(item)
            blank = ["-"] * (len(MODEL_HEADERS) - 2)
            rows.append([getattr(item, "spec", "?"), *blank, "unavailable: " + message])
            continue
        r = model_row(item)
        rows.append([
            r["spec"], r["architecture"] or "-", human_size(r["parameters"]), r["layers"] or "-",
            r["context_length"], r["quantization"] or "-",
            human_size(r["file_size"]) + "B" if r["file_size"] else "-",
            r["license"] or "-", r["price_in_per_1m"], r["price_out_per_1m"], "yes" if r["local"] else "no",
            "native" if r["tool_calling"] else "grammar" if r["json_schema"] else "no",
            "unavailable: " + problems[r["spec"]] if r["spec"] in problems else "ready",
        ])
    return rows


def model_choices(items: list[Any], default: str, problems: dict[str, str] | None = None) -> list[str]:
    """Usable model specs for the picker, the session default first."""
    ready = [i.spec for i in items if not isinstance(i, Exception) and i.spec not in (problems or {})]
    return [default, *[s for s in ready if s != default]]
