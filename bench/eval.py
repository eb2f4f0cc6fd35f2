"""Log-likelihood scoring speed: Podium's shared-context scorer against naive per-choice scoring.

Both score the same ARC-Easy items on the same loaded SmolLM2 (same llama.cpp weights,
threads and batch size), alternating in chunks so machine load hits both sides:

- naive: every choice evaluated from scratch, context included (what a straightforward
  implementation does: one forward pass per (context, choice) pair);
- Podium: the context once, the choices continuing from it in one batch, shared
  prefixes of consecutive items reused.

Prints items/s of each, the ratio (goal >= 2x) and the projected time of a full
arc_easy run; ``--full`` also runs the whole test set through ``podium eval run``'s
pipeline (cache off: a fresh data dir) and prints its wall time.

    python bench/eval.py [--items 60] [--chunk 10] [--full]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import llamacpp  # noqa: E402
from models.registry import resolve  # noqa: E402
from podium.settings import Settings  # noqa: E402
from tools.evals.benchmarks import get_benchmark  # noqa: E402
from tools.evals.loglik import LoglikScorer  # noqa: E402

MODEL = "llamacpp/smollm2-135m"


def _time(scorer: LoglikScorer, items: list, naive: bool) -> float:
    started = time.perf_counter()
    for item in items:
        pairs = [scorer.encode_pair(item.prompt, item.delimiter + c) for c in item.choices]
        score = scorer.score_naive if naive else scorer.score
        score(pairs[0][0], [cont for _, cont in pairs])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--full", action="store_true", help="also time a full arc_easy run")
    args = parser.parse_args()
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="podium-bench-eval-")))
    spec = resolve(MODEL, settings)
    loaded = llamacpp.load(spec.path, spec.context_length, settings.n_threads)
    scorer = LoglikScorer(loaded, settings.n_threads or llamacpp.default_threads())
    every = get_benchmark("arc_easy").load(None, 0, 0)
    items = every[: args.items]
    _time(scorer, items[:2], naive=False)  # warm-up: the scorer's context and the page cache
    fast = naive = 0.0
    for k, start in enumerate(range(0, len(items), args.chunk)):
        chunk = items[start:start + args.chunk]
        order = (False, True) if k % 2 == 0 else (True, False)  # alternate who goes first
        for is_naive in order:
            spent = _time(scorer, chunk, is_naive)
            naive, fast = (naive + spent, fast) if is_naive else (naive, fast + spent)
    n = len(items)
    print(f"arc_easy, {n} items, {MODEL}, {scorer.n_threads} threads (machine shared: figures move with its load)")
    print(f"  naive per-choice : {n / naive:7.2f} items/s")
    print(f"  podium (shared)  : {n / fast:7.2f} items/s")
    print(f"  ratio            : {naive / fast:7.2f}x   (goal >= 2x)")
    print(f"  projected full arc_easy ({len(every)} items): {len(every) * fast / n / 60:.1f} min "
          f"(naive {len(every) * naive / n / 60:.1f} min)")
    if args.full:
        from tools.evals.runner import run_benchmark

        started = time.perf_counter()
        result = run_benchmark(settings, model=MODEL, benchmark="arc_easy")
        print(f"  full arc_easy run: {time.perf_counter() - started:.0f} s, acc_norm {result.score:.2f} "
              f"(95% CI {result.ci95[0]:.2f}-{result.ci95[1]:.2f}), n={result.n}")


if __name__ == "__main__":
    main()
