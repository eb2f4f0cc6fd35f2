"""Pure conversions for evaluation front ends: result lines, card lines, leaderboard and arena rows."""

from __future__ import annotations

from typing import Any

from ui.render import human_size


def result_line(data: dict[str, Any]) -> str:
    """One line for a benchmark run: score, interval, sample, speed, cost."""
    lo, hi = data["ci95"]
    sample = f"n={data['n']}" + (f" of {data['total']}" if data.get("total") and data["total"] > data["n"] else "")
    cost = "free (local)" if data.get("cost_usd") == 0 else "cost unknown" if data.get("cost_usd") is None \
        else f"${data['cost_usd']:.4f}"
    speed = f"{data['items_per_s']:.2f} items/s" if data.get("items_per_s") else "all cached"
    return (f"{data['benchmark']} · {data['model']} · {data['metric']} {data['score']:.2f}% "
            f"(95% CI {lo:.2f}-{hi:.2f}) · {sample} · {data['shots']}-shot · {data['seconds']:.1f}s · {speed} · "
            f"{data['tokens']} tokens · {cost}")


def calibration_line(note: dict[str, Any]) -> str:
    """Podium's score next to the published one."""
    verdict = "within" if note["within_ci"] else "outside"
    extra = f"; the model card's lighteval figure is {note['lighteval']}" if note.get("lighteval") else ""
    return (f"calibration: published {note['metric']} {note['published']:.2f} ({note['harness']}), Podium "
            f"{note['podium']:.2f} (95% CI {note['podium_ci95'][0]:.2f}-{note['podium_ci95'][1]:.2f}), "
            f"difference {note['difference']:+.2f}, {verdict} the interval{extra}. Source: {note['source']}")


def _number(value: Any) -> str:
    return "unknown" if value is None else human_size(value) if isinstance(value, int) and value >= 10_000 \
        else str(value)


def card_lines(card: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A card as (label, value, source) lines for a terminal or a table."""
    src = card["sources"]
    chin = card["chinchilla"]
    ratio = "unknown" if chin["tokens_per_parameter"] is None else (
        f"{chin['tokens_per_parameter']:g} tokens per parameter, {chin['times_compute_optimal']:g}x the "
        f"compute-optimal {chin['compute_optimal']}")
    price = "free (local)" if card["local"] else "unknown (not in the price table)" if not card["priced"] else \
        f"${card['price_in_per_1m']} in / ${card['price_out_per_1m']} out per 1M tokens"
    lines = [("model", f"{card['name']} ({card['spec']})", "")]
    for key, label in (("developer", "developer"), ("weights", "weights"), ("license", "license"),
                       ("release_date", "released"), ("knowledge_cutoff", "knowledge cutoff"),
                       ("parameters", "parameters"), ("training_tokens", "training tokens"),
                       ("context_length", "context length"), ("training_cost", "training cost")):
        lines.append((label, _number(card[key]), src.get(key, "")))
    lines.append(("Chinchilla ratio", ratio, chin["source"] if chin["tokens_per_parameter"] else ""))
    lines.append(("price", price, ""))
    if card.get("gguf"):
        g = card["gguf"]
        lines.append(("GGUF", f"{g['architecture']}, {g['layers']} layers, {g['quantization']}, "
                               f"{human_size(g['file_size'])}B", ""))
    measured = card["measured"]
    if measured.get("speed"):
        s = measured["speed"]
        lines.append(("speed (eval speed)", f"{_fmt(s['tokens_per_s'], ' tok/s')}, ttft {_fmt(s['ttft_s'], 's')}, "
                                            f"p50 {_fmt(s['p50_s'], 's')}, p95 {_fmt(s['p95_s'], 's')} "
                                            f"({s['runs']} runs)", ""))
        if s.get("rate_limits"):
            lines.append(("rate limits seen", ", ".join(f"{k}={v}" for k, v in s["rate_limits"].items()), ""))
    if measured.get("ledger"):
        led = measured["ledger"]
        lines.append(("ledger", f"{led['calls']} calls, {_fmt(led['tokens_per_s'], ' tok/s')}, ttft "
                                f"{_fmt(led['ttft_s'], 's')}, p50 {_fmt(led['p50_s'], 's')}, p95 "
                                f"{_fmt(led['p95_s'], 's')}", ""))
    for bench, result in measured.get("benchmarks", {}).items():
        lo, hi = result["ci95"]
        lines.append((bench, f"{result['metric']} {result['score']:.2f}% (95% CI {lo:.2f}-{hi:.2f}, n={result['n']})",
                      ""))
    if card["unknown"]:
        lines.append(("unknown", ", ".join(card["unknown"]), ""))
    return lines


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def leaderboard_rows(rows: list[dict[str, Any]], benchmarks: list[str]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the models x benchmarks table (``score [lo-hi]`` per cell)."""
    headers = ["model", *benchmarks, "average", "$ out/1M", "tok/s", "p50 s"]
    table = []
    for row in rows:
        cells = []
        for bench in benchmarks:
            cell = row["scores"].get(bench)
            cells.append(f"{cell['score']:.1f} [{cell['ci95'][0]:.1f}-{cell['ci95'][1]:.1f}]" if cell else "-")
        table.append([row["model"], *cells, "-" if row["average"] is None else f"{row['average']:.1f}",
                      "-" if row["price_out_per_1m"] is None else row["price_out_per_1m"],
                      "-" if row["tokens_per_s"] is None else row["tokens_per_s"],
                      "-" if row["p50_s"] is None else row["p50_s"]])
    return headers, table


ARENA_HEADERS = ["model", "rating", "95% CI", "votes", "wins", "judge votes"]
"""Columns of the arena table."""


def arena_rows(board: list[dict[str, Any]]) -> list[list[Any]]:
    """The arena leaderboard as table rows."""
    return [[r["model"], r["rating"], f"{r['ci95'][0]} to {r['ci95'][1]}", r["votes"], r["wins"], r["judge_votes"]]
            for r in board]


def reveal_text(model_a: str, model_b: str, winner: str) -> str:
    """What the arena shows after a vote: the names and the verdict."""
    verdict = {"model_a": f"you preferred **{model_a}**", "model_b": f"you preferred **{model_b}**",
               "tie": "a tie", "tie (bothbad)": "both bad"}[winner]
    return f"Model A was **{model_a}**, model B was **{model_b}**: {verdict}. Vote recorded."
