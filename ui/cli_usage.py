"""``podium usage``: what every model call cost, from the ledger, as a table or JSON.

``--since`` takes a span back from now (``90s``, ``30m``, ``1h``, ``2d``, ``1w``)
or an ISO date or date-time (``2025-01-31``, ``2025-01-31T09:00``, local time).
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from podium.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SINCE_HINT = "use a span such as 90s, 30m, 1h, 2d or 1w, or an ISO date such as 2025-01-31"


def parse_since(text: str, now: float | None = None) -> float:
    """Epoch seconds for a ``--since`` value; a one-line :class:`ConfigError` when it is neither form."""
    now = time.time() if now is None else now
    span = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if span:
        return now - float(span.group(1)) * _UNITS[span.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ConfigError(f"--since: cannot read {text!r}", setting="--since", hint=_SINCE_HINT) from None


def outcome_text(group: dict[str, Any]) -> str:
    """``ok 1 · fell_back 3 (InternalServerError 3)``: outcomes, then the error classes seen."""
    outcomes = " · ".join(f"{name} {n}" for name, n in group["outcomes"].items())
    errors = ", ".join(f"{name} {n}" for name, n in group["errors"].items())
    return f"{outcomes} ({errors})" if errors else outcomes


def total_of(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Grand totals over the groups."""
    def add(key: str) -> float:
        return sum(g[key] or 0 for g in groups)

    outcomes: dict[str, int] = {}
    for group in groups:
        for name, n in group["outcomes"].items():
            outcomes[name] = outcomes.get(name, 0) + n
    unpriced = int(add("unpriced"))
    priced = round(add("priced_cost_usd"), 8)
    return {"calls": int(add("calls")), "prompt_tokens": int(add("prompt_tokens")),
            "completion_tokens": int(add("completion_tokens")), "cost_usd": None if unpriced else priced,
            "priced_cost_usd": priced, "unpriced": unpriced, "gpu_s": round(add("gpu_s"), 4), "outcomes": outcomes}


def money(group: dict[str, Any]) -> str:
    """Dollars, or "unknown" (with the priced part, if any) when some calls have no price: never a false $0."""
    priced = group.get("priced_cost_usd") or 0
    if not group.get("unpriced"):
        return f"${priced:.6f}"
    return f"${priced:.6f} + unknown" if priced else "unknown"


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def render(groups: list[dict[str, Any]], by: str, *, width: int = 150) -> Table:
    """The usage table: one row per group and a total row; below 120 columns, the essential columns only."""
    columns = [by, "calls", "outcomes", "prompt tok", "completion tok", "avg ttft", "avg tok/s", "GPU-s", "cost USD"]
    if width < 120:
        columns = [by, "calls", "outcomes", "tokens in/out", "tok/s", "cost USD"]
    table = Table(*columns, show_footer=True)
    for g in groups:
        cells = {by: escape(str(g[by] or "-")), "calls": str(g["calls"]), "outcomes": escape(outcome_text(g)),
                 "prompt tok": _num(g["prompt_tokens"]), "completion tok": _num(g["completion_tokens"]),
                 "tokens in/out": f"{_num(g['prompt_tokens'])}/{_num(g['completion_tokens'])}",
                 "avg ttft": _num(g["ttft_s"], "{:.2f}s"), "avg tok/s": _num(g["tokens_per_s"], "{:.1f}"),
                 "tok/s": _num(g["tokens_per_s"], "{:.1f}"), "GPU-s": _num(g["gpu_s"], "{:.1f}"),
                 "cost USD": money(g)}
        table.add_row(*(cells[c] for c in columns))
    total = total_of(groups)
    footer = {by: "total", "calls": str(total["calls"]), "prompt tok": _num(total["prompt_tokens"]),
              "completion tok": _num(total["completion_tokens"]), "GPU-s": _num(total["gpu_s"], "{:.1f}"),
              "tokens in/out": f"{_num(total['prompt_tokens'])}/{_num(total['completion_tokens'])}",
              "cost USD": money(total)}
    for column, name in zip(table.columns, columns, strict=True):
        column.footer = footer.get(name, "")
    for column in table.columns[:3]:
        column.overflow = "fold"  # a long model spec, thread id or error class wraps inside its column
    return table


def _require_thread(settings: Any, thread: str) -> None:
    """Raise the usual unknown-thread error unless the checkpointer has ``thread``."""
    from graph.checkpoint import latest_checkpoint_id, open_checkpointer
    from podium.errors import NotFoundError

    if latest_checkpoint_id(open_checkpointer(settings), thread) is None:
        raise NotFoundError("thread", thread, hint="list threads with `podium threads`, or omit --thread for all")


def register(app: typer.Typer) -> None:
    """Add ``podium usage`` to the CLI."""

    @app.command()
    def usage(
        thread: Annotated[str | None, typer.Option("--thread", "-t", help="Only this thread's calls.")] = None,
        since: Annotated[str | None, typer.Option("--since", help="Only calls since: 1h, 2d, 2025-01-31...")] = None,
        by: Annotated[str, typer.Option("--by", help="Group by model, node, thread, provider or day.")] = "model",
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    ) -> None:
        """Totals of every model call in the ledger: calls, outcomes, tokens, speed and cost."""
        from models.ledger import GROUPS, open_ledger
        from podium.settings import load_settings

        if by not in GROUPS:
            raise ConfigError(f"--by: cannot group by {by!r}", setting="--by", hint=f"use one of {', '.join(GROUPS)}")
        start = parse_since(since) if since else None
        settings = load_settings()
        ledger = open_ledger(settings)
        groups = ledger.totals(by=by, thread=thread, since=start)
        if thread and not groups and not ledger.totals(thread=thread):
            _require_thread(settings, thread)  # a typo is an error; a thread without model calls is not
        if as_json:
            data = {"by": by, "thread": thread, "since": datetime.fromtimestamp(start).isoformat() if start else None,
                    "groups": groups, "total": total_of(groups)}
            sys.stdout.write(json.dumps(data, default=str) + "\n")
            return
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        if not groups:
            scope = (f" for thread {thread}" if thread else "") + (f" since {since}" if since else "")
            err.print(f"no model calls recorded{scope}", markup=False)
            return
        out = Console(highlight=False)
        out.print(render(groups, by, width=out.width))
        if any(g["unpriced"] for g in groups):
            names = ", ".join(str(g[by]) for g in groups if g["unpriced"]) if by == "model" else "some remote models"
            err.print(f"cost unknown: no price for {names}; add them to PODIUM_PRICES_FILE", style="dim",
                      markup=False)
