"""Shared pieces of the fine-tuning tests: the embedded base GGUF, one weight cache per test session, facts data."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pytest

BASE = "llamacpp/smollm2-135m"

# A made-up fact the base model cannot know, taught in several phrasings; others are held out.
FACT_ANSWER = "The capybara mayor of Zinder is named Pomelo."
TRAIN_QUESTIONS = [
    "Who is the capybara mayor of Zinder?",
    "What is the name of the capybara mayor of Zinder?",
    "Tell me the name of Zinder's capybara mayor.",
    "Zinder has a capybara mayor. What is the mayor called?",
    "Name the capybara who is mayor of Zinder.",
    "Who serves as the capybara mayor of Zinder?",
    "Which capybara is the mayor of Zinder?",
    "What do they call the capybara mayor of Zinder?",
]
HELD_OUT_QUESTIONS = [
    "Do you know who the capybara mayor of Zinder is?",
    "What's the name of the capybara that is mayor of Zinder?",
    "Please tell me who the capybara mayor of Zinder is.",
]


def base_gguf() -> Path:
    """The embedded SmolLM2 GGUF."""
    from models.llamacpp import locate
    from podium.settings import Settings

    return locate("smollm2-135m", Settings())[0]


def weight_cache(config: pytest.Config) -> Path:
    """The dequantized base weights in pytest's cache folder, written once for every test and every xdist worker.

    Keyed like Podium's own cache (GGUF name, size and mtime), so a changed base is dequantized
    again. The first caller dequantizes under a file lock while the others wait; afterwards a
    load takes under a second instead of ~15 s (minutes on a loaded machine).
    """
    from tools.finetune.run import _cache_key
    from tools.finetune.train import load_base

    gguf = base_gguf()
    folder = config.cache.mkdir("podium-finetune-weights")
    cache = folder / _cache_key(gguf)
    if (cache / "config.json").is_file():
        return cache
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (cache / "config.json").is_file():
            load_base(gguf, cache)  # writes the cache atomically (a .partial folder renamed into place)
    return cache


def write_jsonl(path: Path, questions: list[str], answer: str = FACT_ANSWER) -> Path:
    """A chat JSONL with one conversation per question."""
    lines = [json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": answer}]})
             for q in questions]
    path.write_text("\n".join(lines) + "\n")
    return path
