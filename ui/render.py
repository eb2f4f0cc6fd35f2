"""Pure conversions from Podium's records to terminal text and table rows."""

from __future__ import annotations

from typing import Any

from models.spec import ModelSpec


def human_size(n: float | None) -> str:
    """Bytes or counts as 1.2K / 3.4M / 5.6G."""
    if n is None:
        return "-"
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}P"


def model_row(spec: ModelSpec) -> dict[str, Any]:
    """One model as a flat row: spec facts plus GGUF internals where known."""
    x = spec.extra
    return {
        "spec": spec.spec,
        "local": spec.local,
        "chat": spec.chat,
        "tool_calling": spec.tool_calling,
        "json_schema": spec.json_schema,
        "context_length": spec.context_length,
        "architecture": x.get("architecture"),
        "parameters": x.get("parameters"),
        "layers": x.get("layers"),
        "heads": x.get("heads"),
        "kv_heads": x.get("kv_heads"),
        "embedding_size": x.get("embedding_size"),
        "train_context_length": x.get("context_length"),
        "vocab_size": x.get("vocab_size"),
        "quantization": x.get("quantization"),
        "file_size": x.get("file_size"),
        "license": spec.license,
        "price_in_per_1m": spec.price_in,
        "price_out_per_1m": spec.price_out,
        "path": str(spec.path) if spec.path else None,
        "description": spec.description,
        **({"finetune": x["finetune"]} if x.get("finetune") else {}),
    }


def usage_footer(model: str, usage: dict[str, Any]) -> str:
    """The one-line footer under an answer: model, tokens, speed, cost."""
    ttft = usage.get("ttft_s")
    latency = usage.get("latency_s") or 0
    completion = usage.get("completion_tokens", 0)
    speed = f"{completion / (latency - (ttft or 0)):.1f} tok/s" if latency and latency > (ttft or 0) else "-"
    head = f"{model} · {usage.get('prompt_tokens', 0)}+{completion} tokens"
    timing = f" · ttft {ttft:.2f}s · {speed}" if ttft is not None else ""
    return f"{head}{timing} · ${usage.get('cost_usd', 0):.6f}"


def take_back(text: str, chars: int) -> str:
    """``text`` without its last ``chars`` characters: what a ``retract`` event takes back."""
    return text[: max(len(text) - chars, 0)]
