"""The registry of fine-tuned models: one folder each under ``PODIUM_HOME/finetune/models``.

A model is listed only when its folder has ``model.json`` and the adapter GGUF it
names: runs are built in ``NAME.partial`` and renamed into place once the adapter
has loaded in llama.cpp, so a failed or interrupted run never shows up half-made.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podium.errors import ConfigError, NotFoundError
from podium.settings import Settings

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""Fine-tune names: lower-case letters, digits, ``.``, ``_`` and ``-``, up to 64 characters."""


@dataclass
class FineTuned:
    """One registered fine-tune: a base GGUF plus a LoRA adapter GGUF (and optional merged GGUFs)."""

    name: str
    """Registry name; the model is ``llamacpp/NAME``."""
    base: str
    """Spec of the base model, e.g. ``llamacpp/smollm2-135m``."""
    base_path: str
    """The base GGUF the adapter was trained on."""
    adapter: str = "adapter.gguf"
    """Adapter GGUF, relative to the model's folder."""
    merged: dict[str, str] = field(default_factory=dict)
    """Merged GGUFs by quantization (``f16``, ``q8_0``, ``q4_k_m``), relative to the folder."""
    data: dict[str, Any] = field(default_factory=dict)
    """Training data: file, examples per split, token statistics."""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """The training config (steps, lr, rank, alpha, targets...)."""
    scores: dict[str, Any] = field(default_factory=dict)
    """Before/after evaluation: validation loss and exact match for base and fine-tune."""
    training: dict[str, Any] = field(default_factory=dict)
    """Train loss, steps, seconds, tokens/s, where it ran."""
    created: float = 0.0
    """Unix time it was registered."""
    folder: Path = field(default=Path(), compare=False)
    """Its folder in the registry (not saved)."""

    @property
    def spec(self) -> str:
        """The model spec Podium routes to."""
        return f"llamacpp/{self.name}"

    @property
    def adapter_path(self) -> Path:
        """Absolute path of the adapter GGUF."""
        return self.folder / self.adapter

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the folder as a string)."""
        data = asdict(self)
        data["folder"] = str(self.folder)
        data["spec"] = self.spec
        return data

    def save(self) -> None:
        """Write ``model.json`` into the folder."""
        data = {k: v for k, v in asdict(self).items() if k != "folder"}
        (self.folder / "model.json").write_text(json.dumps(data, indent=2, default=str))


def root(settings: Settings) -> Path:
    """The registry folder (created on first use)."""
    folder = settings.data_dir / "finetune" / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read(folder: Path) -> FineTuned | None:
    try:
        data = json.loads((folder / "model.json").read_text())
        model = FineTuned(**data, folder=folder)
    except (OSError, ValueError, TypeError):
        return None
    return model if model.adapter_path.is_file() else None


def get(name: str, settings: Settings) -> FineTuned | None:
    """The registered fine-tune called ``name``, or ``None``."""
    if not NAME_PATTERN.fullmatch(name):
        return None
    folder = settings.data_dir / "finetune" / "models" / name
    return _read(folder) if folder.is_dir() else None


def all_models(settings: Settings) -> list[FineTuned]:
    """Every registered fine-tune, oldest first."""
    found = [m for d in sorted(root(settings).iterdir()) if d.is_dir() and not d.name.endswith(".partial")
             and (m := _read(d)) is not None]
    return sorted(found, key=lambda m: m.created)


def check_name(name: str, settings: Settings, *, taken: tuple[str, ...] = ()) -> None:
    """Refuse a name that is malformed, already registered, or shadows a built-in alias."""
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"bad fine-tune name {name!r}", setting="--name",
                          hint="use lower-case letters, digits, '.', '_' and '-' (up to 64), e.g. capybara-facts")
    if name in taken:
        raise ConfigError(f"{name!r} is a built-in model alias", setting="--name", hint="pick another --name")
    if get(name, settings) is not None or (root(settings) / name).exists():
        raise ConfigError(f"a fine-tuned model called {name!r} already exists", setting="--name",
                          hint=f"pick another --name, or remove it first: podium finetune delete {name}")


def delete(name: str, settings: Settings) -> FineTuned:
    """Remove a fine-tune's folder; a :class:`NotFoundError` when there is none."""
    model = get(name, settings)
    folder = root(settings) / name
    if model is None and not (NAME_PATTERN.fullmatch(name) and folder.is_dir()):
        raise NotFoundError("fine-tuned model", name, hint="see `podium finetune list`")
    shutil.rmtree(folder)
    return model or FineTuned(name=name, base="", base_path="", folder=folder)
