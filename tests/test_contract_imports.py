"""The package layers hold: no import cycles, no upward imports (ui -> graph -> agents -> models, tools, memory).

Read from the source with ``ast`` (every import counts: top-level, inside functions, under
``TYPE_CHECKING``), so a cycle fails here before it fails at import time somewhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

LAYERS: dict[str, int] = {"podium": 0, "models": 1, "tools": 1, "memory": 1, "agents": 2, "graph": 3, "ui": 4}
"""Each package's layer: a module may import its own layer (without cycles) and lower ones, never higher."""


def modules(root: Path) -> dict[str, Path]:
    """Every module of the layered packages under ``root``, by dotted name."""
    found = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(root: Path) -> dict[str, set[str]]:
    """For each module, the modules of the layered packages it imports (absolute imports; relative ones resolved)."""
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                # `from models import routing` imports the module models.routing; `from tools import select` the package
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for target in targets:
                while target and target not in known:  # `from models import routing` imports models.routing
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def layer(module: str) -> int:
    """The layer of a module, by its top-level package."""
    return LAYERS[module.split(".")[0]]


def upward(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import of a higher layer."""
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_podium_has_no_import_cycles_and_no_upward_imports():
    graph = imports(ROOT)
    assert {"agents.contract", "graph.app", "models.call", "ui.cli"} <= set(graph)
    assert upward(graph) == [], "lower layers import higher ones: move the shared part down a layer"
    assert cycles(graph) == [], "modules import each other: cut the cycle by moving the shared part down"


def test_the_checker_finds_cycles_and_upward_imports(tmp_path: Path):
    files = {
        "podium/__init__.py": "",
        "models/__init__.py": "",
        "models/a.py": "from models import b\n",
        "models/b.py": "def f():\n    from models.c import x\n",
        "models/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from models.a import y\n",
        "models/d.py": "from agents.x import thing\n",
        "agents/__init__.py": "",
        "agents/x.py": "from . import y\nimport models.a\n",
        "agents/y.py": "from .x import thing\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    graph = imports(tmp_path)
    assert upward(graph) == ["models.d -> agents.x"]
    assert cycles(graph) == [["agents.x", "agents.y"], ["models.a", "models.b", "models.c"]]
