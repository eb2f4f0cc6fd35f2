"""Podium's GPU work on Modal: LoRA fine-tuning, and an OpenAI-compatible llama.cpp server.

Reads like Modal's examples: images, a Volume, constants, the app, its functions and a
local entrypoint that is the smoke test. It imports nothing from Podium: the training
loop and the GGUF export are the standalone files ``tools/finetune/train.py`` and
``tools/finetune/gguf_export.py``, copied into the image, so a GPU runs the very code
the CPU runs.

    modal run modal_app.py                      # smoke test: a few LoRA steps on a GPU
    podium modal deploy NAME                    # upload NAME to the Volume, deploy the endpoint
    podium finetune run ... --remote modal      # train on a GPU, export and evaluate locally

Volume layout (``podium-models``): ``bases/<file>.gguf``, ``runs/<name>/{train,val}.jsonl``
and what a run writes (``adapter/``, ``checkpoint/``, ``adapter.gguf``), ``serve/<name>/``
(``model.gguf`` and optionally ``adapter.gguf``) for the inference server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import modal

MINUTES = 60
HERE = Path(__file__).parent
CODE = HERE / "tools" / "finetune"
VOLUME = Path("/podium")
APP_NAME = os.environ.get("PODIUM_MODAL_APP", "podium")
GPU = os.environ.get("PODIUM_MODAL_GPU", "A10G")
SERVED = os.environ.get("PODIUM_MODAL_SERVE", "smollm2-135m")  # what the endpoint serves: serve/<SERVED>/
LLAMA_CPP_TAG = "b6100"  # llama.cpp release built into the inference image

# The training image: pinned versions, Podium's two standalone files beside the entrypoint.
train_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("torch==2.7.1", "transformers==4.55.0", "peft==0.17.0", "gguf==0.17.1", "safetensors==0.5.3",
                 "accelerate==1.10.0", "bitsandbytes==0.46.1", "numpy==2.2.6")
    .env({"PODIUM_MODAL_SERVE": SERVED, "PODIUM_MODAL_GPU": GPU})
    .add_local_file(CODE / "train.py", "/root/podium_code/train.py")
    .add_local_file(CODE / "gguf_export.py", "/root/podium_code/gguf_export.py")
)

# The inference image: llama.cpp's own server, built for CUDA at a pinned release.
serve_image = (
    modal.Image.from_registry("nvidia/cuda:12.4.1-devel-ubuntu22.04", add_python="3.11")
    .apt_install("git", "build-essential", "cmake", "curl", "libcurl4-openssl-dev")
    .run_commands(
        f"git clone --depth 1 --branch {LLAMA_CPP_TAG} https://github.com/ggml-org/llama.cpp /llama.cpp",
        "cmake /llama.cpp -B /llama.cpp/build -DGGML_CUDA=ON -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF",
        "cmake --build /llama.cpp/build --config Release -j --target llama-server",
    )
    .env({"PODIUM_MODAL_SERVE": SERVED, "PODIUM_MODAL_GPU": GPU})
)

volume = modal.Volume.from_name("podium-models", create_if_missing=True)
app = modal.App(APP_NAME)


def podium_code(name: str):
    """Load one of Podium's standalone training files: from the image on Modal, from the checkout locally."""
    folder = Path("/root/podium_code") if Path("/root/podium_code").is_dir() else CODE
    spec = importlib.util.spec_from_file_location(f"podium_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def run_finetune(root: Path, run: str, base: str, config: dict, device: str) -> dict:
    """The fine-tuning body: the same calls Podium makes on the CPU, on files under ``root``.

    ``root/bases/<base>`` is the GGUF, ``root/runs/<run>/{train,val}.jsonl`` the tokenized
    examples. Writes the adapter, checkpoints and ``adapter.gguf`` into the run's folder.
    """
    train = podium_code("train")
    export = podium_code("gguf_export")
    folder = root / "runs" / run
    examples = {s: [json.loads(x) for x in (folder / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "val")}
    settings = train.TrainConfig(**config)
    gguf = root / "bases" / base
    model = train.with_lora(train.load_base(gguf, root / "cache" / gguf.stem, device=device,
                                            quantize_4bit=settings.quantize_4bit), settings)
    pad = int(json.loads((folder / "meta.json").read_text())["pad_id"])
    log = folder / "progress.jsonl"

    def on_step(progress) -> None:
        with log.open("a") as handle:
            handle.write(json.dumps(progress.__dict__) + "\n")
        print(f"step {progress.step}/{progress.steps} loss {progress.loss:.4f} {progress.tokens_per_s:.0f} tok/s")

    result = train.train(model, examples["train"], settings, folder, pad_id=pad, on_step=on_step)
    result["eval_loss"] = train.eval_loss(model, examples["val"], pad)
    with model.disable_adapter():
        result["base_eval_loss"] = train.eval_loss(model, examples["val"], pad)
    arrays = train.adapter_arrays(model)
    export.write_adapter(gguf, arrays, settings.alpha, folder / "adapter.gguf")
    from safetensors.numpy import save_file

    save_file(arrays, str(folder / "adapter.safetensors"))
    return {k: v for k, v in result.items() if k != "arrays"}


@app.function(image=train_image, gpu=GPU, volumes={VOLUME: volume}, timeout=4 * 60 * MINUTES)
def finetune(run: str, base: str, config: dict) -> dict:
    """LoRA (QLoRA with ``quantize_4bit``) on a GPU; results land in the Volume under ``runs/<run>/``."""
    volume.reload()
    result = run_finetune(VOLUME, run, base, config, device="cuda")
    volume.commit()
    return result


@app.cls(image=serve_image, gpu=GPU, volumes={VOLUME: volume}, scaledown_window=5 * MINUTES, timeout=60 * MINUTES)
@modal.concurrent(max_inputs=16)
class Inference:
    """llama.cpp's OpenAI-compatible server for ``serve/<SERVED>/``, loaded once per container."""

    @modal.enter()
    def start(self) -> None:
        """Start llama-server with the model (and adapter) and wait until it answers."""
        folder = VOLUME / "serve" / SERVED
        command = ["/llama.cpp/build/bin/llama-server", "-m", str(folder / "model.gguf"), "--host", "0.0.0.0",
                   "--port", "8000", "-ngl", "999", "--alias", SERVED, "--parallel", "16", "--ctx-size", "32768"]
        if (folder / "adapter.gguf").is_file():
            command += ["--lora", str(folder / "adapter.gguf")]
        self.server = subprocess.Popen(command)
        import urllib.request

        for _ in range(10 * MINUTES):
            try:
                urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=1)
                return
            except OSError:
                time.sleep(1)  # llama.cpp is loading the model onto the GPU
        raise RuntimeError("llama-server did not start")

    @modal.web_server(port=8000, startup_timeout=10 * MINUTES)
    def serve(self) -> None:
        """The endpoint: ``<url>/v1/chat/completions`` and friends (``PODIUM_MODAL_URL=<url>/v1``)."""

    @modal.exit()
    def stop(self) -> None:
        """Stop the server with the container."""
        self.server.terminate()


@app.local_entrypoint()
def smoke_test(steps: int = 5) -> None:
    """Upload the data of a tiny run made by Podium (``podium finetune run --remote modal`` does) and train."""
    print(f"training {steps} steps of run 'smoke' on a {GPU}")
    print(finetune.remote("smoke", "SmolLM2-135M-Instruct.Q4_1.gguf", {"steps": steps}))
