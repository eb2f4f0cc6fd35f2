"""Published lm-evaluation-harness figures to calibrate Podium's scores against (``calibration`` in results)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.scores import Result

_LM_EVAL_SMOLLM2 = ("https://huggingface.co/lldois/SmolLM2-135M-Reasoning-SLERP-Champion (\"Benchmark Results "
                    "(lm-eval, 0-shot)\", Baseline column: SmolLM2-135M-Instruct)")
_LIGHTEVAL_SMOLLM2 = "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct (lighteval, zero-shot)"


@dataclass(frozen=True)
class Published:
    """A score someone published for a model on a benchmark."""

    score: float
    """Percent."""
    metric: str
    """The metric it reports (``acc`` or ``acc_norm``)."""
    harness: str
    """Which harness and setting produced it."""
    source: str
    """Where it was published."""


PUBLISHED: dict[tuple[str, str], Published] = {
    ("SmolLM2-135M-Instruct", "arc_easy"): Published(54.12, "acc", "lm-evaluation-harness, 0-shot", _LM_EVAL_SMOLLM2),
    ("SmolLM2-135M-Instruct", "arc_challenge"): Published(27.73, "acc_norm", "lm-evaluation-harness, 0-shot",
                                                          _LM_EVAL_SMOLLM2),
    ("SmolLM2-135M-Instruct", "hellaswag"): Published(42.99, "acc_norm", "lm-evaluation-harness, 0-shot",
                                                      _LM_EVAL_SMOLLM2),
    ("SmolLM2-135M-Instruct", "piqa"): Published(66.92, "acc_norm", "lm-evaluation-harness, 0-shot", _LM_EVAL_SMOLLM2),
}
"""Keyed by the model-card name (``models/cards.json``) and benchmark."""

LIGHTEVAL: dict[tuple[str, str], Published] = {
    ("SmolLM2-135M-Instruct", "hellaswag"): Published(40.9, "acc_norm", "lighteval, 0-shot", _LIGHTEVAL_SMOLLM2),
    ("SmolLM2-135M-Instruct", "piqa"): Published(66.3, "acc_norm", "lighteval, 0-shot", _LIGHTEVAL_SMOLLM2),
}
"""The model card's own figures, from another harness: context, not calibration."""


def calibration(card_name: str | None, result: Result) -> dict[str, Any] | None:
    """Podium's score next to the published lm-evaluation-harness figure, when there is one for this setting."""
    published = PUBLISHED.get((card_name or "", result.benchmark))
    if published is None or result.shots != 0 or result.mode != "loglik":
        return None
    metric = result.extra.get("metrics", {}).get(published.metric)
    if metric is None:
        return None
    lo, hi = metric["ci95"]
    note = {"published": published.score, "metric": published.metric, "harness": published.harness,
            "source": published.source, "podium": metric["score"], "podium_ci95": [lo, hi],
            "difference": round(metric["score"] - published.score, 2), "within_ci": lo <= published.score <= hi}
    other = LIGHTEVAL.get((card_name or "", result.benchmark))
    if other:
        note["lighteval"] = other.score
    return note
