"""The LoRA training loop, one file for the CPU here and a GPU on Modal (it imports nothing from Podium).

Examples arrive tokenized: ``input_ids`` and ``labels`` with ``-100`` outside the
assistant's turns (masked by position, because SmolLM2's pad token is its eos). The
base model is a GGUF that transformers dequantizes; its float weights are cached as
safetensors, which turns a ~15 s load into under a second. Checkpoints let an
interrupted run resume where it stopped.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IGNORE = -100
"""Label of a position that carries no loss (prompt, system, padding)."""
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
"""LoRA on the attention projections: enough to teach facts and style, cheap to export."""


@dataclass
class TrainConfig:
    """Hyperparameters of one run; saved beside the adapter and in the registry."""

    steps: int = 30
    """Optimizer steps (``epochs`` wins when set)."""
    epochs: float | None = None
    """Passes over the training split; sets ``steps`` from the data size."""
    lr: float = 2e-3
    """Peak learning rate (linear warm-up, then linear decay to a tenth)."""
    rank: int = 8
    """LoRA rank."""
    alpha: float = 16.0
    """LoRA alpha: the update is scaled by ``alpha / rank``."""
    dropout: float = 0.0
    """LoRA dropout."""
    targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    """Module names LoRA wraps."""
    batch_size: int = 4
    """Examples per step."""
    seed: int = 0
    """Seed of the data order and the LoRA initialization."""
    checkpoint_every: int = 10
    """Steps between checkpoints (0: none)."""
    quantize_4bit: bool = False
    """QLoRA: load the base in 4-bit (bitsandbytes, CUDA only)."""

    def resolve_steps(self, n_train: int) -> int:
        """Steps to run: ``epochs`` over ``n_train`` examples when given, else ``steps``."""
        if self.epochs:
            return max(1, math.ceil(self.epochs * n_train / self.batch_size))
        return self.steps


def encode_conversation(messages: list[dict[str, str]], render: Callable[[list[dict[str, str]], bool], str],
                        tokenize: Callable[[str], list[int]], max_length: int) -> tuple[list[int], list[int], int]:
    """Token ids and labels of one conversation, loss on the assistant's tokens only.

    ``render(messages, add_generation_prompt)`` applies the chat template. Each assistant
    turn's tokens are found by position: the conversation up to it rendered with a
    generation prompt is a prefix of the conversation including it. Returns ids, labels
    and the number of tokens cut to fit ``max_length``.
    """
    ids = tokenize(render(messages, False))
    labels = [IGNORE] * len(ids)
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or not message.get("weight", 1):  # weight 0: context, not learned
            continue
        start = len(tokenize(render(messages[:index], True)))
        end = len(tokenize(render(messages[: index + 1], False)))
        labels[start:end] = ids[start:end]
    cut = max(0, len(ids) - max_length)
    return ids[:max_length], labels[:max_length], cut


def batches(examples: list[dict[str, list[int]]], batch_size: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """Endless batches: each epoch a new seeded shuffle (the same order again when a run resumes)."""
    epoch = 0
    while True:
        order = list(range(len(examples)))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            if len(chunk) < batch_size:  # top up the last batch from the start of the epoch
                chunk += order[: batch_size - len(chunk)]
            yield [examples[i] for i in chunk]
        epoch += 1


def collate(batch: list[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors; padding is masked by position in both the attention mask and the labels."""
    import torch

    width = max(len(e["input_ids"]) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example["input_ids"])
        ids[row, :n] = torch.tensor(example["input_ids"])
        labels[row, :n] = torch.tensor(example["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def load_base(gguf: Path, cache_dir: Path, *, device: str = "cpu", quantize_4bit: bool = False) -> Any:
    """The base model in float (bfloat16 on a GPU), from the safetensors cache or dequantized from the GGUF."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    options: dict[str, Any] = {"dtype": dtype}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
        options["device_map"] = {"": device}
    # transformers decorates PreTrainedModel.to with functools.wraps: mypy then wants the model as its 1st argument.
    if not (cache_dir / "config.json").is_file():
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        _save_cache(model, cache_dir)
        if not quantize_4bit and dtype == torch.float32:
            return model.to(device)  # type: ignore[arg-type]
    model = AutoModelForCausalLM.from_pretrained(str(cache_dir), **options)
    return model if quantize_4bit else model.to(device)  # type: ignore[arg-type]


def _save_cache(model: Any, cache_dir: Path) -> None:
    """Write the dequantized weights once; a half-written cache is never left behind."""
    # A GGUF-loaded model remembers it was "quantized"; save_pretrained refuses until that is forgotten.
    for attribute in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attribute):
            setattr(model, attribute, None)
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = cache_dir.with_name(cache_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial), safe_serialization=True)
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(cache_dir, ignore_errors=True)
    partial.replace(cache_dir)


def with_lora(model: Any, config: TrainConfig) -> Any:
    """Wrap the base in a PEFT LoRA (seeded, so two runs of one config start alike)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    # PEFT annotates lora_alpha as int, but only divides it by r: a fractional alpha works.
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,  # type: ignore[arg-type]
                      target_modules=list(config.targets), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def eval_loss(model: Any, examples: list[dict[str, list[int]]], pad_id: int, batch_size: int = 8) -> float:
    """Mean loss per assistant token over ``examples`` (with the adapter as it is now)."""
    import torch

    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = {k: v.to(device) for k, v in collate(examples[start:start + batch_size], pad_id).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            shifted = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=IGNORE,
                reduction="sum")
            total += float(losses)
            count += int((shifted != IGNORE).sum())
    return total / max(count, 1)


@dataclass
class Progress:
    """One logged step: what the progress bar, the log file and the loss chart show."""

    step: int
    steps: int
    loss: float
    lr: float
    tokens_per_s: float
    eta_s: float
    elapsed_s: float


def _lr_at(step: int, steps: int, peak: float) -> float:
    warmup = max(1, min(10, steps // 10))
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(0.1, 1 - (step - warmup) / max(1, steps - warmup))


def train(model: Any, train_set: list[dict[str, list[int]]], config: TrainConfig, out_dir: Path, *,
          pad_id: int, on_step: Callable[[Progress], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Train the LoRA-wrapped ``model`` on ``train_set``, checkpointing to ``out_dir/checkpoint``.

    Resumes from a checkpoint of the same config when one exists. Saves the adapter
    (PEFT format) to ``out_dir/adapter``; returns the losses, steps, seconds and tokens/s.
    """
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    steps = config.resolve_steps(len(train_set))
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    losses: list[float] = []
    start, seconds, tokens = 0, 0.0, 0
    checkpoint = out_dir / "checkpoint"
    if (checkpoint / "state.json").is_file():
        state = json.loads((checkpoint / "state.json").read_text())
        if state.get("config") == asdict(config):
            from safetensors.torch import load_file

            set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter.safetensors")))
            optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
            start, losses, seconds, tokens = state["step"], state["losses"], state["seconds"], state["tokens"]
    stream = batches(train_set, config.batch_size, config.seed)
    for _ in range(start):
        next(stream)  # the batches the resumed steps already saw
    model.train()
    for step in range(start, steps):
        began = time.perf_counter()
        batch = {k: v.to(device) for k, v in collate(next(stream), pad_id).items()}
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, steps, config.lr)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        took = time.perf_counter() - began
        seconds += took
        tokens += int(batch["attention_mask"].sum())
        losses.append(float(loss))
        done = step + 1
        if on_step:
            on_step(Progress(done, steps, losses[-1], optimizer.param_groups[0]["lr"], tokens / seconds,
                             seconds / (done - start) * (steps - done) if done > start else 0.0, seconds))
        if config.checkpoint_every and (done % config.checkpoint_every == 0 or done == steps):
            _checkpoint(model, optimizer, checkpoint, config, done, losses, seconds, tokens,
                        get_peft_model_state_dict)
        if should_stop and should_stop() and done < steps:
            raise KeyboardInterrupt(f"stopped at step {done} of {steps}; run again to resume")
    model.save_pretrained(str(out_dir / "adapter"))
    return {"steps": steps, "train_loss": losses[-1] if losses else None, "losses": losses,
            "seconds": seconds, "tokens_per_s": tokens / seconds if seconds else 0.0, "tokens": tokens}


def _checkpoint(model: Any, optimizer: Any, folder: Path, config: TrainConfig, step: int, losses: list[float],
                seconds: float, tokens: int, state_dict: Callable[[Any], dict[str, Any]]) -> None:
    """Write a checkpoint next to the old one, then swap it in (a crash mid-write keeps the old one)."""
    import torch
    from safetensors.torch import save_file

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in state_dict(model).items()},
              str(partial / "adapter.safetensors"))
    torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    (partial / "state.json").write_text(json.dumps({"step": step, "losses": losses, "seconds": seconds,
                                                    "tokens": tokens, "config": asdict(config)}))
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)


def adapter_arrays(model: Any) -> dict[str, Any]:
    """The LoRA A and B matrices as float32 numpy arrays, keyed by PEFT's names."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().float().cpu().numpy() for k, v in get_peft_model_state_dict(model).items()}
