"""Batched local generation vs the same completions one after another (issue goal: ratio <= 0.5).

Eight independent chat prompts, 64 tokens each at temperature 0, on the one shared SmolLM2
instance Podium loads (same threads for both sides): ``create_completion`` prompt by prompt on
a fresh cache, then ``models.batch.complete_batch`` on all of them, alternating rounds. Prints
wall time per side, the ratio, and how many batched outputs equal the sequential ones token for
token. BENCH_THREADS sets llama.cpp's threads (default: Podium's), BENCH_RUNS the rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.batch import complete_batch  # noqa: E402
from models.llamacpp import default_threads  # noqa: E402
from models.registry import local_model  # noqa: E402
from podium.settings import Settings  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
MAX_TOKENS = 64
QUESTIONS = ["What is the capital of France?", "Name three colors.", "Write a haiku about rain.",
             "What is 2 + 2?", "Tell me a joke.", "Describe a cat.", "What is Python?", "Why is the sky blue?"]


def sequential(loaded, prompts) -> tuple[float, list[str]]:
    """Each prompt alone, one after another, as a caller without batching would run them."""
    start = time.perf_counter()
    texts = []
    for prompt in prompts:
        tokens, stop = loaded.render(prompt)
        loaded.llm.reset()
        out = loaded.llm.create_completion(tokens, max_tokens=MAX_TOKENS, temperature=0.0, stop=stop)
        texts.append(out["choices"][0]["text"])
    return time.perf_counter() - start, texts


def batched(loaded, prompts) -> tuple[float, list[str]]:
    """All prompts through one ``complete_batch`` call."""
    start = time.perf_counter()
    texts = [c.text for c in complete_batch(loaded, prompts, max_tokens=MAX_TOKENS, temperature=0.0)]
    return time.perf_counter() - start, texts


def main() -> None:
    """Alternate the two sides and print the comparison."""
    threads = int(os.environ.get("BENCH_THREADS", "0")) or default_threads()
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="podium-bench-")), n_threads=threads, max_context=2048)
    loaded = local_model("llamacpp/smollm2-135m", settings)
    prompts = [[{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": q}]
               for q in QUESTIONS]
    batched(loaded, prompts[:2])  # warm: the batch context is made once per process
    times: dict[str, list[float]] = {"sequential": [], "batched": []}
    same = 0
    for _ in range(RUNS):
        t_seq, seq_texts = sequential(loaded, prompts)
        t_batch, batch_texts = batched(loaded, prompts)
        times["sequential"].append(t_seq)
        times["batched"].append(t_batch)
        same = sum(a == b for a, b in zip(seq_texts, batch_texts, strict=True))
    load = os.getloadavg()[0]
    print(f"{len(prompts)} completions x {MAX_TOKENS} tokens, SmolLM2-135M Q4_1, {threads} llama.cpp threads, "
          f"{RUNS} alternating rounds, load average {load:.1f} on {os.cpu_count()} cores")
    for name, values in times.items():
        print(f"{name:11} {statistics.median(values):7.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})")
    ratio = statistics.median(times["batched"]) / statistics.median(times["sequential"])
    print(f"batched/sequential time: {ratio:.2f} (goal <= 0.5)")
    print(f"identical outputs at temperature 0: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
