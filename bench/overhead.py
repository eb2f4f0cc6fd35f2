"""Podium's streamed answers against raw llama-cpp-python and a naive LangGraph peer, on the same GGUF.

One process, alternating rounds (the order of the sides turns every round, so a busy machine
weighs on all of them), each side warmed first. Rows:

- ``raw 1t`` and ``raw Nt``: llama-cpp-python's streamed ``create_chat_completion`` on 1 thread
  and on every core (N); ``raw Nt`` is the baseline every ratio is taken against, the fastest
  configuration a user would otherwise run;
- ``podium default``: a whole Podium turn (conductor, routing, ledger, checkpoints, the event
  stream a front end folds) on Podium's default llama.cpp threads; ``podium Nt`` on every core
  (one row when the default is every core), and ``podium Nt no frames`` with every token sent on its own
  (``PODIUM_STREAM_FRAME_MS=0``, as before display frames) to show what frames buy;
- ``naive Nt``: what a user writes in 20 lines: a one-node LangGraph graph around
  langchain-community's ``ChatLlamaCpp``, streamed with ``stream_mode="messages"``. It needs
  ``pip install langchain-community`` (``make bench`` installs it; it is not a Podium dependency);
  without it the row is skipped with a line saying so.

Each row prints tokens/s (from the first token to the last), time to first token, the ratios
against ``raw Nt`` (goals for ``podium default``: throughput >= 0.98, ahead of ``naive Nt``, at
most 15 ms added to the first token) and the process CPU time per streamed token, from the first
token to the last, all threads together. The CPU figure is the one a busy machine distorts least:
``cpu+`` is what a row spends per token beyond raw llama-cpp-python on the same threads.

Knobs: ``BENCH_RUNS`` (rounds, default 5) and ``BENCH_MAX_TOKENS`` (default 128).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.app import PodiumApp  # noqa: E402
from models.llamacpp import default_threads, locate  # noqa: E402
from podium.settings import Settings  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
MAX_TOKENS = int(os.environ.get("BENCH_MAX_TOKENS", "128"))
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Sample:
    """One streamed answer: when its first and last tokens came, how many tokens, the CPU spent between."""

    ttft_s: float
    tok_s: float
    tokens: int
    cpu_us_per_token: float


class Clock:
    """Marks a run's start, its first token and its latest token (wall and process CPU time)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first = self.last = 0.0
        self.cpu_first = self.cpu_last = 0.0

    def token(self) -> None:
        """A token (or a coalesced group of tokens) arrived now."""
        now, cpu = time.perf_counter(), time.process_time()
        if not self.first:
            self.first, self.cpu_first = now, cpu
        self.last, self.cpu_last = now, cpu

    def sample(self, tokens: int) -> Sample:
        """The run's figures for ``tokens`` generated tokens."""
        gaps = max(tokens - 1, 1)
        span = max(self.last - self.first, 1e-9)
        return Sample(self.first - self.start, gaps / span, tokens, (self.cpu_last - self.cpu_first) / gaps * 1e6)


def raw_side(path: Path, n_ctx: int, threads: int, system: str) -> Callable[[], Sample]:
    """Raw llama-cpp-python: one streamed chat completion; a token per chunk."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_batch=512, verbose=False)

    def run() -> Sample:
        clock, count = Clock(), 0
        messages = [{"role": "system", "content": system}, {"role": "user", "content": PROMPT}]
        for part in llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=MAX_TOKENS,
                                               seed=0, stream=True):
            if part["choices"][0]["delta"].get("content"):
                clock.token()
                count += 1
        return clock.sample(count)

    return run


def podium_side(threads: int | None, **settings: Any) -> Callable[[], Sample]:
    """A whole Podium turn on a new thread; tokens counted by the ledger (an event may carry several)."""
    home = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    app = PodiumApp(Settings(home=home, temperature=0.0, max_tokens=MAX_TOKENS, n_threads=threads, **settings))

    def run() -> Sample:
        clock, result = Clock(), None
        for event in app.stream_turn(PROMPT):
            if event.kind == "token":
                clock.token()
            elif event.kind == "done":
                result = event.data["result"]
        assert result is not None and result.route[-1] == "chat", result
        return clock.sample(int(result.usage["completion_tokens"]))

    return run


def naive_side(path: Path, n_ctx: int, threads: int, system: str) -> Callable[[], Sample] | None:
    """A one-node LangGraph graph around langchain-community's ChatLlamaCpp (``None`` when not installed)."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # langchain-community announces its sunset on import
            from langchain_community.chat_models import ChatLlamaCpp
    except ImportError:
        return None
    from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
    from langgraph.graph import START, MessagesState, StateGraph

    model = ChatLlamaCpp(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_batch=512, temperature=0.0,
                         max_tokens=MAX_TOKENS, repeat_penalty=1.0, seed=0, verbose=False)

    def chat(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState).add_node("chat", chat).add_edge(START, "chat").compile()

    def run() -> Sample:
        clock, count = Clock(), 0
        question = {"messages": [SystemMessage(system), HumanMessage(PROMPT)]}
        for message, _ in graph.stream(question, stream_mode="messages"):
            if isinstance(message, AIMessageChunk) and message.content:
                clock.token()
                count += 1
        return clock.sample(count)

    return run


def main() -> None:
    """Build every side, warm each, run alternating rounds, print the table."""
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="podium-bench-")))
    path, _ = locate("smollm2-135m", settings)
    n_ctx = PodiumApp(settings).models.spec(settings.model).context_length
    system, default = settings.system_prompt, default_threads()
    sides: dict[str, Callable[[], Sample]] = {"raw 1t": raw_side(path, n_ctx, 1, system)}
    if CORES != 1:
        sides[f"raw {CORES}t"] = raw_side(path, n_ctx, CORES, system)
    sides[f"podium default ({default}t)"] = podium_side(None)
    if default != CORES:
        sides[f"podium {CORES}t"] = podium_side(CORES)
    sides[f"podium {CORES}t no frames"] = podium_side(CORES, stream_frame_ms=0)  # what display frames buy
    naive = naive_side(path, n_ctx, CORES, system)
    if naive is not None:
        sides[f"naive {CORES}t"] = naive
    load_before = os.getloadavg()
    results: dict[str, list[Sample]] = {name: [] for name in sides}
    for run in sides.values():
        run()  # warm: load, first prompt evaluation
    names = list(sides)
    for round_ in range(RUNS):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            results[name].append(sides[name]())
    load_after = os.getloadavg()
    print(f"SmolLM2-135M Q4_1, {CORES} cores, {MAX_TOKENS} max tokens, temperature 0, {RUNS} alternating rounds; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    if naive is None:
        print("naive peer skipped: langchain-community is not installed (pip install langchain-community)")
    base = f"raw {CORES}t"
    med = {name: Sample(*(statistics.median(getattr(s, f) for s in runs) for f in Sample.__dataclass_fields__))
           for name, runs in results.items()}
    raw_cpu = {1: med["raw 1t"].cpu_us_per_token, CORES: med[base].cpu_us_per_token}
    threads_of = {name: (default if "default" in name else 1 if name == "raw 1t" else CORES) for name in med}
    print(f"{'':22} {'tok/s':>7} {'ttft ms':>8} {'tokens':>6} {'x raw':>6} {'+ttft ms':>8} {'cpu us/tok':>10} "
          f"{'cpu+ us':>8}")
    for name, s in med.items():
        ratio, added = s.tok_s / med[base].tok_s, (s.ttft_s - med[base].ttft_s) * 1000
        extra = s.cpu_us_per_token - raw_cpu.get(threads_of[name], s.cpu_us_per_token)
        print(f"{name:22} {s.tok_s:7.1f} {s.ttft_s * 1000:8.1f} {s.tokens:6.0f} {ratio:6.3f} {added:+8.1f} "
              f"{s.cpu_us_per_token:10.0f} {extra:+8.0f}")
    ours = med[f"podium default ({default}t)"]
    print(f"podium default / {base}: {ours.tok_s / med[base].tok_s:.3f} (goal >= 0.98); "
          f"added time to first token: {(ours.ttft_s - med[base].ttft_s) * 1000:+.1f} ms (goal <= 15 ms)")
    if naive is not None:
        peer = med[f"naive {CORES}t"]
        print(f"podium default / naive {CORES}t: {ours.tok_s / peer.tok_s:.3f} (goal > 1)")


if __name__ == "__main__":
    main()
