"""``podium threads``: list saved threads; ``podium threads compact``: shrink their checkpoint store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from podium.errors import ConfigError
from ui.terminal import out, print_json

threads_app = typer.Typer(name="threads", invoke_without_command=True,
                          help="List saved conversation threads, newest first (compact: shrink their store).")
ListJson = Annotated[bool, typer.Option("--json", help="Print one JSON array of threads instead of a table.")]
CompactJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the summary line.")]


@threads_app.callback()
def threads(ctx: typer.Context, as_json: ListJson = False) -> None:
    """List saved conversation threads, newest first (--json: one array)."""
    if ctx.invoked_subcommand is not None:
        return
    from graph.checkpoint import list_threads
    from podium.settings import load_settings

    items = list_threads(load_settings())
    if as_json:
        print_json([t.to_dict() for t in items])
        return
    table = Table("thread", "turns", "updated", "title")
    for t in items:
        table.add_row(escape(t.thread_id), str(t.turns), t.updated[:19], escape(t.title))
    out.print(table)


@threads_app.command("compact")
def compact_cmd(
    thread: Annotated[str | None, typer.Argument(help="The thread to compact (see `podium threads`).")] = None,
    every: Annotated[bool, typer.Option("--all", help="Compact every thread.")] = False,
    keep: Annotated[int | None, typer.Option("--keep-turns", help="Turns whose every step stays (default: "
                                             "PODIUM_CHECKPOINT_KEEP_TURNS, 20).")] = None,
    as_json: CompactJson = False,
) -> None:
    """Keep every step of the last turns and each older turn's input and end, then give the space back."""
    from graph.checkpoint_compact import compact
    from podium.settings import load_settings

    if (thread is None) == (not every):
        raise ConfigError("compact needs a thread id or --all (not both)", setting="threads compact",
                          hint="podium threads compact THREAD, or podium threads compact --all")
    if keep is not None and keep < 1:
        raise ConfigError("--keep-turns must be at least 1", setting="--keep-turns",
                          hint="the turn in progress (or waiting for an approval) always keeps its steps")
    done = compact(load_settings(), thread, keep)
    if as_json:
        print_json(done.to_dict())
        return
    out.print(done.line(), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``threads`` group to the ``podium`` CLI."""
    app.add_typer(threads_app)
