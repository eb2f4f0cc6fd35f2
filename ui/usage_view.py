"""The Usage tab's pure conversions: ledger totals as table rows (the numbers ``podium usage`` prints) and
per-day series for the plots."""

from __future__ import annotations

from typing import Any

from ui.cli_usage import money, outcome_text, total_of

BY = ("model", "node", "thread", "provider", "day")
"""What the table may group by (``podium usage --by``)."""
USAGE_HEADERS = ["calls", "outcomes", "prompt tok", "completion tok", "avg ttft s", "avg tok/s", "GPU-s", "cost USD"]
"""Columns after the group's own."""


def _num(value: float | None, digits: int = 0) -> Any:
    return "-" if value is None else round(value, digits) if digits else int(round(value))


def usage_rows(groups: list[dict[str, Any]], by: str) -> list[list[Any]]:
    """``Ledger.totals`` groups as table rows, then a total row (as the CLI's footer)."""
    rows = [[str(g[by] or "-"), g["calls"], outcome_text(g), _num(g["prompt_tokens"]), _num(g["completion_tokens"]),
             _num(g["ttft_s"], 2), _num(g["tokens_per_s"], 1), _num(g["gpu_s"], 1), money(g)] for g in groups]
    if groups:
        total = total_of(groups)
        rows.append(["total", total["calls"], "", total["prompt_tokens"], total["completion_tokens"], "", "",
                     round(total["gpu_s"], 1), money(total)])
    return rows


def daily_series(days: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-day totals (``by="day"``) as long-form rows for two plots: tokens (prompt and completion) and cost.

    A day whose calls include unpriced ones plots its priced part; the table says "unknown" beside it.
    """
    tokens, cost = [], []
    for g in sorted(days, key=lambda g: str(g["day"])):
        tokens += [{"day": g["day"], "kind": "prompt", "tokens": int(g["prompt_tokens"] or 0)},
                   {"day": g["day"], "kind": "completion", "tokens": int(g["completion_tokens"] or 0)}]
        cost.append({"day": g["day"], "cost_usd": float(g["priced_cost_usd"] or 0.0)})
    return tokens, cost


def summary(groups: list[dict[str, Any]], scope: str) -> str:
    """One Markdown line over the table: calls, tokens and cost of what it shows."""
    if not groups:
        return f"No model calls recorded {scope}."
    t = total_of(groups)
    return (f"**{t['calls']} calls** {scope}: {t['prompt_tokens']:,} prompt + {t['completion_tokens']:,} completion "
            f"tokens · {money(t)} (the same totals as `podium usage`)")
