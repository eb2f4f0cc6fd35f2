"""The Models tab's pure conversions: registry entries as table rows and as picker choices."""

from __future__ import annotations

from typing import Any

from ui.render import human_size, model_row

MODEL_HEADERS = ["spec", "status", "architecture", "parameters", "layers", "context", "quantization", "size",
                 "license", "$ in / 1M", "$ out / 1M", "local", "tools"]
"""Columns of the Models tab's table: whether a model can be used comes right after its name."""
MODEL_WIDTHS: list[str | int] = [
    "200px", "250px", "125px", "110px", "70px", "80px", "125px", "80px", "100px", "75px", "80px", "65px", "75px"]
"""Column widths: every header on one line, the status beside the spec; the internals scroll on a narrow screen."""


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
            rows.append([getattr(item, "spec", "?"), "unavailable: " + message, *blank])
            continue
        r = model_row(item)
        rows.append([
            r["spec"], "unavailable: " + problems[r["spec"]] if r["spec"] in problems else "ready",
            r["architecture"] or "-", human_size(r["parameters"]), r["layers"] or "-",
            r["context_length"], r["quantization"] or "-",
            human_size(r["file_size"]) + "B" if r["file_size"] else "-",
            r["license"] or "-", r["price_in_per_1m"], r["price_out_per_1m"], "yes" if r["local"] else "no",
            "native" if r["tool_calling"] else "grammar" if r["json_schema"] else "no",
        ])
    return rows


def model_choices(items: list[Any], default: str, problems: dict[str, str] | None = None) -> list[str]:
    """Usable model specs for the picker, the session default first."""
    ready = [i.spec for i in items if not isinstance(i, Exception) and i.spec not in (problems or {})]
    return [default, *[s for s in ready if s != default]]
