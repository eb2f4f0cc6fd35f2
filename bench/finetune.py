"""Fine-tuning speed: Podium's training loop against a plain transformers + peft loop, and the adapter's cost.

1. Training tokens/s on the same data, base, LoRA config and batches: Podium's ``train()``
   (progress, checkpoints off) against a hand-written loop a user would write with
   transformers and peft, alternating runs. Goal: ratio >= 0.95.
2. llama.cpp generation tokens/s of the base alone and of the base with the exported
   adapter applied (what serving ``llamacpp/NAME`` costs against the base).

    python bench/finetune.py [--steps 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.llamacpp import default_threads, locate  # noqa: E402
from podium.settings import Settings  # noqa: E402
from tools.finetune.data import ChatTokenizer, encode_all  # noqa: E402
from tools.finetune.train import TrainConfig, collate, load_base, train, with_lora  # noqa: E402

QUESTIONS = [f"What is fact number {i} about the capybara mayor of Zinder?" for i in range(16)]


def data(tokenizer: ChatTokenizer) -> list[dict[str, list[int]]]:
    conversations = [[{"role": "user", "content": q}, {"role": "assistant", "content": f"Fact {i}: Pomelo, mayor."}]
                     for i, q in enumerate(QUESTIONS)]
    return encode_all(tokenizer, conversations, 256)[0]


def plain_loop(cache: Path, examples: list, config: TrainConfig, pad: int) -> float:
    """What a user writes with transformers + peft: the same batches, AdamW, no extras. Tokens/s."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch.float32),
                           LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=config.targets,
                                      task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    model.train()
    tokens, seconds = 0, 0.0
    for step in range(config.steps):
        batch = [examples[(step * config.batch_size + i) % len(examples)] for i in range(config.batch_size)]
        began = time.perf_counter()
        inputs = collate(batch, pad)
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds += time.perf_counter() - began
        tokens += int(inputs["attention_mask"].sum())
    return tokens / seconds


def podium_loop(gguf: Path, cache: Path, examples: list, config: TrainConfig, pad: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        return train(with_lora(load_base(gguf, cache), config), examples, config, Path(out), pad_id=pad)[
            "tokens_per_s"]


def generation_speed(gguf: Path, lora: Path | None, tokens: int = 64) -> float:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), lora_path=str(lora) if lora else None, n_ctx=512, n_threads=default_threads(),
                verbose=False)
    began = time.perf_counter()
    out = llm.create_completion("Tell me about rivers.", max_tokens=tokens, temperature=0, seed=0)
    took = time.perf_counter() - began
    llm.close()
    return out["usage"]["completion_tokens"] / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = Settings()
    gguf = locate("smollm2-135m", settings)[0]
    tokenizer = ChatTokenizer(gguf)
    examples = data(tokenizer)
    cache = settings.data_dir / "finetune" / "cache" / "bench-smollm2-135m"
    load_base(gguf, cache)  # fills the cache once; both loops then load from it
    config = TrainConfig(steps=args.steps, batch_size=4, checkpoint_every=0)
    ours, plain = [], []
    for _ in range(args.rounds):  # alternating, so machine load hits both sides alike
        ours.append(podium_loop(gguf, cache, examples, config, tokenizer.eos_id))
        plain.append(plain_loop(cache, examples, config, tokenizer.eos_id))
    best_ours, best_plain = max(ours), max(plain)
    print(f"training tokens/s: podium {best_ours:.1f}  plain transformers+peft {best_plain:.1f}  "
          f"ratio {best_ours / best_plain:.3f} (goal >= 0.95)  runs {[round(x, 1) for x in ours]} vs "
          f"{[round(x, 1) for x in plain]}")

    from tools.finetune import gguf_export
    from tools.finetune.train import adapter_arrays

    with tempfile.TemporaryDirectory() as out:
        adapter = Path(out) / "adapter.gguf"
        gguf_export.write_adapter(gguf, adapter_arrays(with_lora(load_base(gguf, cache), config)), config.alpha,
                                  adapter)
        base = [generation_speed(gguf, None), generation_speed(gguf, None)]
        tuned = [generation_speed(gguf, adapter), generation_speed(gguf, adapter)]
    print(f"llama.cpp generation tok/s: base {max(base):.1f}  base + adapter {max(tuned):.1f}  "
          f"ratio {max(tuned) / max(base):.3f} (the adapter's cost when serving llamacpp/NAME)")


if __name__ == "__main__":
    main()
