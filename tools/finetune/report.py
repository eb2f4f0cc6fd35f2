"""Pure renderings of fine-tunes shared by the CLI, `podium models`, the Fine-tune tab and the specialist."""

from __future__ import annotations

from typing import Any

BEFORE_AFTER_HEADERS = ["metric", "base", "fine-tuned"]


def result_json(record: dict[str, Any]) -> dict[str, Any]:
    """The ``podium finetune run --json`` object (the issue's contract, then extras)."""
    training, scores = record.get("training", {}), record.get("scores", {})
    folder = record.get("folder", "")
    return {
        "name": record["name"], "spec": f"llamacpp/{record['name']}", "adapter": f"{folder}/{record['adapter']}",
        "base": record["base"], "train_loss": training.get("train_loss"),
        "eval_loss": scores.get("eval_loss", {}).get("finetuned"), "steps": training.get("steps"),
        "seconds": training.get("seconds"), "tokens_per_s": training.get("tokens_per_s"),
        "base_eval_loss": scores.get("eval_loss", {}).get("base"), "exact_match": scores.get("exact_match", {}),
        "benchmarks": scores.get("benchmarks", {}),
        "merged": {q: f"{folder}/{p}" for q, p in record.get("merged", {}).items()},
        "loss_chart": f"{folder}/loss.png", "where": training.get("where"),
    }


def before_after(scores: dict[str, Any]) -> list[list[str]]:
    """Rows of the before/after table: validation loss, exact match, then any benchmark."""
    loss, match = scores.get("eval_loss", {}), scores.get("exact_match", {})
    rows = [["validation loss (lower is better)", _num(loss.get("base")), _num(loss.get("finetuned"))],
            ["exact match on held-out prompts", _pct(match.get("base")), _pct(match.get("finetuned"))]]
    for key, value in match.items():
        if key.startswith("merged-"):
            rows.append([f"exact match, {key} GGUF", "", _pct(value)])
    for name, pair in scores.get("benchmarks", {}).items():
        rows.append([f"{name} (podium eval)", _pct(pair.get("base"), 1), _pct(pair.get("finetuned"), 1)])
    return rows


def summary(record: dict[str, Any]) -> str:
    """One line: base, data, hyperparameters and scores."""
    h, data = record.get("hyperparameters", {}), record.get("data", {})
    match = record.get("scores", {}).get("exact_match", {})
    loss = record.get("scores", {}).get("eval_loss", {})
    file = str(data.get("file", "?")).rsplit("/", 1)[-1]
    return (f"LoRA r{h.get('rank')} α{h.get('alpha'):g} on {','.join(h.get('targets', []))}, {h.get('steps')} steps, "
            f"lr {h.get('lr'):g} · base {record.get('base')} · data {file} "
            f"({data.get('train', {}).get('examples', '?')} train / {data.get('val', {}).get('examples', '?')} val) · "
            f"val loss {_num(loss.get('base'))} → {_num(loss.get('finetuned'))} · "
            f"exact match {_pct(match.get('base'))} → {_pct(match.get('finetuned'))}")


def list_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """Rows for ``podium finetune list`` and the tab: name, base, steps, losses, exact match, created."""
    import time

    rows = []
    for r in records:
        scores = r.get("scores", {})
        rows.append([f"llamacpp/{r['name']}", r["base"], str(r.get("hyperparameters", {}).get("steps", "")),
                     f"{_num(scores.get('eval_loss', {}).get('base'))} → "
                     f"{_num(scores.get('eval_loss', {}).get('finetuned'))}",
                     f"{_pct(scores.get('exact_match', {}).get('base'))} → "
                     f"{_pct(scores.get('exact_match', {}).get('finetuned'))}",
                     ", ".join(r.get("merged", {})) or "-",
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(r.get("created", 0)))])
    return rows


LIST_HEADERS = ["model", "base", "steps", "val loss", "exact match", "merged", "created"]


def progress_line(event: dict[str, Any]) -> str:
    """A training step as one log line."""
    return (f"step {event['step']}/{event['steps']}  loss {event['loss']:.4f}  lr {event['lr']:.2e}  "
            f"{event['tokens_per_s']:.0f} tok/s  ETA {event['eta_s']:.0f}s")


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _pct(value: Any, digits: int = 0) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value * 100:.{digits}f}%"
