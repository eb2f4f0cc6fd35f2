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

ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model spec, e.g. llamacpp/smollm2-135m or openai/gpt-4o-mini.")]
ThreadOpt = Annotated[str | None, typer.Option("--thread", "-t", help="Continue this thread (see `podium threads`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Scope knowledge questions to this collection.")]
FallbackOpt = Annotated[list[str] | None, typer.Option("--fallback", help="Model tried when the previous one fails (repeatable).")]


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
) -> None:
    """Ask one question and print the streamed answer (or one JSON object with --json)."""
    from ui.render import usage_footer

    podium = _app()
    result = None
    turn = {"model": model, "system_prompt": system, "collection": collection, "fallbacks": fallback or None}
    for event in podium.stream_turn(question, thread, **turn):
        if event.kind == "token" and not as_json:
            out.print(event.data["text"], end="")
        elif event.kind == "notice" and not as_json:
            err.print(f"[dim]· {event.data['text']}[/dim]")
        elif event.kind == "done":
            result = event.data["result"]
    if as_json:
        _print_json(result.to_dict())
        return
    out.print()
    err.print(f"[dim]{usage_footer(result.model, result.usage)} · thread {result.thread_id}[/dim]")


@app.command()
def chat(model: ModelOpt = None, thread: ThreadOpt = None, collection: CollectionOpt = None,
         fallback: FallbackOpt = None) -> None:
    """Chat interactively with streamed answers (/new starts a thread, /exit quits)."""
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
            turn = {"model": model, "collection": collection, "fallbacks": fallback or None}
            for event in podium.stream_turn(text, thread, **turn):
                if event.kind == "token":
                    out.print(event.data["text"], end="")
                elif event.kind == "notice":
                    err.print(f"\n[dim]· {event.data['text']}[/dim]")
                elif event.kind == "done":
                    result = event.data["result"]
                    thread = result.thread_id
                    out.print()
                    err.print(f"[dim]{usage_footer(result.model, result.usage)} · thread {thread}[/dim]")
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
    table = Table("spec", "arch", "params", "layers", "heads", "embd", "ctx", "vocab", "quant", "size", "license", "$/1M in/out")
    for r in rows:
        table.add_row(r["spec"], r["architecture"] or "-", human_size(r["parameters"]), str(r["layers"] or "-"),
                      str(r["heads"] or "-"), str(r["embedding_size"] or "-"), str(r["context_length"]),
                      human_size(r["vocab_size"]), r["quantization"] or "-", human_size(r["file_size"]) + "B"
                      if r["file_size"] else "-", r["license"] or "-", f"{r['price_in_per_1m']}/{r['price_out_per_1m']}")
    out.print(table)
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
        app(args=argv, standalone_mode=False)
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

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        raise


if __name__ == "__main__":
    main()
