"""Every benchmark Podium runs, by name."""

from __future__ import annotations

import difflib

from podium.errors import ConfigError
from tools.evals.code import CODE_BENCHMARKS
from tools.evals.gen import GEN_BENCHMARKS
from tools.evals.ifeval import IFEVAL_BENCHMARK
from tools.evals.mc import MC_BENCHMARKS
from tools.evals.tasks import Benchmark

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [*MC_BENCHMARKS, *GEN_BENCHMARKS, *CODE_BENCHMARKS,
                                                           IFEVAL_BENCHMARK]}
"""The registry, in listing order."""

LEADERBOARD_V2 = ("ifeval", "bbh", "math_lvl5", "gpqa", "musr", "mmlu_pro")
"""The Open LLM Leaderboard v2 set."""


def get_benchmark(name: str) -> Benchmark:
    """A benchmark by name; an unknown name is a one-line error listing the close and the known ones."""
    if name in BENCHMARKS:
        return BENCHMARKS[name]
    close = difflib.get_close_matches(name, BENCHMARKS, n=1)
    raise ConfigError(f"unknown benchmark {name!r}" + (f" (did you mean {close[0]}?)" if close else ""),
                      setting="--benchmark", hint=f"use one of {', '.join(BENCHMARKS)} (see `podium eval list`)")
