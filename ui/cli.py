"""The ``podium`` command line: ask, chat, threads, history, models.

Every user mistake ends as a one-line error with a hint and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from podium.errors import PodiumError
from podium.settings import load_settings

app = typer.Typer(
    name="podium",
    help="Podium: local-first, multi-model agent orchestration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

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
    str | None, typer.Option("--policy", help="Routing policy: local-first (default), quality-first or budget.")
]


def _app() -> Any:
    from graph.app import PodiumApp

    return PodiumApp(load_settings())


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The message to send.")],
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
) -> None:
    """Ask one question and print the streamed answer (or one JSON object with --json)."""
    podium = _app()
    turn = {"model": model, "system_prompt": system, "collection": collection, "fallbacks": fallback or None,
            "policy": policy}
    if trace or break_before:  # the debugger's run loop: step records, and a note where it paused
        from ui.cli_debug import run_traced

        events = podium.stream_turn(question, thread, trace=trace, break_before=break_before, **turn)
        run_traced(podium, events, as_json=as_json, show_steps=trace, approve=approve)
        return
    from ui.cli_tools import drive, finish

    result = drive(podium.stream_turn(question, thread, **turn), as_json=as_json)
    while approve and result.pending:  # --approve: answer every approval of the turn with yes
        result = drive(podium.resume(result.thread_id, "approve"), as_json=as_json)
    finish(result, as_json=as_json)  # exits with status 3 while a call still awaits approval


@app.command()
def chat(model: ModelOpt = None, thread: ThreadOpt = None, collection: CollectionOpt = None,
         fallback: FallbackOpt = None, policy: PolicyOpt = None) -> None:
    """Chat interactively with streamed answers (/new starts a thread, /exit quits)."""
    from ui.cli_tools import AnswerPrinter
    from ui.render import usage_footer

    podium = _app()
    if thread:
        podium.require_thread(thread)
    err.print(f"[bold]Podium[/bold] on {model or podium.settings.model}. /new for a new thread, /exit to quit.")
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
            err.print("[dim]new thread[/dim]")
            continue
        if not text:
            continue
        try:
            out.print("[bold green]podium>[/bold green] ", end="")
            turn = {"model": model, "collection": collection, "fallbacks": fallback or None, "policy": policy}
            answer = AnswerPrinter()
            for event in podium.stream_turn(text, thread, **turn):
                if event.kind == "token":
                    answer.token(event.data["text"])
                elif event.kind == "notice":
                    err.print(f"\n[dim]· {event.data['text']}[/dim]")
                elif event.kind == "retract":
                    answer.retract(int(event.data.get("chars", 0)))
                elif event.kind == "done":
                    result = event.data["result"]
                    thread = result.thread_id
                    answer.flush()
                    out.print()
                    err.print(f"[dim]{usage_footer(result.model, result.usage)} · thread {thread}[/dim]")
            if result.pending:  # a tool call waits for approval: ask here, then the turn goes on
                from ui.cli_tools import ask_approvals

                ask_approvals(podium, result)
        except PodiumError as exc:
            out.print()
            err.print(f"[red]error:[/red] {exc.one_line()}")


@app.command()
def threads(as_json: JsonOpt = False) -> None:
    """List saved conversation threads, newest first."""
    items = _app().threads()
    if as_json:
        _print_json([t.to_dict() for t in items])
        return
    table = Table("thread", "messages", "updated", "title")
    for t in items:
        table.add_row(t.thread_id, str(t.messages), t.updated[:19], t.title)
    out.print(table)


@app.command()
def history(thread_id: Annotated[str, typer.Argument(help="Thread id.")], as_json: JsonOpt = False) -> None:
    """Print the messages of a thread."""
    messages = _app().history(thread_id)
    if as_json:
        _print_json({"thread_id": thread_id, "messages": messages})
        return
    for m in messages:
        out.print(f"[bold]{m['role']}>[/bold] {m['content']}")


@app.command()
def models(as_json: JsonOpt = False) -> None:
    """List known models with their internals (read from GGUF metadata) and prices."""
    from models.registry import known_models
    from ui.render import human_size, model_row

    settings = load_settings()
    rows, problems = [], []
    for item in known_models(settings):
        if isinstance(item, PodiumError):
            problems.append({"spec": getattr(item, "spec", ""), "error": item.one_line()})
        else:
            rows.append(model_row(item))
    if as_json:
        _print_json({"models": rows, "unavailable": problems, "default": settings.model})
        return
    columns = ("spec", "arch", "params", "layers", "heads", "embd", "ctx", "vocab", "quant", "size", "license", "$/1M")
    table = Table(*columns)
    for r in rows:
        size = human_size(r["file_size"]) + "B" if r["file_size"] else "-"
        table.add_row(
            r["spec"], r["architecture"] or "-", human_size(r["parameters"]), str(r["layers"] or "-"),
            str(r["heads"] or "-"), str(r["embedding_size"] or "-"), str(r["context_length"]),
            human_size(r["vocab_size"]), r["quantization"] or "-", size, r["license"] or "-",
            f"{r['price_in_per_1m']}/{r['price_out_per_1m']}",
        )
    wide = Console(width=max(out.width, 160), highlight=False)
    wide.print(table)
    for p in problems:
        err.print(f"[dim]{p['spec']}: {p['error']}[/dim]")


def _register_plugins() -> None:
    """Add the command groups that live in ``ui/cli_*.py`` (each has ``register(app)``)."""
    import importlib
    import pkgutil

    import ui

    for module in sorted(m.name for m in pkgutil.iter_modules(ui.__path__) if m.name.startswith("cli_")):
        importlib.import_module(f"ui.{module}").register(app)


_register_plugins()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning Podium errors into one-line messages."""
    logging.basicConfig(level=os.environ.get("PODIUM_LOG_LEVEL", "WARNING"))
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:  # non-standalone click returns typer.Exit's code instead of exiting
            raise SystemExit(code)
    except PodiumError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        if exc.hint:
            err.print(f"[dim]hint: {exc.hint}[/dim]")
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
