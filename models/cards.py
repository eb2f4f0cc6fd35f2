"""Model cards: what a model is, what it costs, how fast and how good it measured here.

Facts come from ``models/cards.json`` (shipped, one source per fact), merged with what
the GGUF header says (a GGUF's own facts win for the file in hand), the price table, the
ledger (latency and speed of real calls) and ``models/scores`` (speed runs, benchmark
results). A fact nobody knows stays ``None``: never a guess.
"""

from __future__ import annotations

import json
import re
import statistics
from functools import lru_cache
from pathlib import Path
from typing import Any

from models.scores import Scores
from models.spec import ModelSpec

CHINCHILLA_TOKENS_PER_PARAMETER = 20
"""Compute-optimal training tokens per parameter (Hoffmann et al., 2022: Chinchilla, 70B params on 1.4T tokens)."""
CHINCHILLA_SOURCE = "https://arxiv.org/abs/2203.15556"
FACTS = ("developer", "weights", "license", "release_date", "knowledge_cutoff", "parameters", "training_tokens",
         "context_length", "training_cost")
"""The facts a card shows, in order."""
_QUANT_SUFFIX = re.compile(r"[-_.](?:i?q\d\w*|f16|bf16|f32|gguf)$", re.I)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@lru_cache(maxsize=1)
def known_facts() -> list[dict[str, Any]]:
    """The shipped fact file's models."""
    return json.loads((Path(__file__).with_name("cards.json")).read_text(encoding="utf-8"))["models"]


def candidates(spec: ModelSpec) -> list[str]:
    """Names a spec may be known by: its name, the GGUF's ``general.name``, the file name without quantization."""
    names = [spec.name, str(spec.extra.get("name") or "")]
    if spec.path:
        stem = spec.path.name.removesuffix(".gguf")
        while _QUANT_SUFFIX.search(stem):
            stem = _QUANT_SUFFIX.sub("", stem)
        names.append(stem)
    return [_norm(n) for n in names if n]


def facts_for(spec: ModelSpec) -> dict[str, Any] | None:
    """The fact-file entry for a spec, or ``None`` when the model is not in it."""
    wanted = set(candidates(spec))
    for entry in known_facts():
        if wanted & {_norm(m) for m in entry["match"]}:
            return entry
    return None


def _measured_ledger(ledger: Any, spec: str) -> dict[str, Any] | None:
    """Latency and speed of this model's successful calls in the ledger."""
    if ledger is None:
        return None
    rows = ledger.db.execute("SELECT ttft_s, duration_s, tokens_per_s FROM calls WHERE model = ? AND outcome = 'ok'",
                             (spec,))
    if not rows:
        return None
    durations = sorted(r["duration_s"] for r in rows if r["duration_s"] is not None)
    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 4) if values else None
    return {"calls": len(rows), "ttft_s": median([r["ttft_s"] for r in rows if r["ttft_s"] is not None]),
            "tokens_per_s": median([r["tokens_per_s"] for r in rows if r["tokens_per_s"] is not None]),
            "p50_s": median(durations), "p95_s": round(percentile(durations, 95), 4) if durations else None}


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of sorted ``values`` (linear interpolation)."""
    if len(values) == 1:
        return values[0]
    pos = (len(values) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def card(spec: ModelSpec, *, scores: Scores | None = None, ledger: Any = None) -> dict[str, Any]:
    """Everything Podium knows about a model, each fact with its source (``None``: unknown)."""
    entry = facts_for(spec)
    facts = {name: dict(entry["facts"][name]) for name in FACTS if entry and name in entry["facts"]}
    gguf = spec.extra if spec.path else {}
    file = spec.path.name if spec.path else ""
    if gguf.get("parameters") and "parameters" not in facts:
        facts["parameters"] = {"value": gguf["parameters"], "source": f"GGUF tensors of {file}"}
    if gguf.get("context_length") and "context_length" not in facts:
        facts["context_length"] = {"value": gguf["context_length"], "source": f"GGUF metadata of {file}"}
    if gguf.get("license") and "license" not in facts:
        facts["license"] = {"value": gguf["license"], "source": f"GGUF metadata of {file}"}
    if spec.local and "weights" not in facts and spec.path:
        facts["weights"] = {"value": "open", "source": f"local file {file}"}
    values = {name: facts.get(name, {}).get("value") for name in FACTS}
    params, tokens = values["parameters"], values["training_tokens"]
    ratio = round(tokens / params, 1) if params and tokens else None
    best = scores.best() if scores else {}
    speed = scores.speed(spec.spec) if scores else None
    return {
        "spec": spec.spec, "name": entry["name"] if entry else spec.description or spec.name, **values,
        "chinchilla": {"tokens_per_parameter": ratio, "compute_optimal": CHINCHILLA_TOKENS_PER_PARAMETER,
                       "times_compute_optimal": round(ratio / CHINCHILLA_TOKENS_PER_PARAMETER, 1) if ratio else None,
                       "source": CHINCHILLA_SOURCE},
        "price_in_per_1m": spec.price_in, "price_out_per_1m": spec.price_out,
        "price_gpu_second": spec.extra.get("price_gpu_second") or None,
        "priced": spec.local or spec.extra.get("priced") is not False,
        "local": spec.local, "context_window_used": spec.context_length,
        "gguf": {k: gguf.get(k) for k in ("architecture", "layers", "heads", "kv_heads", "embedding_size",
                                          "vocab_size", "quantization", "file_size")} if gguf else None,
        "measured": {"ledger": _measured_ledger(ledger, spec.spec), "speed": speed.to_dict() if speed else None,
                     "benchmarks": {b: {"score": r.score, "metric": r.metric, "ci95": list(r.ci95), "n": r.n}
                                    for (m, b), r in best.items() if m == spec.spec}},
        "sources": {name: f["source"] for name, f in facts.items()},
        "unknown": [name for name in FACTS if values[name] is None],
    }
