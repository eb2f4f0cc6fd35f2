"""The Modal side of a run: upload the base and the tokenized data to the Volume, train there, bring the LoRA back.

The GPU runs ``modal_app.finetune``, i.e. the same ``train.py`` as the CPU; the adapter
comes back as numpy arrays, and the export, evaluation and registration happen here.
"""

from __future__ import annotations

import importlib.util
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium.errors import ConfigError, ModelError
from podium.settings import Settings
from tools.finetune.resources import modal_ready

if TYPE_CHECKING:
    from tools.finetune.plan import Event, Plan

APP_FILE = Path(__file__).resolve().parents[2] / "modal_app.py"


def modal_app(gpu: str) -> Any:
    """Import ``modal_app.py`` from the checkout with the GPU chosen for this run."""
    import os

    os.environ["PODIUM_MODAL_GPU"] = gpu
    spec = importlib.util.spec_from_file_location("modal_app", APP_FILE)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{APP_FILE} is missing", setting="--remote", hint="run podium from its source checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _put(volume: Any, files: dict[str, bytes | Path]) -> None:
    with volume.batch_upload(force=True) as batch:
        for remote, content in files.items():
            if isinstance(content, Path):
                batch.put_file(str(content), remote)
            else:
                batch.put_file(io.BytesIO(content), remote)


def train_on_modal(p: Plan, stage: Path, gpu: str, on_event: Event) -> dict[str, Any]:
    """Train a planned run on a Modal GPU; the same result dict as the CPU run, the LoRA arrays included."""
    modal = modal_ready()
    app = modal_app(gpu)
    run = p.request.name
    jsonl = {s: "\n".join(json.dumps(e) for e in examples).encode() for s, examples in (("train", p.train),
                                                                                        ("val", p.val))}
    on_event({"kind": "stage", "text": f"uploading {p.base_path.name} and the data to the Modal Volume"})
    _put(app.volume, {f"bases/{p.base_path.name}": p.base_path, f"runs/{run}/train.jsonl": jsonl["train"],
                      f"runs/{run}/val.jsonl": jsonl["val"],
                      f"runs/{run}/meta.json": json.dumps({"pad_id": p.tokenizer.eos_id}).encode()})
    on_event({"kind": "stage", "text": f"training on a Modal {gpu} (logs: podium modal logs)"})
    try:
        with modal.enable_output(), app.app.run():
            result = app.finetune.remote(run, p.base_path.name, asdict(p.request.config))
    except modal.exception.TimeoutError as exc:
        raise ModelError(f"the Modal run timed out: {exc}", provider="modal", retryable=True,
                         hint="run the same command again: it resumes from the last checkpoint in the Volume") from exc
    from safetensors.numpy import load

    raw = b"".join(app.volume.read_file(f"runs/{run}/adapter.safetensors"))
    (stage / "modal-result.json").write_text(json.dumps(result))
    return {**result, "arrays": load(raw)}


def upload_model(name: str, settings: Settings) -> None:
    """Put a model in the Volume for the endpoint: ``serve/<name>/model.gguf`` (and a fine-tune's ``adapter.gguf``)."""
    from models.registry import resolve

    modal_ready()
    spec = resolve(f"llamacpp/{name}", settings)
    files: dict[str, bytes | Path] = {f"serve/{name}/model.gguf": spec.path}  # type: ignore[dict-item]
    if spec.extra.get("lora_path"):
        files[f"serve/{name}/adapter.gguf"] = Path(spec.extra["lora_path"])
    _put(modal_app(settings.modal_gpu).volume, files)
