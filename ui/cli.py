"""The ``podium`` command line: ask, chat, threads, history (other groups live in ``ui/cli_*.py``).

Every user mistake ends as a one-line error with a hint and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.markup import escape

from podium.errors import ConfigError, PodiumError
from ui.lazy_commands import lazy_command
from ui.terminal import err, open_app, out, own_std_streams, print_json


def _plain_help() -> None:
    """Help that reads like a command line's: typer 0.29 labels options with Python types (``<bool>`` on a
    flag, ``<list[str]>``) and wraps required arguments in braces; show flags bare, values by kind (TEXT,
    INTEGER, PATH) and arguments by their upper-case name, as click always did."""
    from typer import core

    kinds = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH", "bool": "BOOLEAN"}

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag:
            return None
        label = self.display_type(ctx).strip("<>").removeprefix("list[").removesuffix("]").removesuffix(" range")
        return kinds.get(label, label.upper())

    def usage_name(self: Any) -> str:
        name = self.display_name_raw + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    core.TyperArgument.display_name_raw = property(  # type: ignore[assignment, method-assign]
        lambda self: self.metavar or (self.name or "").upper())
    core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]


_plain_help()

ROOT = {"name": "podium", "help": "Podium: local-first, multi-model agent orchestration.", "no_args_is_help": True,
        "add_completion": False, "pretty_exceptions_enable": False}
"""The ``podium`` app's own settings."""
core = typer.Typer(**ROOT)  # type: ignore[arg-type]
"""The commands defined in this file (ask, chat, history); the other modules' join them in :func:`command_app`."""
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Model spec, e.g. llamacpp/smollm2-135m or openai/gpt-4o-mini.")
]
ThreadOpt = Annotated[str | None, typer.Option("--thread", "-t", help="Continue this thread (see `podium threads`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Scope knowledge questions to this collection.")
]
FallbackOpt = Annotated[
    list[str] | None, typer.Option("--fallback", help="Model tried when the previous one fails (repeatable).")
]
PolicyOpt = Annotated[
    str | None, typer.Option("--policy", help="Routing policy: local-first (default), quality-first, budget, best-for.")
]


@core.command()
def ask(
    question: Annotated[str, typer.Argument(help="The message to send; - reads it from standard input.")],
    model: ModelOpt = None,
    thread: ThreadOpt = None,
    as_json: JsonOpt = False,
    system: Annotated[str | None, typer.Option("--system", help="System prompt for this turn.")] = None,
    collection: CollectionOpt = None,
    fallback: FallbackOpt = None,
    policy: PolicyOpt = None,
    trace: Annotated[bool, typer.Option("--trace", help="Print each graph step as it ends (stderr; "
                                        "with --json in \"steps\").")] = False,
    break_before: Annotated[list[str] | None, typer.Option(
        "--break-before", help="Pause before this node; continue with `podium resume THREAD`.")] = None,
    approve: Annotated[bool, typer.Option("--approve", help="Approve every tool call that asks for approval "
                                          "(otherwise the turn stops with exit status 3).")] = False,
    multitask: Annotated[str, typer.Option("--multitask", help="When another turn runs on the thread: enqueue "
                                           "(wait for it, default), reject, interrupt or rollback it.")] = "enqueue",
) -> None:
    """Ask one question and print the streamed answer (or one JSON object with --json).

    Ctrl-C stops the answer at the next token, rolls the turn back and exits with status 130.
    """
    from ui.terminal import ctrl_c_stops, drive, finish

    if question == "-":  # podium ask - < prompt.txt
        question = sys.stdin.read()
    if not question.strip():
        raise PodiumError("empty question", hint='type a question, e.g. podium ask "What is 2 + 2?"')
    podium = open_app(answering=model or "")  # first: the model loads while the rest is imported
    from agents.contract import TurnOptions

    turn = TurnOptions(model=model or "", system_prompt=system, collection=collection, fallbacks=fallback or None,
                       policy=policy or "")
    note = None
    if thread and podium.thread_exists(thread):  # a debug replay or fork may have left a branch behind
        from graph.trace import other_branch

        note = other_branch(podium, thread)
        if note and not as_json:
            err.print("· " + note, style="dim", markup=False)
    stream = podium.settings.stream
    if trace or break_before:  # the debugger's run loop: step records, and a note where it paused
        with ctrl_c_stops() as callbacks:
            events = podium.stream_turn(question, thread, turn, trace=trace, break_before=break_before,
                                        callbacks=callbacks, multitask=multitask, interrupted="refuse")
            from ui import cli_debug

            cli_debug.run_traced(podium, events, as_json=as_json, show_steps=trace, approve=approve,
                                 callbacks=callbacks)
        return
    with ctrl_c_stops() as callbacks:
        result = drive(podium.stream_turn(question, thread, turn, callbacks=callbacks, multitask=multitask,
                                          interrupted="refuse"), as_json=as_json, stream=stream)
        while approve and result.pending:  # --approve: answer every approval of the turn with yes
            result = drive(podium.resume(result.thread_id, "approve", callbacks=callbacks), as_json=as_json,
                           stream=stream)
    if note:
        result.notices.insert(0, note)
    finish(result, as_json=as_json)  # exits with status 3 while a call still awaits approval


@core.command()
def chat(model: ModelOpt = None, thread: ThreadOpt = None, collection: CollectionOpt = None,
         fallback: FallbackOpt = None, policy: PolicyOpt = None) -> None:
    """Chat interactively with streamed answers (/new starts a thread, /exit quits).

    Ctrl-C during an answer stops it (the turn is not saved); Ctrl-C or Ctrl-D at the prompt quits.
    """
    from ui.render import footer
    from ui.terminal import ctrl_c_stops, drive

    podium = open_app(answering=model or "")  # first: the model loads while the rest is imported
    from agents.contract import TurnOptions

    turn = TurnOptions(model=model or "", collection=collection, fallbacks=fallback or None, policy=policy or "")
    if thread:
        podium.require_thread(thread)
    podium.preflight(podium.context(thread or "", turn), "")  # a bad option fails now, not every turn
    err.print(f"[bold]Podium[/bold] on {escape(model or podium.settings.model)}. "
              "/new for a new thread, /exit to quit.")
    while True:
        try:
            text = out.input("[bold cyan]you>[/bold cyan] ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if text in ("/exit", "/quit"):
            return
        if text == "/new":
            thread = None
            err.print("new thread", style="dim", markup=False)
            continue
        if not text:
            continue
        try:
            result = None
            with ctrl_c_stops(quit_code=None) as callbacks:  # Ctrl-C: back to the prompt
                result = drive(podium.stream_turn(text, thread, turn, callbacks=callbacks, interrupted="refuse"),
                               as_json=False, stream=podium.settings.stream, prefix="podium> ")
            if result is None:
                continue
            thread = result.thread_id
            out.print()
            err.print(f"{footer(result.model, result.usage)} · thread {thread}", style="dim", markup=False)
            if result.pending:  # a tool call waits for approval: ask here, then the turn goes on
                from ui import cli_tools

                cli_tools.ask_approvals(podium, result)
        except PodiumError as exc:
            err.print(f"error: {exc.one_line()}", style="red", markup=False)


@core.command()
def history(thread_id: Annotated[str, typer.Argument(help="Thread id.")], as_json: JsonOpt = False) -> None:
    """Print the messages of a thread."""
    from graph.trace import other_branch

    podium = open_app()
    messages = podium.history(thread_id)
    note = other_branch(podium, thread_id)
    if as_json:
        print_json({"thread_id": thread_id, "messages": messages, "notices": [note] if note else []})
        return
    if note:
        err.print("· " + note, style="dim", markup=False)
    for m in messages:
        out.print(f"[bold]{m['role']}>[/bold] {escape(history_line(m))}")


def history_line(message: dict[str, Any]) -> str:
    """One message of ``podium history``: its text, the calls of a tool-calling message, a tool's result."""
    if message.get("tool_calls"):
        calls = ", ".join(f"{c['name']}({json.dumps(c['args'], ensure_ascii=False)})" for c in message["tool_calls"])
        return f"calls {calls}" + (f" · {message['content']}" if message["content"] else "")
    if message["role"] == "tool":
        return f"{message.get('name') or 'tool'} → {message['content']}"
    return message["content"]


COMMANDS: dict[str, tuple[str, ...]] = {
    "ui.cli_datagen": ("datagen",),
    "ui.cli_debug": ("debug",),
    "ui.cli_eval": ("eval", "arena"),
    "ui.cli_finetune": ("finetune", "modal"),
    "ui.cli_kb": ("ingest", "search", "kb"),
    "ui.cli_models": ("models",),
    "ui.cli_serve": ("serve", "keys"),
    "ui.cli_threads": ("threads",),
    "ui.cli_tools": ("tools", "resume"),
    "ui.cli_ui": ("ui",),
    "ui.cli_usage": ("usage",),
}
"""The command modules, in one visible place, with the commands each adds: each ``ui/cli_<x>.py`` has
``register(app)``; a new one is a line here. A run imports only the module of the command it runs."""


def command_app(names: Iterable[str] | None = None) -> typer.Typer:
    """The ``podium`` app: this file's commands, then those of every module in ``COMMANDS`` (or only of
    the modules adding ``names``), in that order."""
    app = typer.Typer(**ROOT)  # type: ignore[arg-type]
    app.registered_commands = list(core.registered_commands)
    wanted = None if names is None else set(names)
    for module, provides in COMMANDS.items():
        if wanted is None or wanted & set(provides):
            importlib.import_module(module).register(app)
    return app


def __getattr__(name: str) -> Any:
    """``ui.cli.app``: the whole command line (built on first access; a run of ``main`` builds what it needs)."""
    if name == "app":
        return command_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _needed(argv: list[str]) -> list[str] | None:
    """The command an argument list runs, when it names one of a module's; ``None``: every module is needed
    (the app's help, an unknown command and its suggestions)."""
    known = {name for provides in COMMANDS.values() for name in provides}
    first = argv[0] if argv else ""
    if first in known or first in {c.callback.__name__ for c in core.registered_commands if c.callback}:
        return [first]
    return None


def _log_level() -> str:
    """``PODIUM_LOG_LEVEL`` (default WARNING), checked so a typo is a one-line error."""
    level = os.environ.get("PODIUM_LOG_LEVEL", "").strip().upper() or "WARNING"
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"PODIUM_LOG_LEVEL: unknown log level {os.environ['PODIUM_LOG_LEVEL']!r}",
                          setting="PODIUM_LOG_LEVEL", hint="use DEBUG, INFO, WARNING (the default) or ERROR")
    return level


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning Podium errors into one-line messages."""
    own_std_streams()
    try:
        logging.basicConfig(level=_log_level())
        args = sys.argv[1:] if argv is None else argv
        # Typer's app(...), but only the command being run is imported and made a click command (ui/lazy_commands.py)
        code = lazy_command(command_app(_needed(args))).main(args=args, standalone_mode=False)
        if isinstance(code, int) and code:  # non-standalone click returns typer.Exit's code instead of exiting
            raise SystemExit(code)
    except PodiumError as exc:  # markup off: messages quote user text, and hints such as 'podium[gemma]'
        err.print("error: ", style="red", end="", markup=False)
        err.print(exc.message, markup=False)
        if exc.hint:
            err.print(f"hint: {exc.hint}", style="dim", markup=False)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except (typer.Abort, typer.Exit) as exc:
        raise SystemExit(getattr(exc, "exit_code", 1)) from None
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        # typer >= 0.29 vendors click: its usage errors derive from typer.TyperException, not click's.
        if isinstance(exc, (click.ClickException, typer.TyperException)) and hasattr(exc, "show"):
            exc.show()
            raise SystemExit(getattr(exc, "exit_code", 2)) from None
        raise


if __name__ == "__main__":
    main()
