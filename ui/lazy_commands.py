"""Typer's app turned into click commands on demand, so a short command never pays for the others.

Typer converts every registered command to a click command (reading each function's signature and
evaluating its type hints) before it parses the first argument: with ~45 commands that is a good part
of ``podium threads``'s start. Here each group starts with its commands' names only; a command or
sub-group is built the first time click looks it up (the one being run, or every one of a group whose
help is shown), by Typer's own functions, so names, options and help text are Typer's exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import typer
from typer import main as typer_main
from typer.models import CommandInfo, TyperInfo


class LazyCommands(dict[str, Any]):
    """A group's commands by name, in registration order; each is built on its first lookup."""

    def __init__(self, makers: dict[str, Callable[[], Any]]) -> None:
        super().__init__(dict.fromkeys(makers))
        self._makers = makers

    def __getitem__(self, name: str) -> Any:
        command = super().__getitem__(name)
        if command is None:
            command = self._makers[name]()
            super().__setitem__(name, command)
        return command

    def get(self, name: str, default: Any = None) -> Any:
        """The command called ``name``, built now if it was not yet; ``default`` for an unknown name."""
        return self[name] if name in self else default

    def values(self) -> list[Any]:  # type: ignore[override]
        """Every command, built."""
        return [self[name] for name in self]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        """Every (name, command) pair, built."""
        return [(name, self[name]) for name in self]

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))


def lazy_command(app: typer.Typer) -> Any:
    """The click group of ``app`` (what ``typer.main.get_command`` returns), its commands built on demand."""
    options = {"pretty_exceptions_short": app.pretty_exceptions_short, "rich_markup_mode": app.rich_markup_mode}
    return _group(TyperInfo(app), options, app.suggest_commands)


def _group(info: TyperInfo, options: dict[str, Any], suggest: bool) -> Any:
    """One group: built by Typer with no children, then given lazily built ones."""
    instance = info.typer_instance
    assert instance is not None, "a group is a Typer instance"
    makers = {_command_name(c): _command_maker(c, options) for c in instance.registered_commands}
    for group_info in instance.registered_groups:
        name = typer_main.solve_typer_info_defaults(group_info).name
        if not name:  # a nameless add_typer merges its commands into this group: let Typer do it all
            return typer_main.get_group_from_info(info, suggest_commands=suggest, **options)
        makers[name] = _group_maker(group_info, options, suggest)
    saved = instance.registered_commands, instance.registered_groups
    instance.registered_commands, instance.registered_groups = [], []
    try:
        group = typer_main.get_group_from_info(info, suggest_commands=suggest, **options)
    finally:
        instance.registered_commands, instance.registered_groups = saved
    group.commands = LazyCommands(makers)
    return group


def _command_name(info: CommandInfo) -> str:
    """The name Typer gives a command: its own, else the function's with dashes."""
    return info.name or typer_main.get_command_name(info.callback.__name__)  # type: ignore[union-attr]


def _command_maker(info: CommandInfo, options: dict[str, Any]) -> Callable[[], Any]:
    """A function that builds one command the way Typer does."""
    return lambda: typer_main.get_command_from_info(info, **options)


def _group_maker(info: TyperInfo, options: dict[str, Any], suggest: bool) -> Callable[[], Any]:
    """A function that builds one sub-group, itself lazy."""
    return lambda: _group(info, options, suggest)
