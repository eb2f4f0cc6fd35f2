"""What the python tool's sandbox adds to a call: its start-up, against a bare Python process.

A user without Podium would run the snippet as ``python -I -S -c CODE``: one whole
process, nothing confined. The sandbox runs the same interpreter with its layers around
it. Runs alternate (raw, sandbox, then the reference configurations) so the machine's
load weighs on every side alike; medians and 90th percentiles over ``BENCH_RUNS`` rounds.
Goal: the full sandbox adds under 150 ms per call. References: namespaces alone (no
Landlock, no seccomp) and Landlock with seccomp alone (no namespaces).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.sandbox import Limits, Sandbox, probe  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
CODE = "print(sum(range(10)))"
GOAL_MS = 150.0


def raw() -> None:
    """The snippet in a bare interpreter process, as a user would run it without Podium."""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", CODE], capture_output=True, text=True, check=True)
    assert done.stdout == "45\n"


def sandboxed(box: Sandbox):
    """A call through the sandbox."""
    def run() -> None:
        result = box.run(CODE)
        assert result.ok and result.stdout == "45\n", result.message
    return run


def stats_ms(samples: list[float]) -> tuple[float, float]:
    """Median and 90th percentile, in milliseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.9 * (len(ordered) - 1))] * 1000


def main() -> None:
    """Print the timings and whether the goal is met (a run that fails stops the bench with an error)."""
    started = time.perf_counter()
    found = probe()
    print(f"probe (once per process): {(time.perf_counter() - started) * 1000:.0f} ms -> namespaces "
          f"{found.namespaces}, Landlock ABI {found.landlock_abi}, seccomp {'yes' if found.seccomp else 'no'}")
    limits = Limits()
    sides = {"raw python process": raw, "sandbox (every layer)": sandboxed(Sandbox(limits))}
    if found.namespaces != "none":
        sides["namespaces only"] = sandboxed(Sandbox(limits, landlock=False, seccomp=False))
    if found.landlock_abi:
        sides["landlock+seccomp only"] = sandboxed(Sandbox(limits, namespaces=False))
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for fn in sides.values():  # warm caches (bytecode, page cache) before measuring
        fn()
    for _ in range(RUNS):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    base, _ = stats_ms(samples["raw python process"])
    for name, values in samples.items():
        median, p90 = stats_ms(values)
        added = "" if name.startswith("raw") else f"  added {median - base:+.0f} ms ({median / base:.1f}x)"
        print(f"{name:24s} median {median:6.1f} ms  p90 {p90:6.1f} ms{added}")
    added_ms = stats_ms(samples["sandbox (every layer)"])[0] - base
    print(f"sandbox start-up added per call: {added_ms:.0f} ms (goal < {GOAL_MS:.0f} ms): "
          f"{'met' if added_ms < GOAL_MS else 'MISSED'}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
