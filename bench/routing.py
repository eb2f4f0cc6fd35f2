"""What routing and the ledger cost per model call, and 8 concurrent sessions on the one local model.

1. Microseconds the routing decision and the ledger write (start + finish) add per
   call, for a local chain and for a remote chain with dollar caps and cooldown
   checks (goal: together <= 1000 us); plus call_model's whole overhead over a bare
   model.stream() on a scripted model.
2. 8 sessions (2 turns each) asking the embedded SmolLM2 at once through the full app: no
   errors, and total tokens/s >= 0.9 x the same sessions run one at a time. Sessions that
   interleave on the one model resume their saved KV states (PODIUM_KV_CACHE_MB); the same
   run with the states off is printed for reference.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import HumanMessage  # noqa: E402

from agents.common import call_model  # noqa: E402
from agents.contract import TurnOptions
from graph.app import PodiumApp  # noqa: E402
from models import routing  # noqa: E402
from models.ledger import Ledger  # noqa: E402
from models.registry import ModelPool  # noqa: E402
from podium.settings import Settings, load_settings  # noqa: E402

CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "8"))
TURNS = int(os.environ.get("BENCH_TURNS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MAX_TOKENS = int(os.environ.get("BENCH_MAX_TOKENS", "48"))
LOCAL = "llamacpp/smollm2-135m"


def per_call_us(fn, n: int = CALLS) -> float:
    """Median of 5 batches, microseconds per call."""
    batches = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n // 5):
            fn()
        batches.append((time.perf_counter() - start) / (n // 5) * 1e6)
    return statistics.median(batches)


def overhead(home: Path) -> bool:
    settings = Settings(home=home, openai_base_url="http://127.0.0.1:9/v1", max_tokens=256)
    capped = settings.model_copy(update={"budget_thread_usd": 5.0, "budget_day_usd": 50.0})
    pool = ModelPool(settings)
    ledger = Ledger(home / "ledger.sqlite")
    for i in range(500):  # a ledger with history, so the cap and cooldown queries have rows to read
        call = ledger.start(provider="openai", model="openai/gpt-4o-mini", turn="t", thread=f"th{i % 20}", node="chat")
        ledger.finish(call, outcome="ok", cost_usd=0.0001, prompt_tokens=100, completion_tokens=50)
    local_chain, remote_chain = [LOCAL, "scripted/echo"], ["openai/gpt-4o-mini", "openai/gpt-4o", LOCAL]

    def local_plan() -> None:
        routing.plan(settings, pool, ledger, models=local_chain, policy="local-first", thread="th1")

    def remote_plan() -> None:
        routing.plan(capped, pool, ledger, models=remote_chain, policy="budget", thread="th1",
                     prompt_tokens=lambda spec: 200)

    def write() -> None:
        call = ledger.start(provider="llamacpp", model=LOCAL, turn="bench", thread="th1", node="chat")
        ledger.finish(call, outcome="ok", prompt_tokens=120, completion_tokens=48, token_source="provider",
                      ttft_s=0.05, duration_s=0.5, tokens_per_s=100.0, cost_usd=0.0, gpu_s=0.0)

    local_us, remote_us, write_us = per_call_us(local_plan), per_call_us(remote_plan), per_call_us(write)
    print(f"routing decision, local chain:                 {local_us:8.1f} us/call")
    print(f"routing decision, remote chain + caps + cooldown: {remote_us:8.1f} us/call")
    print(f"ledger write (start + finish):                 {write_us:8.1f} us/call")

    app = PodiumApp(Settings(home=home / "app"))
    model = app.models.model("scripted/echo")
    ctx = app.context("bench", options=TurnOptions(model="scripted/echo"))
    messages = [HumanMessage("hello there, how are you today?")]
    bare = per_call_us(lambda: list(model.stream(messages)), 1000)
    full = per_call_us(lambda: call_model(ctx, "chat", messages), 1000)
    print(f"call_model on a scripted model: {full:.1f} us vs bare model.stream {bare:.1f} us "
          f"-> {full - bare:.1f} us added")
    worst = max(local_us, remote_us) + write_us
    print(f"routing + ledger per call (worst case): {worst:.1f} us  (goal <= 1000 us: "
          f"{'met' if worst <= 1000 else 'MISSED'})")
    return worst <= 1000


def sessions(home: Path, kv_cache_mb: int | None = None) -> tuple[bool, bool]:
    # load_settings: PODIUM_N_THREADS and friends from the environment apply (a loaded machine runs
    # steadier with fewer llama.cpp threads); both sides of the ratio use the same settings.
    overrides = {} if kv_cache_mb is None else {"kv_cache_mb": kv_cache_mb}
    app = PodiumApp(load_settings(home=home, temperature=0.0, max_tokens=MAX_TOKENS, **overrides))
    states = app.models.model(LOCAL).loaded().states
    restores = states.restores
    app.ask("Warm up: say hi.", options=TurnOptions(model=LOCAL))  # load the model and fill caches outside the timings
    questions = [f"Tell me one fact about the number {n}." for n in range(SESSIONS)]

    def session(i: int, errors: list[BaseException]) -> None:
        thread = None
        try:
            for turn in range(TURNS):
                thread = app.ask(questions[i] if turn == 0 else "And another one?", thread,
                                 TurnOptions(model=LOCAL)).thread_id
        except BaseException as exc:  # noqa: BLE001 - a benchmark counts errors, it does not hide them
            errors.append(exc)

    def run(concurrent: bool) -> tuple[float, int, list[BaseException]]:
        """The same sessions one after another (the one-session baseline) or all at once."""
        since, errors = time.time(), []
        threads = [threading.Thread(target=session, args=(i, errors)) for i in range(SESSIONS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
            if not concurrent:
                t.join()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        tokens = sum(c.completion_tokens or 0 for c in app.ledger.calls(since=since) if c.outcome == "ok")
        return wall, tokens, errors

    # Alternate one-at-a-time and all-at-once runs of the same work, and compare each concurrent run
    # with the sequential runs around it, so a machine whose load drifts does not bias the ratio.
    ratios, errors, singles = [], [], [run(False)]
    for _ in range(ROUNDS):
        many_wall, many_tokens, many_errors = run(True)
        singles.append(run(False))
        one_tps = statistics.mean(tokens / wall for wall, tokens, _ in singles[-2:])
        ratios.append(many_tokens / many_wall / one_tps)
        errors += many_errors
        print(f"{SESSIONS} sessions x {TURNS} turns at once: {many_tokens} tokens in {many_wall:.2f}s = "
              f"{many_tokens / many_wall:.1f} tok/s total; one session at a time around it: {one_tps:.1f} tok/s")
    errors += [e for _, _, errs in singles for e in errs]
    failed = [c for c in app.ledger.calls() if c.outcome != "ok"]
    ratio = statistics.median(ratios)
    print(f"errors: {len(errors)} raised, {len(failed)} failed ledger rows; "
          f"KV states restored: {states.restores - restores} (limit {app.settings.kv_cache_mb} MB)")
    verdict = f"goal >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'}" if kv_cache_mb is None else "reference only"
    print(f"throughput ratio {SESSIONS} concurrent sessions / one session: {ratio:.3f} "
          f"(median of {ROUNDS}; {verdict})")
    return not (errors or failed), ratio >= 0.9


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        overhead(Path(tmp) / "overhead")
        clean, _ = sessions(Path(tmp) / "sessions")
        print("\nreference, the same with saved KV states off (PODIUM_KV_CACHE_MB=0):")
        sessions(Path(tmp) / "sessions-off", kv_cache_mb=0)
    if not clean:
        sys.exit(1)


if __name__ == "__main__":
    main()
