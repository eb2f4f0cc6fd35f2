"""Every test belongs to a test layer, so `pytest -m LAYER` runs exactly one layer (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import FILE_LAYERS, LAYERS, ROOT, layers_of


def test_every_collected_test_has_a_layer_marker(request: pytest.FixtureRequest):
    missing = sorted({item.nodeid.split("::")[0] for item in request.session.items if not layers_of(item)})
    assert not missing, (f"tests without a layer marker in {', '.join(missing)}: mark them with one of "
                         f"{', '.join(LAYERS)}, or list the file in FILE_LAYERS in tests/conftest.py")


def test_every_file_named_in_file_layers_exists():
    names = [name for names in FILE_LAYERS.values() for name in names.split()]
    assert len(names) == len(set(names)), "a file listed under two layers"
    stale = [name for name in names if not (ROOT / "tests" / f"test_{name}.py").is_file()]
    assert not stale, f"FILE_LAYERS names files that do not exist: {stale}"


def test_layers_are_registered_and_documented_with_their_command():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {line.split(":")[0] for line in config["markers"]}
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for layer in LAYERS:
        assert layer in registered, f"marker {layer!r} is not registered in pyproject.toml"
        assert f"pytest -m {layer}" in architecture, f"docs/ARCHITECTURE.md gives no `pytest -m {layer}` command"
