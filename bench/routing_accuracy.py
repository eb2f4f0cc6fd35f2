"""How well and how fast the conductor routes by rules and meaning, on utterances written apart from the examples.

Reads ``bench/data/routing_heldout.jsonl`` (``{"text", "label", "kind"}`` per line: imperatives,
questions, typos, mixed requests, document questions that name no documents), routes each one
the way the conductor does before it looks at a knowledge base (rules, then the nearest routing
examples of the registered specialists), and prints:

1. accuracy over the labels whose specialist is registered (goal >= 95%), per label and per kind,
   and a confusion matrix; items labelled for a specialist that is not registered are counted apart;
2. the routing decision's time in a warm process, median and p90 (goal: median <= 5 ms), also for the
   decisions meaning made (rules cost microseconds);
3. what the router adds to a one-shot ``podium ask`` (a fresh process: loading the embedding model and
   the cached example vectors, then one decision), against the same process deciding by rules only,
   alternating runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.conductor import classify  # noqa: E402
from agents.contract import Specialist  # noqa: E402
from agents.registry import SPECIALISTS  # noqa: E402
from agents.router import build_router  # noqa: E402
from podium.settings import Settings  # noqa: E402

HELDOUT = ROOT / "bench" / "data" / "routing_heldout.jsonl"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
COLD_SCRIPT = """
import sys, time
started = time.perf_counter()
from agents.conductor import classify
from agents.registry import SPECIALISTS
from agents.router import build_router
from podium.settings import Settings
examples = {s.name: s.examples for s in SPECIALISTS}
router = build_router(Settings(home=sys.argv[1]), examples) if sys.argv[2] == "meaning" else None
route = classify("How should I prepare for a job interview?", {s.name: s for s in SPECIALISTS}, router)
print(time.perf_counter() - started)
"""


def accuracy(items: list[dict], specialists: dict[str, Specialist], home: Path
             ) -> tuple[list, list[float], list[float]]:
    """``(label, predicted, kind, text, how)`` per item, and each warm decision's wall and CPU seconds.

    CPU time (this process's, all threads) is what a decision costs; wall time adds waiting for a core,
    which on a machine shared with other work can dwarf it.
    """
    router = build_router(Settings(home=home), {name: s.examples for name, s in specialists.items()})
    classify("warm up the embedder", specialists, router)
    rows, times, cpu = [], [], []
    for item in items:
        started, used = time.perf_counter(), time.process_time()
        route, reason = classify(item["text"], specialists, router)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        rows.append((item["label"], route or "chat", item["kind"], item["text"], reason))
    return rows, times, cpu


def report(rows: list, registered: set[str]) -> float:
    scored = [r for r in rows if r[0] in registered]
    correct = sum(label == got for label, got, *_ in scored)
    share = correct / len(scored) if scored else 0.0
    print(f"accuracy: {correct}/{len(scored)} = {share:.1%} on registered specialists (goal >= 95%)")
    labels = sorted(registered | {r[1] for r in scored})
    print("\nconfusion (rows: right answer, columns: routed to)")
    print(f"{'':>12}" + "".join(f"{name[:10]:>11}" for name in labels))
    counts = collections.Counter((r[0], r[1]) for r in scored)
    for gold in sorted(registered):
        print(f"{gold[:12]:>12}" + "".join(f"{counts[(gold, got)]:>11}" for got in labels))
    print("\nper label: recall, precision")
    for name in sorted(registered):
        hits = counts[(name, name)]
        gold = sum(v for (g, _), v in counts.items() if g == name)
        routed = sum(v for (_, p), v in counts.items() if p == name)
        print(f"  {name:<12} {hits}/{gold} recall {hits / max(gold, 1):.0%}   precision {hits / max(routed, 1):.0%}")
    by_kind = collections.defaultdict(list)
    for label, got, kind, *_ in scored:
        by_kind[kind].append(label == got)
    print("per kind: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())))
    waiting = [r for r in rows if r[0] not in registered]
    if waiting:
        went = collections.Counter((r[0], r[1]) for r in waiting)
        print(f"not registered yet ({len(waiting)} items, not scored): "
              + ", ".join(f"{g} -> {p}: {n}" for (g, p), n in sorted(went.items())))
    return share


def cold_start(rounds: int) -> None:
    """Fresh processes deciding one message by rules only and by rules plus meaning, alternating."""
    with tempfile.TemporaryDirectory() as home:
        subprocess.run([sys.executable, "-c", COLD_SCRIPT, home, "meaning"], cwd=ROOT, check=True,
                       capture_output=True)  # the first run embeds the examples into the data dir's cache
        seconds: dict[str, list[float]] = {"rules": [], "meaning": []}
        for _ in range(rounds):
            for mode in ("rules", "meaning"):
                done = subprocess.run([sys.executable, "-c", COLD_SCRIPT, home, mode], cwd=ROOT, check=True,
                                      capture_output=True, text=True)
                seconds[mode].append(float(done.stdout.strip().splitlines()[-1]))
    rules, meaning = statistics.median(seconds["rules"]), statistics.median(seconds["meaning"])
    print(f"\none-shot process (imports, router load, one decision), median of {rounds}: rules only "
          f"{rules * 1000:.0f} ms, with meaning {meaning * 1000:.0f} ms: the router adds "
          f"{(meaning - rules) * 1000:.0f} ms (ratio {meaning / rules:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every misrouted utterance")
    parser.add_argument("--no-cold", action="store_true", help="skip the one-shot process timing")
    args = parser.parse_args()
    items = [json.loads(line) for line in HELDOUT.read_text().splitlines() if line.strip()]
    specialists = {s.name: s for s in SPECIALISTS}
    print(f"{len(items)} held-out utterances; specialists: {', '.join(specialists)}")
    with tempfile.TemporaryDirectory() as home:
        rows, times, cpu = accuracy(items, specialists, Path(home))
    share = report(rows, set(specialists))
    if args.errors:
        for label, got, _, text, how in rows:
            if label in specialists and label != got:
                print(f"  {label} -> {got}: {text!r} ({how})")
    quick = [r for r in rows if r[4].startswith("meaning: word vectors") and r[0] in specialists]
    print(f"\nthe word vectors' first look decided {len(quick)} of {len(rows)} alone, "
          f"{sum(r[0] == r[1] for r in quick)} of them right; the whole model decided the rest by meaning")
    by_meaning = [not r[4].startswith("rule") for r in rows]
    meaning = [t for t, m in zip(times, by_meaning, strict=True) if m]
    meaning_cpu = [t for t, m in zip(cpu, by_meaning, strict=True) if m]
    print(f"\ndecision time, warm: median {statistics.median(times) * 1000:.2f} ms, p90 "
          f"{statistics.quantiles(times, n=10)[-1] * 1000:.2f} ms over all {len(times)} (goal: median <= 5 ms); "
          f"median {statistics.median(meaning) * 1000:.2f} ms over the {len(meaning)} that meaning decided")
    print(f"decision CPU time (less noisy on a busy machine): median {statistics.median(cpu) * 1000:.2f} ms over "
          f"all, {statistics.median(meaning_cpu) * 1000:.2f} ms over those meaning decided; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.no_cold:
        cold_start(ROUNDS)
    print(f"\naccuracy goal {'met' if share >= 0.95 else 'MISSED'}: {share:.1%}; decision median "
          f"{statistics.median(times) * 1000:.2f} ms wall, {statistics.median(cpu) * 1000:.2f} ms CPU (goal <= 5 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
