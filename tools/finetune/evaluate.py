"""Before and after: exact match on held-out prompts, answered by llama.cpp with and without the adapter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tools.finetune.data import ChatTokenizer


def normalize(text: str) -> str:
    """Case, spacing and trailing punctuation do not count against an answer."""
    return re.sub(r"\s+", " ", text).strip().strip(".!?").strip().lower()


def held_out(conversations: list[list[dict[str, Any]]], limit: int) -> list[tuple[list[dict[str, Any]], str]]:
    """(prompt messages, reference answer) for each conversation's last assistant turn."""
    pairs = []
    for messages in conversations[:limit]:
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        pairs.append((messages[:last], messages[last]["content"]))
    return pairs


def answers(gguf: Path, tokenizer: ChatTokenizer, prompts: list[list[dict[str, Any]]], *,
            lora: Path | None = None, max_tokens: int = 64, n_threads: int | None = None) -> list[str]:
    """Greedy answers of llama.cpp to each prompt (the adapter applied when given)."""
    from llama_cpp import Llama

    from models.llamacpp import default_threads

    stops = ["<|im_end|>", "<end_of_turn>"] + ([tokenizer.eos] if tokenizer.eos else [])
    llm = Llama(model_path=str(gguf), lora_path=str(lora) if lora else None, n_ctx=2048,
                n_threads=n_threads or default_threads(), verbose=False, seed=0)
    try:
        out = []
        for messages in prompts:
            tokens = tokenizer.tokenize(tokenizer.render(messages, True))
            reply = llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0, stop=stops)
            assert isinstance(reply, dict)  # not streamed: one response, not an iterator of chunks
            out.append(reply["choices"][0]["text"].strip())
        return out
    finally:
        llm.close()


def exact_match(gguf: Path, tokenizer: ChatTokenizer, pairs: list[tuple[list[dict[str, Any]], str]], *,
                lora: Path | None = None, n_threads: int | None = None) -> dict[str, Any]:
    """How many held-out prompts get exactly the reference answer (normalized), with the answers given."""
    longest = max(len(tokenizer.tokenize(ref)) for _, ref in pairs)
    got = answers(gguf, tokenizer, [p for p, _ in pairs], lora=lora, max_tokens=longest + 16, n_threads=n_threads)
    hits = [normalize(a) == normalize(ref) for a, (_, ref) in zip(got, pairs, strict=True)]
    return {"exact_match": sum(hits) / len(hits), "hits": sum(hits), "total": len(hits), "answers": got}
