"""Podium's streamed graph vs raw llama-cpp-python on the same GGUF, prompt and settings.

Alternates the two, several runs each, and prints tokens/s, time to first token,
the throughput ratio (goal >= 0.98) and the added TTFT (goal <= 25 ms). Both sides use
the same llama.cpp threads: Podium's default (every core but one) or BENCH_THREADS.
Raw llama-cpp-python with every core is printed too, for reference: on a small machine
it is faster than either, because nothing else needs the CPU between its tokens.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.app import PodiumApp  # noqa: E402
from models.llamacpp import default_threads, locate  # noqa: E402
from podium.settings import Settings  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
MAX_TOKENS = int(os.environ.get("BENCH_MAX_TOKENS", "128"))
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
THREADS = int(os.environ.get("BENCH_THREADS", "0")) or default_threads()


def raw_run(llm, system: str) -> tuple[float, float, int]:
    """TTFT, tokens/s and token count of one raw streamed chat completion."""
    start = time.perf_counter()
    first = last = None
    count = 0
    stream = llm.create_chat_completion(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": PROMPT}],
        temperature=0.0,
        max_tokens=MAX_TOKENS,
        seed=0,
        stream=True,
    )
    for part in stream:
        if part["choices"][0]["delta"].get("content"):
            last = time.perf_counter()
            first = first or last
            count += 1
    return first - start, (count - 1) / (last - first), count


def podium_run(app: PodiumApp) -> tuple[float, float, int]:
    """TTFT, tokens/s and token count of one Podium turn (new thread, full graph, checkpoints, ledger)."""
    start = time.perf_counter()
    first = last = None
    count = 0
    for event in app.stream_turn(PROMPT):
        if event.kind == "token":
            last = event.t
            first = first or last
            count += 1
    return first - start, (count - 1) / (last - first), count


def main() -> None:
    """Run the comparison and print the table."""
    from llama_cpp import Llama

    home = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    settings = Settings(home=home, temperature=0.0, max_tokens=MAX_TOKENS, n_threads=THREADS)
    app = PodiumApp(settings)
    path, _ = locate("smollm2-135m", settings)
    n_ctx = app.models.spec(settings.model).context_length
    raw = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=THREADS, n_batch=512, verbose=False)
    cores = os.cpu_count() or 2
    every = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=cores, n_batch=512, verbose=False) \
        if cores != THREADS else None  # the reference row: raw llama-cpp-python on every core
    podium_run(app), raw_run(raw, settings.system_prompt)  # warm both (load, first prompt eval)
    results: dict[str, list[tuple[float, float, int]]] = {"raw": [], "podium": []}
    if every is not None:
        raw_run(every, settings.system_prompt)
        results[f"raw/{cores}t"] = []
    for _ in range(RUNS):
        results["raw"].append(raw_run(raw, settings.system_prompt))
        results["podium"].append(podium_run(app))
        if every is not None:
            results[f"raw/{cores}t"].append(raw_run(every, settings.system_prompt))
    med = {
        k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), statistics.median(r[2] for r in v))
        for k, v in results.items()
    }
    print(f"SmolLM2-135M Q4_1, {THREADS} threads, {MAX_TOKENS} max tokens, temperature 0, {RUNS} alternating runs")
    print(f"{'':8} {'ttft ms':>9} {'tok/s':>8} {'tokens':>7}")
    for name, (ttft, tps, n) in med.items():
        print(f"{name:8} {ttft * 1000:9.1f} {tps:8.1f} {n:7.0f}")
    ratio = med["podium"][1] / med["raw"][1]
    added = (med["podium"][0] - med["raw"][0]) * 1000
    print(f"throughput ratio podium/raw: {ratio:.3f} (goal >= 0.98)")
    print(f"added time to first token: {added:+.1f} ms (goal <= 25 ms)")


if __name__ == "__main__":
    main()
