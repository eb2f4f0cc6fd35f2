"""`podium datagen` vs raw constrained llama-cpp-python generating the same rows, as whole processes.

A: `podium datagen ... --n N --batch 1` (CLI start, model load, grammar-constrained rows one at a time,
validation, exact and near dedup, journal, report skipped); A': the same with rows decoded 8 at a time
(`--batch 8`). B: a plain llama-cpp-python script on the same GGUF with every core (the fastest raw
configuration), sending the very prompts, grammars, seeds and temperatures Podium sends (dumped
first), one after another, keeping rows that parse, match the schema and are not exact repeats.
All are timed from process start to exit, alternating, BENCH_RUNS rounds each; the figure is valid
unique rows per second and the ratios A/B (goal >= 0.9) and A'/B (goal: more than A/B).

Then the duplicate rate: the same request with and without the diversity controls (topics,
personas, angles, balanced labels, temperature schedule), rejected duplicates over attempts.
"""

from __future__ import annotations

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

RUNS = int(os.environ.get("BENCH_RUNS", "2"))
N = int(os.environ.get("BENCH_ROWS", "12"))
DESCRIPTION = "customer support tickets for a SaaS product"
FIELDS = "subject:str(5..80), body:str(20..300), priority:enum[low,medium,high], category:enum[billing,bug,feature]"
TOPICS = "login problems,invoices,data export,slow dashboard,password reset,API limits,team seats,refunds"

RAW = r'''
import json, os, sys, time
import jsonschema
from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama_grammar import json_schema_to_gbnf
requests = [json.loads(line) for line in open(sys.argv[2])]
llm = Llama(model_path=sys.argv[1], n_ctx=2048, n_threads=os.cpu_count(), verbose=False)
seen, kept = set(), 0
for r in requests:
    grammar = LlamaGrammar.from_string(json_schema_to_gbnf(json.dumps(r["grammar"])), verbose=False)
    out = llm.create_completion(r["prompt"], grammar=grammar, max_tokens=r["max_tokens"],
                                temperature=r["temperature"], seed=r["seed"], stop=["<|im_end|>"])
    try:
        row = json.loads(out["choices"][0]["text"])
        jsonschema.validate(row, r["schema"])
    except Exception:
        continue
    key = json.dumps(row, sort_keys=True)
    if key not in seen:
        seen.add(key)
        kept += 1
print(kept)
'''


def podium(out: Path, *extra: str, n: int = N, topics: bool = True) -> tuple[float, dict]:
    """Wall seconds of one whole `podium datagen` process, and its JSON summary."""
    env = {**os.environ, "PODIUM_HOME": str(out.parent / "home")}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ui.cli", "datagen", DESCRIPTION, "--fields", FIELDS, "--n", str(n),
                           "--out", str(out), "--force", "--no-report", "--json",
                           *(("--topics", TOPICS) if topics else ()), *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"podium datagen failed: {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def dump_requests(out: Path, path: Path) -> None:
    """The prompts, grammars, seeds and temperatures of every attempt Podium made (from its rows' provenance)."""
    from models.llamacpp import load, locate
    from podium.settings import Settings
    from tools.datagen.engine import Job
    from tools.datagen.fields import parse_fields
    from tools.datagen.makers import RecordMaker
    from tools.datagen.prompts import record_messages
    from tools.datagen.schema import grammar_schema

    settings = Settings(home=out.parent / "home")
    schema = parse_fields(FIELDS)
    job = Job(description=DESCRIPTION, n=N, out=out, schema=schema, topics=TOPICS.split(","))

    class _Ctx:  # the maker reads only the default temperature from the context
        settings = Settings(home=out.parent / "home")

    class _Backend:
        ctx = _Ctx()
        spec = None

    maker = RecordMaker(job, _Backend())
    loaded = load(locate("smollm2-135m", settings)[0], 2048, 1)
    attempts = max(int(r["_meta"]["index"]) for r in map(json.loads, out.read_text().splitlines())) + 1
    with path.open("w") as handle:
        for index in range(attempts):
            variation, sampling = maker.variation(index), maker.sampling(index)
            messages = record_messages(DESCRIPTION, schema, variation, [])
            roles = {"system": "system", "human": "user"}
            tokens, _ = loaded.render([{"role": roles[m.type], "content": m.text} for m in messages])
            prompt = loaded.llm.detokenize(tokens, special=True).decode()
            handle.write(json.dumps({"prompt": prompt, "grammar": grammar_schema(schema, variation.labels),
                                     "schema": schema, "max_tokens": maker.max_tokens, **sampling}) + "\n")


def raw(requests: Path) -> tuple[float, int]:
    """Wall seconds of the whole raw script, and the valid unique rows it kept."""
    from models.llamacpp import locate
    from podium.settings import Settings

    gguf = locate("smollm2-135m", Settings())[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RAW, str(gguf), str(requests)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"raw script failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start, int(done.stdout.strip())


def main() -> None:
    """Alternate the three sides, then measure the duplicate rate with and without the diversity controls."""
    load = os.getloadavg()[0]
    print(f"{N} ticket rows, {RUNS} alternating rounds, whole processes; machine: {os.cpu_count()} cores, load "
          f"average {load:.1f} at start (shared with other work: figures are noisy)")
    with tempfile.TemporaryDirectory() as tmp:
        out, requests = Path(tmp) / "tickets.jsonl", Path(tmp) / "requests.jsonl"
        podium(out, "--batch", "1")  # warm caches; also the attempts the raw script replays
        dump_requests(out, requests)
        rates: dict[str, list[float]] = {"podium --batch 1": [], "podium (batched)": [], "raw llama-cpp": []}
        for _ in range(RUNS):
            seconds, result = podium(out, "--batch", "1")
            rates["podium --batch 1"].append(result["rows"] / seconds)
            seconds, result = podium(out, "--batch", "8")
            rates["podium (batched)"].append(result["rows"] / seconds)
            seconds, kept = raw(requests)
            rates["raw llama-cpp"].append(kept / seconds)
        median = {name: statistics.median(values) for name, values in rates.items()}
        for name, values in rates.items():
            print(f"{name:17} {median[name]:6.2f} valid unique rows/s (median; runs "
                  f"{', '.join(f'{x:.2f}' for x in values)})")
        raw_rate = median["raw llama-cpp"]
        print(f"ratio one at a time {median['podium --batch 1'] / raw_rate:.2f} (goal >= 0.9), "
              f"batched {median['podium (batched)'] / raw_rate:.2f} (goal: higher); load average now "
              f"{os.getloadavg()[0]:.1f}")
        for label, extra in (("with diversity controls", ()), ("without (--no-diversity)", ("--no-diversity",))):
            # default limits: a run without diversity stops after 50 duplicates in a row, which bounds the attempts
            _, result = podium(out, *extra, topics=not extra)
            attempts = result["rows"] + result["rejected"]["invalid"] + result["rejected"]["duplicate"]
            print(f"duplicate rate {label}: {result['rejected']['duplicate']}/{attempts} attempts "
                  f"= {result['rejected']['duplicate'] / max(attempts, 1):.0%}")


if __name__ == "__main__":
    main()
