"""The command line built on demand (ui/lazy_commands.py) is the one Typer builds whole: same commands and help."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from ui.cli import app
from ui.lazy_commands import lazy_command


def command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``command``, as the words that name it on the command line."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths += command_paths(sub, (*path, name))
    return paths


EAGER = typer.main.get_command(app)
PATHS = command_paths(EAGER)


def help_text(command: Any, path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    """What ``podium PATH --help`` prints."""
    capsys.readouterr()
    command.main(args=[*path, "--help"], prog_name="podium", standalone_mode=False)
    return capsys.readouterr().out


def test_every_command_is_reached():
    assert len(PATHS) > 40 and ("models", "card") in PATHS and ("threads", "compact") in PATHS and ("ask",) in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "podium")
def test_help_is_typers_own(path: tuple[str, ...], capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    expected = help_text(EAGER, path, capsys)
    assert "Usage: podium" in expected
    assert help_text(lazy_command(app), path, capsys) == expected


def test_only_the_command_run_is_built(capsys):
    group = lazy_command(app)
    help_text(group, ("models", "card"), capsys)
    built = {name for name in group.commands if dict.__getitem__(group.commands, name) is not None}
    assert built == {"models"}
    models = group.commands["models"]
    assert {n for n in models.commands if dict.__getitem__(models.commands, n) is not None} == {"card"}
    assert [c.name for c in group.commands.values()] == list(EAGER.commands), "listed in Typer's order"


def test_each_module_adds_the_commands_listed_for_it():
    import importlib

    import typer

    from ui.cli import COMMANDS

    for module, names in COMMANDS.items():
        app = typer.Typer()
        importlib.import_module(module).register(app)
        group = lazy_command(app)
        assert tuple(group.commands) == names, module


def test_a_run_imports_only_the_module_of_its_command():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys\nfrom ui.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('ui.cli_')))")
    for args, modules in ((["threads", "--help"], ["ui.cli_threads"]), (["ask", "--help"], []),
                          (["--help"], sorted(__import__("ui.cli").cli.COMMANDS))):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
        assert proc.stdout.strip().splitlines()[-1] == repr(modules), (args, proc.stderr)


def test_an_unknown_command_is_still_a_usage_error(capsys):
    from ui.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["modles"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "No such command 'modles'" in err and "models" in err.split("modles", 1)[1]
