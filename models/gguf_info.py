"""Model internals read from a GGUF file's header, without loading the weights or the vocabulary.

The header is walked with ``struct`` over a memory map: scalars and strings are read, arrays
(the 49k-token vocabulary, the merges) are skipped, counting only their length. Facts are
cached per file in the data dir, keyed by path, size and modification time, so a later run
reads one small JSON file and a file that changed is read again.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import uuid
from pathlib import Path
from typing import Any

from podium.errors import ConfigError

# GGUF value types: struct format of the scalars; 8 is a string, 9 an array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9

# ggml tensor types: (elements per block, bytes per block), as in ggml.h (checked against gguf-py in the tests).
GGML_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}

# llama.cpp file types (``general.file_type``), as gguf-py's LlamaFileType names them without ``MOSTLY_``.
FILE_TYPES = {
    0: "ALL_F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}

CACHE_VERSION = 1
"""Bumped when the facts read change, so older cache entries are read again."""


class _Header:
    """A cursor over a GGUF header; every read checks the bounds (a truncated file is an error)."""

    def __init__(self, data: Any) -> None:
        self.data, self.pos, self.order = data, 0, "<"

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"the header ends early (at byte {self.pos})")
        (value,) = struct.unpack_from(self.order + fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.take("Q")
        if self.pos + n > len(self.data):
            raise ValueError(f"a string runs past the end of the file (at byte {self.pos})")
        text = bytes(self.data[self.pos:self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return text

    def value(self, kind: int) -> Any:
        """A scalar or string; an array as its length only (its items are skipped)."""
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind != _ARRAY:
            raise ValueError(f"unknown value type {kind}")
        item, count = self.take("I"), self.take("Q")
        if item in _SCALARS:
            self.pos += count * struct.calcsize(_SCALARS[item])
        elif item == _STRING:
            unpack, data, pos = struct.Struct(self.order + "Q").unpack_from, self.data, self.pos
            for _ in range(count):  # the vocabulary: 49k strings on SmolLM2, walked by their lengths
                pos += 8 + unpack(data, pos)[0]
            self.pos = pos
        else:  # arrays of arrays do not occur in model files
            raise ValueError(f"unsupported array item type {item}")
        if self.pos > len(self.data):
            raise ValueError("an array runs past the end of the file")
        return _Length(count)


class _Length(int):
    """The length of a skipped array."""


def parse_header(path: Path) -> dict[str, Any]:
    """Every metadata key (arrays as their lengths) and the tensors' element count, checked against the file size."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 24:
            raise ValueError(f"the file is {size} bytes long")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:4] != b"GGUF":
                raise ValueError("no GGUF magic number")
            head = _Header(data)
            head.pos = 4
            version = head.take("I")
            if version & 0xFFFF == 0:  # written on a big-endian machine
                head.order, version = ">", struct.unpack(">I", struct.pack("<I", version))[0]
            if version not in (2, 3):
                raise ValueError(f"unsupported GGUF version {version}")
            n_tensors, n_kv = head.take("Q"), head.take("Q")
            if n_tensors > 1_000_000 or n_kv > 1_000_000:
                raise ValueError("implausible tensor or metadata counts")
            meta = {}
            for _ in range(n_kv):
                key = head.string()
                meta[key] = head.value(head.take("I"))
            meta["__parameters__"] = _check_tensors(head, n_tensors, meta, size)
            return meta


def _check_tensors(head: _Header, n_tensors: int, meta: dict[str, Any], size: int) -> int:
    """Sum the tensors' elements; raise if their data would lie past the end of the file."""
    total, end = 0, 0
    for _ in range(n_tensors):
        head.string()
        dims = [head.take("Q") for _ in range(head.take("I"))]
        kind, offset = head.take("I"), head.take("Q")
        elements = 1
        for d in dims:
            elements *= d
        total += elements
        block, nbytes = GGML_SIZES.get(kind, (1, 0))  # an unknown type: its extent is not checked
        end = max(end, offset + elements // block * nbytes)
    align = meta.get("general.alignment") or 32
    start = -(-head.pos // align) * align
    if start + end > size:
        raise ValueError(f"the tensor data needs {start + end} bytes but the file has {size}")
    return total


def read_gguf_info(path: Path) -> dict[str, Any]:
    """Return architecture, sizes, context, vocabulary, quantization and license of a GGUF.

    Raises :class:`ConfigError` when the file is missing, is not a valid GGUF, is cut short,
    or names no architecture (llama.cpp could not load it).
    """
    if not path.is_file():
        raise ConfigError(f"GGUF file not found: {path}", setting="model", hint="check the path or alias")
    try:
        meta = parse_header(path)
        arch = meta.get("general.architecture")
        if not isinstance(arch, str) or not arch:
            raise ValueError("no general.architecture in its metadata")
    except (ValueError, OSError, struct.error) as exc:
        raise ConfigError(
            f"{path.name} is not a valid GGUF file ({exc})",
            setting="model",
            hint="re-download the model or point --model at another .gguf",
        ) from exc
    file_type = meta.get("general.file_type")
    return {
        "name": meta.get("general.name") or path.stem,
        "architecture": arch,
        "parameters": meta["__parameters__"],
        "layers": meta.get(f"{arch}.block_count"),
        "heads": meta.get(f"{arch}.attention.head_count"),
        "kv_heads": meta.get(f"{arch}.attention.head_count_kv"),
        "embedding_size": meta.get(f"{arch}.embedding_length"),
        "context_length": meta.get(f"{arch}.context_length"),
        "vocab_size": int(meta["tokenizer.ggml.tokens"]) if "tokenizer.ggml.tokens" in meta else None,
        "quantization": "" if file_type is None else FILE_TYPES.get(file_type, f"type {file_type}"),
        "file_size": path.stat().st_size,
        "license": meta.get("general.license") or "",
        "chat_template": "tokenizer.chat_template" in meta,
    }


def cached_gguf_info(path: Path, cache_dir: Path | None) -> dict[str, Any]:
    """:func:`read_gguf_info`, remembered in ``cache_dir/gguf.json`` by path, size and modification time."""
    if cache_dir is None:
        return read_gguf_info(path)
    try:
        stat = path.stat()
    except OSError:
        return read_gguf_info(path)  # says it is missing
    key = str(path.resolve())
    stamp = [stat.st_size, stat.st_mtime_ns, CACHE_VERSION]
    cache_file = cache_dir / "gguf.json"
    try:
        entries = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        entries = {}
    entry = entries.get(key) if isinstance(entries, dict) else None
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        return entry["info"]
    info = read_gguf_info(path)
    entries = entries if isinstance(entries, dict) else {}
    entries[key] = {"stamp": stamp, "info": info}
    try:  # a cache that cannot be written only costs the next run a header read
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(entries))
        tmp.replace(cache_file)
    except OSError:
        pass
    return info
