"""Cold start, as whole processes: Podium's commands against a 10-line llama-cpp-python script.

Every figure is a fresh process timed from spawn to exit (or to the first HTTP 200 for
``podium ui``), medians of BENCH_RUNS alternating rounds after one warm-up round (the data dir
exists, caches are written, the OS has the files in memory). Goals (issue 12):

- ``podium ask "hi"`` at most 1.5x the raw script: start, load the same GGUF, stream the answer;
- ``podium --help``, ``threads``, ``models``, ``usage`` under 0.5 s each;
- ``podium ui`` serving its first HTTP 200 in under 3 s;
- with a knowledge base, ``podium ask "hi"`` costs no more than without one (Chroma stays closed),
  and the conductor's decision on a question about the documents adds at most 150 ms of CPU to a
  one-shot process (its first decision: Chroma opened, the question embedded and searched) and at
  most 25 ms to a warm one (every later decision), against the same decisions without a knowledge base.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
ASK, ASK_KB, UI = 'podium ask "hi"', 'ask "hi", with KB', "podium ui (HTTP 200)"
PODIUM = [sys.executable, "-m", "ui.cli"]
RAW_SCRIPT = '''
import sys, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=int(sys.argv[2]), n_threads=int(sys.argv[3]), verbose=False)
messages = [{"role": "system", "content": sys.argv[4]}, {"role": "user", "content": "hi"}]
for part in llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=512, stream=True):
    sys.stdout.write(part["choices"][0]["delta"].get("content", ""))
    sys.stdout.flush()
'''


CPU: dict[str, list[float]] = {}
"""CPU seconds (user + system) of each case's processes: less disturbed by other load than wall time."""


def run(cmd: list[str], env: dict[str, str], name: str = "") -> float:
    """Seconds from spawn to exit (its CPU seconds go to ``CPU[name]``); a failing command stops the benchmark."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed ({proc.returncode}): {proc.stderr.read().strip()[-500:]}")
    CPU.setdefault(name, []).append(usage.ru_utime + usage.ru_stime)
    return elapsed


def ui_ready(env: dict[str, str]) -> float:
    """Seconds from spawning ``podium ui`` to its first HTTP 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    proc = subprocess.Popen([*PODIUM, "ui", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while time.perf_counter() - start < 120:
            if proc.poll() is not None:
                raise SystemExit(f"podium ui exited: {proc.stderr.read()[-500:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.02)  # polling a server that is starting
        raise SystemExit("podium ui did not answer within 120 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def knowledge_home(env: dict[str, str]) -> Path:
    """A data dir with a small knowledge base (Podium's README): opening Chroma costs the same at any size."""
    home = Path(tempfile.mkdtemp(prefix="podium-bench-kb-"))
    run([*PODIUM, "ingest", str(ROOT / "README.md")], {**env, "PODIUM_HOME": str(home)})
    return home


QUESTIONS = ("How do I start the web app?", "Which command lists the saved threads?",
             "What does podium usage show about cost?", "Where does Podium keep its data?",
             "How are answers cut when they loop?", "Which models work offline by default?")
"""Questions about the ingested README that no rule routes: the conductor asks the knowledge base."""


def decisions(home: str) -> None:
    """Child process: CPU seconds of the conductor's first decision, then the median of the later ones (JSON)."""
    from agents.conductor import decide
    from graph.app import PodiumApp
    from podium.settings import Settings

    app = PodiumApp(Settings(home=Path(home)))
    ctx = app.context("bench")
    costs, routes = [], []
    for question in QUESTIONS:
        start = time.process_time()
        routes.append(decide(question, ctx.available(), ctx)[0])
        costs.append(time.process_time() - start)
    print(json.dumps({"first": costs[0], "warm": statistics.median(costs[1:]), "routes": routes}))


def decision_costs(env: dict[str, str], kb_env: dict[str, str]) -> dict[str, float]:
    """Milliseconds of CPU the knowledge base adds to the first decision and to a warm one: alternating processes."""
    runs: dict[str, list[dict]] = {"kb": [], "none": []}
    for _ in range(RUNS):
        for name, environ in (("kb", kb_env), ("none", env)):
            out = subprocess.run([sys.executable, __file__, "--decisions", environ["PODIUM_HOME"]], env=environ,
                                 cwd=ROOT, capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out))
    if "knowledge" not in runs["kb"][0]["routes"]:
        raise SystemExit(f"no question went to the documents: {runs['kb'][0]['routes']}")
    med = {f"{name} {key}": statistics.median(r[key] for r in values) * 1000
           for name, values in runs.items() for key in ("first", "warm")}
    return {"one-shot": med["kb first"] - med["none first"], "warm": med["kb warm"] - med["none warm"],
            **med}


def main() -> None:
    """Time every case in alternating rounds and print medians and ratios."""
    from models.llamacpp import default_threads, locate
    from podium.settings import Settings

    settings = Settings()
    threads = settings.n_threads or default_threads()
    gguf = locate("smollm2-135m", settings)[0]
    n_ctx = min(8192, settings.max_context)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    home = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    env = {**base, "PODIUM_HOME": str(home), "PODIUM_TEMPERATURE": "0"}
    kb_env = {**env, "PODIUM_HOME": str(knowledge_home(env))}
    script = home / "raw.py"
    script.write_text(RAW_SCRIPT)
    cases = {
        "raw script": lambda: run([sys.executable, str(script), str(gguf), str(n_ctx), str(threads),
                                   settings.system_prompt], env, "raw script"),
        ASK: lambda: run([*PODIUM, "ask", "hi"], env, ASK),
        ASK_KB: lambda: run([*PODIUM, "ask", "hi"], kb_env, ASK_KB),
        "podium --help": lambda: run([*PODIUM, "--help"], env, "podium --help"),
        "podium threads": lambda: run([*PODIUM, "threads"], env, "podium threads"),
        "podium models": lambda: run([*PODIUM, "models"], env, "podium models"),
        "podium usage": lambda: run([*PODIUM, "usage"], env, "podium usage"),
        UI: lambda: ui_ready(env),
    }
    for measure in cases.values():  # warm-up: data dirs, caches, page cache
        measure()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(RUNS):
        for name, measure in cases.items():
            times[name].append(measure())
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"whole processes, medians of {RUNS} alternating rounds; {threads} llama.cpp threads, n_ctx {n_ctx}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':24} {'wall s':>8} {'cpu s':>8}")
    for name, value in med.items():
        cpu = f"{statistics.median(CPU[name][1:]):8.3f}" if name in CPU else f"{'-':>8}"
        print(f"{name:24} {value:8.3f} {cpu}")
    raw = med["raw script"]
    cpu_ratio = statistics.median(CPU[ASK][1:]) / statistics.median(CPU["raw script"][1:])
    print(f"{ASK} / raw script: {med[ASK] / raw:.2f} wall, {cpu_ratio:.2f} cpu (goal <= 1.5)")
    added = (med[ASK_KB] - med[ASK]) * 1000
    added_cpu = (statistics.median(CPU[ASK_KB][1:]) - statistics.median(CPU[ASK][1:])) * 1000
    print(f"{ASK} with a knowledge base - without: {added:+.0f} ms wall, {added_cpu:+.0f} ms cpu "
          "(goal: ~0, Chroma stays closed)")
    for name in ("podium --help", "podium threads", "podium models", "podium usage"):
        print(f"{name}: {med[name]:.3f} s (goal < 0.5 s)")
    print(f"podium ui first HTTP 200: {med[UI]:.2f} s (goal < 3 s)")
    cost = decision_costs(env, kb_env)
    print(f"conductor's decision, CPU ms (median of {RUNS} processes each): first {cost['kb first']:.0f} with a "
          f"knowledge base, {cost['none first']:.0f} without; warm {cost['kb warm']:.1f} with, "
          f"{cost['none warm']:.1f} without")
    print(f"the knowledge base adds {cost['one-shot']:+.0f} ms to a one-shot decision (goal <= 150), "
          f"{cost['warm']:+.1f} ms to a warm one (goal <= 25)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--decisions"]:
        decisions(sys.argv[2])
    else:
        main()
