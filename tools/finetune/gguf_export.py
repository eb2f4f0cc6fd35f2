"""LoRA to llama.cpp: an adapter GGUF, or the base GGUF with the LoRA merged in (F16).

Standalone like ``train.py`` (numpy and gguf-py only), so Modal runs it too. Tensor
names and shapes come from the base GGUF. For arch ``llama`` the GGUF stores q and k
rows in llama.cpp's rotary order (convert_hf_to_gguf permutes them; transformers undoes
it on load), so the LoRA ``B`` of q and k gets the same permutation. Getting that wrong
changes no shape and rarely an answer, only the logits: a test compares them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

PERMUTED_ARCHS = ("llama",)
"""Architectures whose q/k rows llama.cpp's converter permutes."""


class ExportError(ValueError):
    """The adapter does not fit the base GGUF (unknown module, wrong shape)."""


def permute(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """llama.cpp's q/k row order (``LlamaModel.permute`` in convert_hf_to_gguf.py)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    return None if field is None else field.contents()


def base_facts(base: Path) -> dict[str, Any]:
    """Architecture, block and head counts, and tensor shapes (numpy order) of a GGUF."""
    from gguf import GGUFReader

    reader = GGUFReader(str(base))
    arch = _field(reader, "general.architecture")
    return {
        "arch": arch,
        "blocks": int(_field(reader, f"{arch}.block_count") or 0),
        "n_head": _field(reader, f"{arch}.attention.head_count"),
        "n_head_kv": _field(reader, f"{arch}.attention.head_count_kv"),
        "shapes": {t.name: tuple(int(d) for d in reversed(t.shape.tolist())) for t in reader.tensors},
    }


def lora_pairs(arrays: dict[str, np.ndarray], facts: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{gguf_tensor_name: (A, B)}`` from PEFT's names, B permuted where llama.cpp needs it."""
    import gguf

    arch_enum = {name: key for key, name in gguf.MODEL_ARCH_NAMES.items()}.get(facts["arch"])
    if arch_enum is None:
        raise ExportError(f"gguf-py does not know the architecture {facts['arch']!r}")
    names = gguf.get_tensor_name_map(arch_enum, facts["blocks"])
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key, a in arrays.items():
        match = re.fullmatch(r"(?:base_model\.model\.)?(.+)\.lora_A(?:\.default)?\.weight", key)
        if not match:
            continue
        b = arrays[key.replace("lora_A", "lora_B")]
        target = names.get_name(match.group(1) + ".weight", try_suffixes=(".weight",))
        if target is None or target not in facts["shapes"]:
            raise ExportError(f"no tensor in the base GGUF for {match.group(1)}")
        if facts["arch"] in PERMUTED_ARCHS and re.search(r"\.attn_(q|k)\.weight$", target):
            kv = facts["n_head"] if ".attn_q." in target else facts["n_head_kv"]
            b = permute(b, facts["n_head"], kv)
        out_dim, in_dim = facts["shapes"][target]
        if a.shape[1] != in_dim or b.shape[0] != out_dim or a.shape[0] != b.shape[1]:
            raise ExportError(f"{target}: LoRA shapes {a.shape}, {b.shape} do not fit {(out_dim, in_dim)}")
        pairs[target] = (np.ascontiguousarray(a, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32))
    if not pairs:
        raise ExportError("the adapter has no LoRA matrices")
    return pairs


def write_adapter(base: Path, arrays: dict[str, np.ndarray], alpha: float, out: Path) -> int:
    """Write a llama.cpp LoRA adapter GGUF (``Llama(lora_path=...)``); returns the tensors written."""
    import gguf

    facts = base_facts(base)
    pairs = lora_pairs(arrays, facts)
    writer = gguf.GGUFWriter(str(out), facts["arch"])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name, (a, b) in pairs.items():
        writer.add_tensor(f"{name}.lora_a", a)
        writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return 2 * len(pairs)


def write_merged(base_f16: Path, arrays: dict[str, np.ndarray], alpha: float, rank: int, out: Path) -> int:
    """An F16 GGUF with ``W + alpha/rank * B @ A`` merged in; returns the tensors changed.

    ``base_f16`` is the base already in F16 (llama.cpp's quantizer makes it from any
    quantization in seconds; numpy dequantization takes a minute). Every other tensor and
    all metadata are copied as they are.
    """
    import gguf

    reader = gguf.GGUFReader(str(base_f16))
    facts = base_facts(base_f16)
    pairs = lora_pairs(arrays, facts)
    writer = gguf.GGUFWriter(str(out), facts["arch"])
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        main = field.types[0]
        sub = field.types[-1] if main == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), main, sub_type=sub)
    scale = alpha / rank
    for tensor in reader.tensors:
        if tensor.tensor_type not in (gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32):
            raise ExportError(f"{base_f16.name}: {tensor.name} is {tensor.tensor_type.name}, expected F16 or F32")
        weights = np.asarray(tensor.data)
        if tensor.name in pairs:
            a, b = pairs[tensor.name]
            weights = (weights.astype(np.float32) + scale * (b @ a)).astype(weights.dtype)
        writer.add_tensor(tensor.name, weights)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return len(pairs)
