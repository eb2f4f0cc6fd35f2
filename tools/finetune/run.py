"""One fine-tuning run end to end: check everything, train, export, evaluate, register.

Everything a user can get wrong (data, name, base model, memory, Modal) is checked
by :func:`plan` before the first step. The run is built in ``NAME.partial`` (its
checkpoints let the same command resume) and renamed into the registry only once
llama.cpp has loaded the adapter and answered with it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from models import finetuned
from podium.errors import ConfigError
from podium.settings import Settings
from tools.finetune import data as ftdata
from tools.finetune.evaluate import exact_match, held_out
from tools.finetune.plan import Event, Plan, Request
from tools.finetune.resources import check_memory, supported_architectures
from tools.finetune.train import Progress

MERGES = ("f16", "q8_0", "q4_k_m")
"""Merged GGUF formats ``--merge`` writes."""
FOUR_BIT_WARNING = ("re-quantizing a merged model to 4-bit can erase a small fine-tune (in our tests it recalled "
                    "0 of 3 facts); the adapter and the f16/q8_0 merges keep it: compare the scores below")

def prepare(data: Path, base: str, settings: Settings, *, val: Path | None = None, val_fraction: float = 0.2,
            max_length: int = 512, seed: int = 0) -> tuple[ftdata.ChatTokenizer, dict[str, Any], tuple[Any, ...]]:
    """Check, split and tokenize a data file for a base model; the tokenizer, statistics and splits."""
    from models.registry import resolve

    if not 0 <= val_fraction < 1:
        raise ConfigError(f"--val-fraction must be at least 0 and below 1 ({val_fraction})", setting="--val-fraction",
                          hint="e.g. 0.2 holds out a fifth of the conversations")
    if max_length < 16:
        raise ConfigError(f"--max-length {max_length} is too short", setting="--max-length", hint="use 16 or more")
    spec = resolve(base, settings)
    if spec.provider != "llamacpp" or spec.path is None or spec.extra.get("lora_path"):
        raise ConfigError(f"{base} cannot be a fine-tuning base", setting="--base",
                          hint="use a GGUF model: llamacpp/smollm2-135m, llamacpp/path/to/model.gguf, "
                               "llamacpp/hf:...")
    arch = spec.extra.get("architecture", "")
    if arch not in supported_architectures():
        raise ConfigError(f"transformers cannot load a {arch!r} model from GGUF, so {base} cannot be fine-tuned",
                          setting="--base", hint="use a base of one of these architectures: "
                                                 f"{', '.join(supported_architectures())}")
    conversations = ftdata.read_conversations(data)
    held = ftdata.read_conversations(val) if val else None
    train, val_set = ftdata.split(conversations, val_fraction, seed, held)
    tokenizer = ftdata.ChatTokenizer(spec.path)
    max_length = min(max_length, spec.context_length)
    train_ids, train_stats = ftdata.encode_all(tokenizer, train, max_length)
    val_ids, val_stats = ftdata.encode_all(tokenizer, val_set, max_length)
    stats = {"file": str(data), "val_file": str(val) if val else None, "train": train_stats, "val": val_stats,
             "chat_template": "GGUF" if tokenizer.has_template else "gemma (the GGUF has none)"}
    return tokenizer, stats, (train_ids, val_ids, val_set, spec)


def plan(request: Request, settings: Settings) -> Plan:
    """Check a request completely before anything is trained or written."""
    from models.llamacpp import ALIASES

    finetuned.check_name(request.name, settings, taken=tuple(ALIASES))
    if request.merge is not None and request.merge not in MERGES:
        raise ConfigError(f"unknown --merge {request.merge!r}", setting="--merge",
                          hint=f"use one of {', '.join(MERGES)}")
    tokenizer, stats, (train, val, val_set, spec) = prepare(
        request.data, request.base, settings, val=request.val, val_fraction=request.val_fraction,
        max_length=request.max_length, seed=request.config.seed)
    arch = spec.extra.get("architecture", "")
    steps = request.config.resolve_steps(len(train))
    longest = max(len(e["input_ids"]) for e in train + val)
    memory = check_memory(spec.extra, request.config.batch_size, longest)
    return Plan(request, spec.path, arch, tokenizer, train, val, val_set, stats, steps, memory, settings)


def execute(p: Plan, settings: Settings, on_event: Event = lambda e: None,
            should_stop: Callable[[], bool] | None = None, *, gpu: str | None = None) -> finetuned.FineTuned:
    """Train (here, or on a Modal GPU when ``gpu`` is set), export, evaluate and register; the registered model."""
    stage = finetuned.root(settings) / f"{p.request.name}.partial"
    stage.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if gpu:
        from tools.finetune.remote import train_on_modal

        trained = train_on_modal(p, stage, gpu, on_event)
    else:
        trained = _train_here(p, settings, stage, on_event, should_stop)
    return _register(p, stage, trained, on_event, started, "modal:" + gpu if gpu else "cpu")


def _train_here(p: Plan, settings: Settings, stage: Path, on_event: Event,
                should_stop: Callable[[], bool] | None) -> dict[str, Any]:
    """The CPU run: train, then the validation loss with and without the adapter, and the LoRA matrices."""
    from tools.finetune.train import adapter_arrays, eval_loss, load_base, train, with_lora

    resumed = (stage / "checkpoint" / "state.json").is_file()
    on_event({"kind": "stage", "text": f"loading {p.request.base}" + (" (resuming from its checkpoint)"
                                                                       if resumed else "")})
    cache = settings.data_dir / "finetune" / "cache" / _cache_key(p.base_path)
    model = with_lora(load_base(p.base_path, cache), p.request.config)
    with (stage / "train.log.jsonl").open("a") as log:
        def step(progress: Progress) -> None:
            log.write(json.dumps(asdict(progress)) + "\n")
            log.flush()
            on_event({"kind": "step", **asdict(progress)})

        on_event({"kind": "stage", "text": f"training {p.steps} steps on {len(p.train)} conversations"})
        result = train(model, p.train, p.request.config, stage, pad_id=p.tokenizer.eos_id, on_step=step,
                       should_stop=should_stop)
    on_event({"kind": "stage", "text": "evaluating: validation loss"})
    result["eval_loss"] = eval_loss(model, p.val, p.tokenizer.eos_id)
    with model.disable_adapter():
        result["base_eval_loss"] = eval_loss(model, p.val, p.tokenizer.eos_id)
    result["arrays"] = adapter_arrays(model)
    return result


def _register(p: Plan, stage: Path, trained: dict[str, Any], on_event: Event, started: float,
              where: str) -> finetuned.FineTuned:
    """Export the adapter (and a merge), score base and fine-tune on held-out prompts, then register."""
    from tools.finetune import gguf_export

    request, config = p.request, p.request.config
    on_event({"kind": "stage", "text": "exporting the adapter to GGUF"})
    gguf_export.write_adapter(p.base_path, trained["arrays"], config.alpha, stage / "adapter.gguf")
    merged = _merge(p, trained["arrays"], stage, on_event) if request.merge else {}
    on_event({"kind": "stage", "text": "evaluating: exact match on held-out prompts, base then fine-tune"})
    pairs = held_out(p.val_conversations, request.eval_limit)
    threads = p.settings.n_threads  # PODIUM_N_THREADS, as for every other llama.cpp model
    before = exact_match(p.base_path, p.tokenizer, pairs, n_threads=threads)
    # the adapter loads here, or the run stops before anything is registered
    after = exact_match(p.base_path, p.tokenizer, pairs, lora=stage / "adapter.gguf", n_threads=threads)
    scores: dict[str, Any] = {
        "eval_loss": {"base": trained["base_eval_loss"], "finetuned": trained["eval_loss"]},
        "exact_match": {"base": before["exact_match"], "finetuned": after["exact_match"]},
        "samples": [{"prompt": pr[-1]["content"], "reference": ref, "base": b, "finetuned": a}
                    for (pr, ref), b, a in zip(pairs, before["answers"], after["answers"], strict=True)],
    }
    for quant, path in merged.items():
        scores["exact_match"][f"merged-{quant}"] = exact_match(stage / path, p.tokenizer, pairs,
                                                               n_threads=threads)["exact_match"]
    _loss_chart(trained["losses"], trained["base_eval_loss"], trained["eval_loss"], stage / "loss.png")
    record = finetuned.FineTuned(
        name=request.name, base=request.base, base_path=str(p.base_path), merged=merged, data=p.stats,
        hyperparameters={**asdict(config), "steps": p.steps, "max_length": request.max_length}, scores=scores,
        training={"train_loss": trained["train_loss"], "steps": trained["steps"], "seconds": trained["seconds"],
                  "tokens_per_s": trained["tokens_per_s"], "wall_s": time.perf_counter() - started,
                  "where": where, "architecture": p.architecture, "memory": p.memory},
        created=time.time(), folder=stage)
    record.save()
    shutil.rmtree(stage / "checkpoint", ignore_errors=True)
    final = stage.with_name(request.name)
    stage.replace(final)
    record.folder = final
    if request.benchmarks:
        record.scores["benchmarks"] = _benchmarks(p, record, on_event)
        record.save()
    on_event({"kind": "done", "name": request.name})
    return record


def _benchmarks(p: Plan, record: finetuned.FineTuned, on_event: Event) -> dict[str, dict[str, float]]:
    """Score base and fine-tune on each ``podium eval`` benchmark (a forgetful fine-tune shows here)."""
    from tools.evals.runner import execute as run_eval
    from tools.evals.runner import prepare as prepare_eval

    settings, out = p.settings, {}
    for bench in p.request.benchmarks:
        scores = {}
        for label, spec in (("base", p.request.base), ("finetuned", record.spec)):
            on_event({"kind": "stage", "text": f"podium eval {bench} on {spec}"})
            prepared = prepare_eval(settings, model=spec, benchmark=bench, limit=p.request.benchmark_limit,
                                    shots=None, seed=0, data=None, chat=False, max_tokens=None)
            scores[label] = run_eval(prepared).score / 100
        out[bench] = scores
    return out


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def _merge(p: Plan, arrays: dict[str, Any], stage: Path, on_event: Event) -> dict[str, str]:
    """Write the merged GGUF (F16 by gguf-py, then llama.cpp's quantizer for q8_0 and q4_k_m)."""
    from tools.finetune import gguf_export

    quant = p.request.merge or "f16"
    on_event({"kind": "stage", "text": f"merging the adapter into {quant}"})
    if quant == "q4_k_m":
        on_event({"kind": "warning", "text": FOUR_BIT_WARNING})
    base_f16, f16 = stage / "base-f16.gguf", stage / "merged-f16.gguf"
    quantize(p.base_path, base_f16, "f16")
    gguf_export.write_merged(base_f16, arrays, p.request.config.alpha, p.request.config.rank, f16)
    base_f16.unlink()
    if quant == "f16":
        return {"f16": f16.name}
    out = stage / f"merged-{quant}.gguf"
    quantize(f16, out, quant)
    f16.unlink()
    return {quant: out.name}


def quantize(source: Path, target: Path, quant: str) -> None:
    """llama.cpp's own quantizer (``llama_model_quantize``): any GGUF to ``f16``, ``q8_0`` or ``q4_k_m``."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16, "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
                    "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M}[quant]
    params.allow_requantize = True  # the base may itself be quantized (SmolLM2 ships as Q4_1)
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # llama.cpp reports every tensor on stderr
        code = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if code != 0:
        raise ConfigError(f"llama.cpp could not quantize the merged model to {quant} (code {code})",
                          setting="--merge", hint="use --merge f16, or keep the adapter alone")


def _loss_chart(losses: list[float], before: float, after: float, path: Path) -> None:
    """The training loss per step, with the validation loss before and after, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    ax.plot(range(1, len(losses) + 1), losses, label="training loss")
    ax.scatter([0, len(losses)], [before, after], color="tab:red", zorder=3, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
