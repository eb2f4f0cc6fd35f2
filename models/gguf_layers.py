"""Model internals tensor by tensor: every tensor of a GGUF grouped by layer, with totals per quantization type.

Read from the file's header and tensor table only; the weights are never loaded.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from podium.errors import ConfigError

_LAYER = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True)
class Tensor:
    """One tensor of a GGUF file."""

    name: str
    """Its name in the file, e.g. ``blk.0.attn_q.weight``."""
    shape: tuple[int, ...]
    """Dimensions, innermost first as GGUF stores them."""
    type: str
    """Quantization type: ``F32``, ``Q4_1``, ``Q6_K``..."""
    elements: int
    """Number of weights."""
    bytes: int
    """Bytes the tensor takes in the file."""

    @property
    def bits_per_weight(self) -> float:
        """Storage bits per weight, block scales included."""
        return self.bytes * 8 / self.elements if self.elements else 0.0


@dataclass
class Layers:
    """A GGUF's tensors by layer (``None``: outside the repeated blocks) and totals per type."""

    path: str
    """The file read."""
    layers: dict[int | None, list[Tensor]] = field(default_factory=dict)
    """Tensors of each block ``blk.N``; key ``None`` holds embeddings, output and norms outside the blocks."""

    @property
    def tensors(self) -> list[Tensor]:
        """Every tensor, in file order by layer (non-block tensors first)."""
        return [t for tensors in self.layers.values() for t in tensors]

    def by_type(self) -> dict[str, dict[str, float]]:
        """Per quantization type: tensors, weights, bytes and bits per weight."""
        out: dict[str, dict[str, float]] = {}
        for tensor in self.tensors:
            row = out.setdefault(tensor.type, {"tensors": 0, "elements": 0, "bytes": 0})
            row["tensors"] += 1
            row["elements"] += tensor.elements
            row["bytes"] += tensor.bytes
        for row in out.values():
            row["bits_per_weight"] = round(row["bytes"] * 8 / row["elements"], 4) if row["elements"] else 0.0
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["bytes"]))

    @property
    def elements(self) -> int:
        """Weights in the whole file."""
        return sum(t.elements for t in self.tensors)

    @property
    def bytes(self) -> int:
        """Bytes of tensor data in the whole file."""
        return sum(t.bytes for t in self.tensors)

    @property
    def bits_per_weight(self) -> float:
        """The quantization's storage cost: bits per weight over every tensor."""
        return self.bytes * 8 / self.elements if self.elements else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: layers as a list, totals per type, overall bits per weight."""
        return {
            "path": self.path,
            "tensors": len(self.tensors),
            "elements": self.elements,
            "bytes": self.bytes,
            "bits_per_weight": round(self.bits_per_weight, 4),
            "by_type": self.by_type(),
            "layers": [
                {"layer": layer, "tensors": [{**asdict(t), "shape": list(t.shape)} for t in tensors],
                 "bytes": sum(t.bytes for t in tensors)}
                for layer, tensors in self.layers.items()
            ],
        }


_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
"""Bytes of GGUF's fixed-size metadata value types."""
_STRING, _ARRAY = 8, 9


class _Cursor:
    """Little-endian reads over a mapped file."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        value = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return value[0] if len(value) == 1 else value

    def string(self) -> str:
        size = self.take("Q")
        self.pos += size
        return bytes(self.data[self.pos - size:self.pos]).decode("utf-8", "replace")

    def skip_value(self, kind: int) -> None:
        if kind in _FIXED:
            self.pos += _FIXED[kind]
        elif kind == _STRING:
            size = self.take("Q")  # read first: ``pos += take()`` would add to the old position
            self.pos += size
        elif kind == _ARRAY:
            item, count = self.take("I"), self.take("Q")
            if item in _FIXED:
                self.pos += _FIXED[item] * count
            else:
                for _ in range(count):
                    self.skip_value(item)
        else:
            raise ValueError(f"unknown metadata value type {kind}")


def _tensor_table(path: Path) -> list[Tensor]:
    """Parse only what is needed: skip the metadata, read the tensor infos (the reader in ``gguf`` decodes every
    tokenizer string, which takes tens of seconds on a loaded machine)."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        cursor = _Cursor(data)
        if bytes(data[:4]) != b"GGUF":
            raise ValueError("no GGUF magic number")
        cursor.pos = 4
        version, tensors, fields = cursor.take("IQQ")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        for _ in range(fields):
            cursor.string()
            cursor.skip_value(cursor.take("I"))
        out = []
        for _ in range(tensors):
            name = cursor.string()
            dims = [cursor.take("Q") for _ in range(cursor.take("I"))]
            kind, _offset = cursor.take("IQ")
            quant = GGMLQuantizationType(kind)
            block, size = GGML_QUANT_SIZES[quant]
            elements = int(np.prod(dims)) if dims else 1
            out.append(Tensor(name=name, shape=tuple(dims), type=quant.name, elements=elements,
                              bytes=elements // block * size))
        return out


def read_layers(path: Path) -> Layers:
    """Read the tensor table of a GGUF; a one-line :class:`ConfigError` for a missing or corrupt file."""
    if not path.is_file():
        raise ConfigError(f"GGUF file not found: {path}", setting="model", hint="check the path or alias")
    try:
        table = _tensor_table(path)
    except (ValueError, struct.error, OSError, KeyError) as exc:
        raise ConfigError(f"{path.name} is not a valid GGUF file ({type(exc).__name__}: {exc})", setting="model",
                          hint="re-download the model or point at another .gguf") from exc
    found: dict[int, list[Tensor]] = {}
    outside: list[Tensor] = []
    for tensor in table:
        match = _LAYER.match(tensor.name)
        (found.setdefault(int(match.group(1)), []) if match else outside).append(tensor)
    ordered: dict[int | None, list[Tensor]] = {None: outside} if outside else {}
    ordered.update(sorted(found.items()))
    return Layers(path=str(path), layers=ordered)
