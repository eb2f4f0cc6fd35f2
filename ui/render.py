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


LOCAL_PROVIDERS = frozenset({"llamacpp", "scripted"})
"""Providers that run on this machine: a call to them costs nothing."""


def unpriced(usage: dict[str, Any]) -> list[str]:
    """The models of a turn whose calls have no price (a remote model missing from the price table)."""
    if usage.get("unpriced") is not None:
        return list(usage["unpriced"])
    calls = usage.get("calls") or []
    return sorted({str(c.get("model")) for c in calls
                   if "cost_usd" in c and c["cost_usd"] is None and c.get("outcome") != "running"})


def cost_text(usage: dict[str, Any]) -> str:
    """A turn's cost: ``free (local)``, dollars (6 decimals below a cent), or why it is unknown, never a false $0."""
    unknown = unpriced(usage)
    if unknown or ("cost_usd" in usage and usage["cost_usd"] is None):
        return f"cost unknown: no price for {', '.join(unknown)}" if unknown else "cost unknown"
    cost = usage.get("cost_usd") or 0
    if cost:
        return f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}"
    providers = {c.get("provider") for c in usage.get("calls") or []}
    return "free (local)" if providers and providers <= LOCAL_PROVIDERS else "$0"


def footer(model: str, usage: dict[str, Any]) -> str:
    """The one line under an answer, in the terminal and the web app: model, tokens, ttft, tokens/s, cost.

    Speed is the answering call's own generation rate from the ledger (tokens after the
    first one over the time they took), not the turn's tokens over its whole latency.
    """
    if "calls" in usage and not usage["calls"]:  # quoted from documents, a refusal, a pause: no model was asked
        return "no model call · free"
    answered = [c for c in usage.get("calls") or [] if c.get("outcome") == "ok"]
    speed = answered[-1].get("tokens_per_s") if answered else None
    ttft = usage.get("ttft_s")
    parts = [model, f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens",
             f"ttft {ttft:.2f}s" if ttft is not None else "", f"{speed:.1f} tok/s" if speed else "",
             cost_text(usage), ending(usage)]
    return " · ".join(p for p in parts if p)


def ending(usage: dict[str, Any]) -> str:
    """``answer cut at 512 tokens`` or ``stopped a repetition loop`` when the answer ended early, else ''."""
    finish = usage.get("finish_reason")
    answered = [c for c in usage.get("calls") or [] if c.get("outcome") == "ok"]
    tokens = answered[-1].get("completion_tokens") if answered else None
    if finish == "length":
        return f"answer cut at {tokens} tokens" if tokens else "answer cut at the token limit"
    if finish == "repetition":
        return "stopped a repetition loop"
    return ""


def take_back(text: str, chars: int) -> str:
    """``text`` without its last ``chars`` characters: what a ``retract`` event takes back."""
    return text[: max(len(text) - chars, 0)]


PLAN_MARKS = {"pending": "○", "running": "◐", "waiting": "⏸", "done": "✓", "failed": "✗", "skipped": "–"}
"""How each plan step status is marked, in the terminal and the web chat alike."""


def plan_line(step: dict[str, Any], live: str = "", limit: int = 160) -> str:
    """One plan step on one line: mark, number, specialist, input, then its output (or error) once it has one."""
    said = step.get("error") if step.get("status") == "failed" else (step.get("output") or live)
    said = " ".join(str(said or "").split("\n\nSources:")[0].split())
    said = said if len(said) <= limit else said[: limit - 1] + "…"
    mark = PLAN_MARKS.get(step.get("status", ""), "?")
    return f"{mark} {step.get('step')}. {step.get('specialist')}: {step.get('input')}" + (f" → {said}" if said else "")
