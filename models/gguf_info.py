"""Model internals read from a GGUF file's header, without loading the weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podium.errors import ConfigError


def _value(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return None
    try:
        return field.contents()
    except Exception:  # noqa: BLE001 - old gguf versions lack contents(); fall back below
        return field.parts[field.data[0]].tolist()[0] if field.data else None


def _quant_name(file_type: int | None) -> str:
    if file_type is None:
        return ""
    from gguf import LlamaFileType

    try:
        return LlamaFileType(file_type).name.removeprefix("MOSTLY_")
    except ValueError:
        return f"type {file_type}"


def read_gguf_info(path: Path) -> dict[str, Any]:
    """Return architecture, sizes, context, vocabulary, quantization and license of a GGUF.

    Raises :class:`ConfigError` when the file is missing or is not a valid GGUF.
    """
    from gguf import GGUFReader

    if not path.is_file():
        raise ConfigError(f"GGUF file not found: {path}", setting="model", hint="check the path or alias")
    try:
        reader = GGUFReader(str(path), "r")
    except Exception as exc:  # noqa: BLE001 - any parse failure means a corrupt file
        raise ConfigError(
            f"{path.name} is not a valid GGUF file ({type(exc).__name__}: {exc})",
            setting="model",
            hint="re-download the model or point --model at another .gguf",
        ) from exc
    arch = _value(reader, "general.architecture") or "unknown"
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    return {
        "name": _value(reader, "general.name") or path.stem,
        "architecture": arch,
        "parameters": int(sum(int(t.n_elements) for t in reader.tensors)),
        "layers": _value(reader, f"{arch}.block_count"),
        "heads": _value(reader, f"{arch}.attention.head_count"),
        "kv_heads": _value(reader, f"{arch}.attention.head_count_kv"),
        "embedding_size": _value(reader, f"{arch}.embedding_length"),
        "context_length": _value(reader, f"{arch}.context_length"),
        "vocab_size": len(tokens.data) if tokens is not None else None,
        "quantization": _quant_name(_value(reader, "general.file_type")),
        "file_size": path.stat().st_size,
        "license": _value(reader, "general.license") or "",
        "chat_template": reader.fields.get("tokenizer.chat_template") is not None,
    }
