"""MiniLM's own word-piece table as a static embedder: the router's first, cheap look at a message.

The first thing MiniLM does with a message is look up one vector per word piece in a
30,522 x 384 table. Averaged, those vectors already place most requests near the examples
of the right specialist ("fine-tune", "benchmark", "policy" carry their meaning alone), at
the cost of a table lookup instead of six transformer layers. The router trusts them only
when one specialist leads clearly (:data:`agents.router.WORDS_MARGIN`) and runs the whole
model otherwise. The table is read from the shipped model once (it needs the ``onnx``
package) and kept as int8 rows with one scale each: in memory for the process, in the
install's share dir (``make install``) or the data dir's cache for the next one, which maps the
rows from disk rather than reading them (a message touches a few dozen of the 30,522).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TABLE = "inner.embeddings.word_embeddings.weight"
"""The word-piece table's initializer in the shipped model (stored as ``_q`` int8 rows and a ``_scale`` column)."""
_TABLES: dict[str, tuple[np.ndarray, np.ndarray]] = {}
"""``(int8 rows, scales)`` by source key, shared by the process."""
_LOCK = threading.Lock()


def table(source: Path, key: str, shared: Path, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """The word-piece table of the model ``source`` (named ``key``) as ``(int8 rows, float32 scale per row)``:
    from memory, the install's copy in ``shared``, the cache dir, or read from the model now (then saved in the
    cache dir). Raises ``ImportError`` without the ``onnx`` package."""
    with _LOCK:
        if key in _TABLES:
            return _TABLES[key]
        name = f"minilm-words-{key}.npy"
        found = next((p for p in (shared / name, cache_dir / name if cache_dir else None)
                      if p is not None and p.is_file()), None)
        loaded = _load(found) if found is not None else None
        if loaded is None:
            loaded = _read(source)
            _save(cache_dir / name if cache_dir else None, *loaded)
        _TABLES[key] = loaded
        return loaded


def install(source: Path, key: str, shared: Path) -> Path:
    """Save the table into the Python environment, once, beside the quantized model (``make install``)."""
    path = shared / f"minilm-words-{key}.npy"
    if not path.is_file():
        _save(path, *table(source, key, shared, None))
    return path


def mean_vector(rows: np.ndarray, scales: np.ndarray, ids: list[int]) -> np.ndarray | None:
    """The normalised mean of the word pieces ``ids`` (``None`` for no pieces)."""
    if not ids:
        return None
    vector = (rows[ids].astype(np.float32) * scales[ids]).mean(axis=0)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def _read(source: Path) -> tuple[np.ndarray, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    found = {i.name: i for i in onnx.load(str(source)).graph.initializer if i.name.startswith(TABLE)}
    rows = numpy_helper.to_array(found[f"{TABLE}_q"]).astype(np.int8)
    scales = numpy_helper.to_array(found[f"{TABLE}_scale"]).astype(np.float32).reshape(-1, 1)
    return rows, scales


def _scales_path(path: Path) -> Path:
    return path.with_name(path.stem + "-scales.npy")


def _load(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """A saved table (its rows mapped, not read), or ``None`` when unreadable or malformed (then it is read from
    the model again)."""
    try:
        rows = np.load(path, mmap_mode="r", allow_pickle=False)
        scales = np.load(_scales_path(path), allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.info("word-piece table %s unreadable (%s); reading the model", path, exc)
        return None
    if rows.ndim != 2 or rows.dtype != np.int8 or scales.shape != (rows.shape[0], 1):
        return None
    return rows, scales.astype(np.float32)


def _save(path: Path | None, rows: np.ndarray, scales: np.ndarray) -> None:
    """Write atomically, the scales first (the rows' file is what readers look for); a data dir that cannot take
    it only costs the next process another read of the model."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, array in ((_scales_path(path), scales), (path, rows)):
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            with partial.open("wb") as handle:
                np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
            os.replace(partial, target)
    except OSError as exc:
        log.info("word-piece table %s not written (%s)", path, exc)
