"""Long threads: per-turn overhead and checkpoint storage as one thread grows (issue 12, point 4).

One process, one thread, ``PodiumApp.ask`` with a scripted model (no model time: what is left is
Podium's and LangGraph's own work: routing, checkpoints, the ledger, the thread index). At turns
1, 100, 200 and 400 (or the ``--turns`` given) it prints the wall and CPU milliseconds of a turn
(the median of the 5 turns ending there; turn 1: turns 1-5, after a warm-up turn on another
thread) and the checkpoint store's size: on disk (SQLite file after a WAL checkpoint, or the
Postgres tables), per turn on average, and added per turn over the last window. Goals for a
400-turn thread: at most 10 ms a turn, flat, and at most 20 MB.

    python bench/growth.py [--turns 400] [--answer-words 0] [--postgres URL]

``--answer-words N`` answers every turn with N words instead of echoing the message (a more
realistic answer size). CPU milliseconds are less disturbed by other load than wall time.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.contract import TurnOptions  # noqa: E402
from graph.app import PodiumApp  # noqa: E402
from models.scripted import register_script  # noqa: E402
from podium.settings import Settings  # noqa: E402

WINDOW = 5
MARKS = (1, 100, 200, 400)
GREETINGS = ("hello", "thanks", "hi there", "ok", "great", "cool", "good morning", "thank you so much")
"""Messages routed by rule (small talk): no embedding model runs, so the figures are the graph's own."""
MB = 1024 * 1024


def store_bytes(settings: Settings) -> int:
    """Bytes the checkpoint store takes: the SQLite file after folding its WAL in, or the Postgres tables."""
    if settings.postgres_url:
        import psycopg

        with psycopg.connect(settings.postgres_url) as conn:
            row = conn.execute("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
                               "AND n.nspname = current_schema() AND c.relname LIKE 'checkpoint%'").fetchone()
            return int(row[0]) if row else 0
    path = settings.data_dir / "checkpoints.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def marks(turns: int) -> list[int]:
    """The turns to report: the issue's marks up to ``turns``, and ``turns`` itself."""
    return sorted({m for m in MARKS if m <= turns} | {turns})


def run(turns: int, answer_words: int, postgres: str | None) -> list[dict[str, float]]:
    """Play ``turns`` turns on one thread; one row of figures per mark."""
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="podium-growth-")), temperature=0.0,
                        postgres_url=postgres)
    model = "scripted/echo"
    if answer_words:
        words = " ".join(f"word{i % 97}" for i in range(answer_words))
        model = register_script("growth", [words] * (turns + 1))
    app = PodiumApp(settings)
    options = TurnOptions(model=model)
    warm = app.ask("hello", options=options)  # imports, first-use caches: not part of any turn below
    app.checkpointer.delete_thread(warm.thread_id)
    app.thread_index.forget(warm.thread_id)
    base = store_bytes(settings)
    wall: list[float] = []
    cpu: list[float] = []
    sizes: dict[int, int] = {0: base}
    thread: str | None = None
    wanted = set(marks(turns)) | {max(m - WINDOW, 0) for m in marks(turns)} | {WINDOW}
    for turn in range(1, turns + 1):
        text = GREETINGS[turn % len(GREETINGS)]
        w0, c0 = time.perf_counter(), time.process_time()
        result = app.ask(text, thread, options)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        thread = result.thread_id
        if turn in wanted:
            sizes[turn] = store_bytes(settings)
        if turn % 50 == 0:
            print(f"  ... turn {turn}: {wall[-1] * 1000:.1f} ms", file=sys.stderr, flush=True)
    rows = []
    for mark in marks(turns):
        lo, hi = (0, min(WINDOW, turns)) if mark == 1 else (max(mark - WINDOW, 0), mark)
        rows.append({"turn": mark, "wall_ms": statistics.median(wall[lo:hi]) * 1000,
                     "cpu_ms": statistics.median(cpu[lo:hi]) * 1000, "store": sizes[hi] - base,
                     "per_turn": (sizes[hi] - base) / hi, "added": (sizes[hi] - sizes[lo]) / (hi - lo)})
    return rows


def main() -> None:
    """Parse the options, play the thread, print the table and the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400, help="turns on the thread (default 400)")
    parser.add_argument("--answer-words", type=int, default=0, help="words per answer (default: echo the message)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"),
                        help="measure on this Postgres database instead of SQLite")
    args = parser.parse_args()
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    start = time.perf_counter()
    rows = run(args.turns, args.answer_words, args.postgres)
    load = os.getloadavg()[0]
    store = "Postgres" if args.postgres else "SQLite"
    answer = f"{args.answer_words}-word answers" if args.answer_words else "echoed answers"
    print(f"one thread, {args.turns} turns, scripted model ({answer}), {store}; median of {WINDOW} turns per row; "
          f"load average {load:.1f} on {os.cpu_count()} cores; {time.perf_counter() - start:.0f} s in all")
    print(f"{'turn':>5} {'wall ms':>8} {'cpu ms':>7} {'store MB':>9} {'KB/turn':>8} {'KB added/turn':>14}")
    for r in rows:
        print(f"{r['turn']:>5} {r['wall_ms']:>8.1f} {r['cpu_ms']:>7.1f} {r['store'] / MB:>9.2f} "
              f"{r['per_turn'] / 1024:>8.1f} {r['added'] / 1024:>14.1f}")
    first, last = rows[0], rows[-1]
    print(f"turn {last['turn']} / turn 1: {last['wall_ms'] / first['wall_ms']:.2f}x wall, "
          f"{last['cpu_ms'] / first['cpu_ms']:.2f}x cpu (goal: flat; at most 10 ms a turn at turn 400)")
    print(f"store after {last['turn']} turns: {last['store'] / MB:.1f} MB (goal at 400 turns: at most 20 MB)")


if __name__ == "__main__":
    main()
