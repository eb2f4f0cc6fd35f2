"""The leaderboard: models x benchmarks with intervals, as a table, a CSV and plots read at a glance.

Each (model, benchmark) cell is the run with the largest sample. ``normalized`` rescales a
score as the Open LLM Leaderboard does: random guessing is 0, a perfect score 100.
Plots: score per benchmark, quality against price per 1M tokens, quality against tokens/s,
and latency (p50 and p95 of ``podium eval speed``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.scores import Scores


@dataclass
class Board:
    """One row per model."""

    benchmarks: list[str]
    """Columns, in registry order."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    """``{"model", "scores": {bench: {...}}, "average", "price_in_per_1m", "price_out_per_1m", "tokens_per_s",
    "p50_s", "p95_s"}``."""
    normalized: bool = False
    """Whether scores are rescaled from the random baseline."""

    def to_json(self) -> list[dict[str, Any]]:
        """The ``podium eval leaderboard --json`` array."""
        return self.rows


def build(scores: Scores, prices: dict[str, tuple[float, float] | None] | None = None, *,
          normalized: bool = False) -> Board:
    """Assemble the board from recorded results and speed runs; ``prices`` maps a spec to (in, out) per 1M."""
    from tools.evals.benchmarks import BENCHMARKS

    best = scores.best()
    present = {b for _, b in best}
    columns = [b for b in BENCHMARKS if b in present] + sorted(present - set(BENCHMARKS))
    speeds = scores.speeds()
    models = sorted({m for m, _ in best} | set(speeds))
    board = Board(columns, normalized=normalized)
    for model in models:
        cells: dict[str, dict[str, Any]] = {}
        for bench in columns:
            result = best.get((model, bench))
            if result is None:
                continue
            value = result.normalized if normalized else result.score
            lo, hi = result.ci95
            if normalized:
                span = max(100 - result.random_baseline, 1e-9)
                lo, hi = (max(0.0, (x - result.random_baseline) / span * 100) for x in (lo, hi))
            cells[bench] = {"score": round(value, 2), "ci95": [round(lo, 2), round(hi, 2)], "n": result.n,
                            "metric": result.metric, "mode": result.mode}
        speed = speeds.get(model)
        price = (prices or {}).get(model)
        board.rows.append({
            "model": model, "scores": cells,
            "average": round(sum(c["score"] for c in cells.values()) / len(cells), 2) if cells else None,
            "price_in_per_1m": price[0] if price else None, "price_out_per_1m": price[1] if price else None,
            "tokens_per_s": round(speed.tokens_per_s, 1) if speed and speed.tokens_per_s else None,
            "ttft_s": speed.ttft_s if speed else None,
            "p50_s": speed.p50_s if speed else None, "p95_s": speed.p95_s if speed else None,
        })
    board.rows.sort(key=lambda r: -(r["average"] if r["average"] is not None else -1))
    return board


def _prices(settings: Any, models: list[str]) -> dict[str, tuple[float, float] | None]:
    """Price per 1M tokens (in, out) of each model; ``None`` for a model the registry cannot describe or price."""
    from models.registry import resolve
    from podium.errors import PodiumError

    prices: dict[str, tuple[float, float] | None] = {}
    for spec in models:
        try:
            described = resolve(spec, settings)
        except PodiumError:
            prices[spec] = None
            continue
        priced = described.local or described.extra.get("priced") is not False
        prices[spec] = (described.price_in, described.price_out) if priced else None
    return prices


def board_for(settings: Any, normalized: bool = False) -> Board:
    """The leaderboard of a data dir, with prices from the registry."""
    from models.scores import open_scores

    scores = open_scores(settings.data_dir)
    models = sorted({m for m, _ in scores.best()} | set(scores.speeds()))
    return build(scores, _prices(settings, models), normalized=normalized)


def to_csv(board: Board) -> str:
    """The board as CSV: one row per model, score and interval bounds per benchmark, then price and speed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["model"]
    for bench in board.benchmarks:
        header += [bench, f"{bench}_ci_lo", f"{bench}_ci_hi", f"{bench}_n"]
    header += ["average", "price_in_per_1m", "price_out_per_1m", "tokens_per_s", "ttft_s", "p50_s", "p95_s"]
    writer.writerow(header)
    for row in board.rows:
        line: list[Any] = [row["model"]]
        for bench in board.benchmarks:
            cell = row["scores"].get(bench)
            line += [cell["score"], *cell["ci95"], cell["n"]] if cell else ["", "", "", ""]
        line += [row[k] if row[k] is not None else "" for k in ("average", "price_in_per_1m", "price_out_per_1m",
                                                               "tokens_per_s", "ttft_s", "p50_s", "p95_s")]
        writer.writerow(line)
    return buffer.getvalue()


PLOTS = ("scores", "quality_vs_cost", "quality_vs_speed", "latency")
"""The plots, by file name (without ``.png``)."""


def figure(board: Board, kind: str) -> Any:
    """One matplotlib figure of the board (``kind`` in :data:`PLOTS`)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    ax = fig.subplots()
    label = "normalized score" if board.normalized else "score (%)"
    if kind == "scores":
        _bars(ax, board)
        ax.set_ylabel(label)
        ax.set_title("Score per benchmark (95 % CI)")
    elif kind in ("quality_vs_cost", "quality_vs_speed"):
        key = "price_out_per_1m" if kind == "quality_vs_cost" else "tokens_per_s"
        points = [(r[key], r["average"], r["model"]) for r in board.rows if r["average"] is not None
                  and r[key] is not None]
        for x, y, name in points:
            ax.scatter([x], [y], s=60)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_xlabel("USD per 1M output tokens" if key == "price_out_per_1m" else "tokens/s (podium eval speed)")
        ax.set_ylabel(f"average {label}")
        ax.set_title("Quality against cost" if kind == "quality_vs_cost" else "Quality against speed")
        if not points:
            ax.text(0.5, 0.5, "no model has both scores and " + ("a price" if key == "price_out_per_1m" else
                    "a speed run"), ha="center", va="center", transform=ax.transAxes)
    elif kind == "latency":
        timed = [r for r in board.rows if r["p50_s"] is not None]
        names = [r["model"] for r in timed]
        ax.barh(names, [r["p50_s"] for r in timed], label="p50")
        ax.barh(names, [max(r["p95_s"] - r["p50_s"], 0) for r in timed], left=[r["p50_s"] for r in timed],
                label="p95", alpha=0.5)
        ax.set_xlabel("seconds per request")
        ax.set_title("Latency (podium eval speed)")
        if timed:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no speed runs yet: podium eval speed --model SPEC", ha="center", va="center",
                    transform=ax.transAxes)
    else:
        raise ValueError(f"unknown plot {kind!r}; use one of {PLOTS}")
    return fig


def _bars(ax: Any, board: Board) -> None:
    n = max(len(board.rows), 1)
    width = 0.8 / n
    for k, row in enumerate(board.rows):
        xs: list[float] = []
        ys: list[float] = []
        errs: list[list[float]] = [[], []]
        for i, bench in enumerate(board.benchmarks):
            cell = row["scores"].get(bench)
            if cell:
                xs.append(i + k * width)
                ys.append(cell["score"])
                errs[0].append(max(cell["score"] - cell["ci95"][0], 0))
                errs[1].append(max(cell["ci95"][1] - cell["score"], 0))
        ax.bar(xs, ys, width, yerr=errs, capsize=3, label=row["model"])
    ax.set_xticks([i + width * (n - 1) / 2 for i in range(len(board.benchmarks))], board.benchmarks, rotation=30)
    if board.rows:
        ax.legend(fontsize=8)


def export(board: Board, folder: Path) -> list[Path]:
    """Write ``leaderboard.csv`` and one PNG per plot into ``folder``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "leaderboard.csv"]
    written[0].write_text(to_csv(board), encoding="utf-8")
    for kind in PLOTS:
        path = folder / f"{kind}.png"
        figure(board, kind).savefig(path)
        written.append(path)
    return written
