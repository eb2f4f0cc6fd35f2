"""The terminal shell every ``podium`` command shares: consoles, the app, printing a run, Ctrl-C, approvals shown.

A run's events are folded by :class:`ui.fold.TurnFold` as everywhere else; this module only
decides what reaches the terminal and when. Command modules (``ui/cli_*.py``) import from
here, never from :mod:`ui.cli`, so the commands and the entry point do not import each other.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from podium.errors import PodiumError
from ui.fold import TurnFold
from ui.render import footer, plan_line

if TYPE_CHECKING:
    from podium.settings import Settings

out = Console(highlight=False, soft_wrap=True)
"""Standard output: answers and tables."""
err = Console(stderr=True, highlight=False, soft_wrap=True)
"""Standard error: notices, footers, errors."""

PENDING_EXIT = 3
"""Exit status of a command whose turn waits: a tool call for approval, or a breakpoint."""

RETRACTED = "· the text above came from an attempt that failed; the answer starts again below"
"""What a terminal prints when a failed attempt's streamed text is taken back (a terminal cannot unprint)."""


def own_std_streams() -> None:
    """Print through duplicates of file descriptors 1 and 2.

    llama.cpp's quiet model load points fds 1 and 2 at /dev/null for a moment, from the graph's
    worker thread: a notice or token printed then by this thread ("falling back to llamacpp/...",
    printed just as that model loads) would vanish. Left alone when the streams were replaced
    (a test capturing output).
    """
    import os

    for console, stream, fd in ((out, sys.__stdout__, 1), (err, sys.__stderr__, 2)):
        current = sys.stdout if fd == 1 else sys.stderr
        if current is stream and stream is not None:
            stream.flush()
            console.file = os.fdopen(os.dup(fd), "w", buffering=1, encoding=stream.encoding, errors="replace")


def load_settings() -> Settings:
    """:func:`podium.settings.load_settings`, imported on first use: pydantic-settings is a third of a
    short command's start, and ``podium --help`` needs no settings at all."""
    from podium.settings import load_settings as load

    return load()


def open_app(answering: str | None = None) -> Any:
    """The process's :class:`graph.app.PodiumApp` on the settings from the environment.

    With ``answering`` (a ``--model`` value, ``""`` for the default) the answering local model starts
    loading on a background thread first, so llama.cpp's work overlaps importing the graph.
    """
    settings = load_settings()
    if answering is not None:
        from models.llama_pool import preload
        from models.registry import resolve

        try:
            preload(resolve(answering or settings.agent_models.get("chat") or settings.model, settings),
                    settings.n_threads)
        except PodiumError:  # a spec that does not resolve: the turn reports it with its hint
            pass
    from graph.app import PodiumApp

    return PodiumApp(settings)


def print_table(table: Any) -> None:
    """Print a Rich table: fitted to a terminal, but at its natural width into a pipe or a file.

    Rich fits tables to 80 columns when it cannot ask a terminal, cutting ids and amounts to "…";
    a script reading ``podium keys list | grep`` needs them whole.
    """
    if out.is_terminal:
        out.print(table)
        return
    from rich.measure import Measurement

    need = Measurement.get(out, out.options.update(max_width=10_000), table).maximum
    Console(file=out.file, width=max(out.width, need), highlight=False, color_system=None).print(table)


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


class AnswerPrinter:
    """Answer tokens to stdout: live on a terminal; into a pipe or a file, held until the turn ends
    (unless ``PODIUM_STREAM=1`` asks for them live there too).

    Held text is the fold's answer, so a failed attempt's words never reach a file; a
    terminal cannot unprint, so it is told which text to ignore.
    """

    def __init__(self, *, stream: bool = False, prefix: str = "") -> None:
        self.live = out.is_terminal or stream
        """Print tokens as they come (a terminal, or ``PODIUM_STREAM=1``), else hold them."""
        if prefix:  # podium chat's "podium> ", printed at once
            out.print(prefix, end="", style="bold green", markup=False)
        self.mid_line = bool(prefix)
        """Text was printed and no newline followed it yet."""

    def token(self, text: str) -> None:
        """One streamed piece of the answer (printed now when live)."""
        if self.live:
            out.print(text, end="", markup=False, highlight=False)
            self.mid_line = True

    def retract(self, chars: int) -> None:
        """A failed attempt's last ``chars`` characters were taken back: a live terminal says so."""
        if self.live:
            err.print("\n" + RETRACTED, style="dim", markup=False)
            self.mid_line = False

    def end_line(self) -> None:
        """End a live answer's line (a turn failed or was stopped mid-answer), so messages start afresh."""
        if self.mid_line:
            out.print()
            self.mid_line = False

    def flush(self, held: str = "") -> None:
        """The turn has ended: print the ``held`` answer when tokens were not printed live."""
        if held and not self.live:
            out.print(held, end="", markup=False, highlight=False)


def drive(events: Iterable[Any], *, as_json: bool, stream: bool = False, prefix: str = "") -> Any:
    """Print a run's answer tokens and notices as they stream; return its :class:`TurnResult`.

    ``stream`` prints tokens live even into a pipe (``PODIUM_STREAM``); a run that fails or
    is stopped prints none of the text it held. ``prefix`` starts the answer's line.
    """
    fold, printer = TurnFold(), AnswerPrinter(stream=stream, prefix=prefix)
    shown: dict[int, str] = {}  # each plan step's status as last printed
    try:
        for event in events:
            fold.apply(event)
            if as_json:
                continue
            if event.kind == "plan":
                for step in fold.plan:  # a plan's steps as they start and end, before its answer
                    if shown.get(step["step"]) != step["status"] and step["status"] != "running":
                        printer.end_line()
                        err.print("· " + plan_line(step), style="dim", markup=False)
                    shown[step["step"]] = step["status"]
            elif event.kind == "token":
                printer.token(event.data["text"])
            elif event.kind == "notice" and event.data.get("text"):
                printer.end_line()
                err.print("· " + event.data["text"], style="dim", markup=False)
            elif event.kind == "retract":
                printer.retract(int(event.data.get("chars", 0)))
    except BaseException:
        printer.end_line()
        raise
    if not as_json:
        printer.flush(fold.answer)
    return fold.result


@contextmanager
def ctrl_c_stops(*, quit_code: int | None = 130) -> Iterator[list[Any]]:
    """The callbacks of a run that Ctrl-C stops at the next token, as the web app's Stop button does.

    LangGraph generates in a worker thread that a ``KeyboardInterrupt`` in the main thread
    does not stop, so Ctrl-C only sets a stop event (``StopSignal`` raises at the next token
    and the turn is rolled back); a second Ctrl-C interrupts at once. A stopped run prints
    one line, then exits with ``quit_code``, or returns (``None``: ``podium chat`` goes on).
    """
    from ui.session import StopSignal, TurnStopped

    event = threading.Event()
    previous = None

    def on_sigint(signum: int, frame: Any) -> None:
        if event.is_set():  # asked twice: stop waiting for the next token
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)
            raise KeyboardInterrupt
        event.set()

    if threading.current_thread() is threading.main_thread():  # only the main thread may handle signals
        previous = signal.signal(signal.SIGINT, on_sigint)
    manager_log = logging.getLogger("langchain_core.callbacks.manager")
    manager_log.addFilter(_quiet_stop)  # LangChain logs the stop as a callback error before re-raising it
    try:
        yield [StopSignal(event)]
    except (TurnStopped, KeyboardInterrupt):
        err.print("■ stopped: nothing of this turn was saved", style="yellow", markup=False)
        if quit_code is not None:
            raise typer.Exit(quit_code) from None
    finally:
        manager_log.removeFilter(_quiet_stop)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _quiet_stop(record: logging.LogRecord) -> bool:
    return "TurnStopped" not in record.getMessage()


def finish(result: Any, *, as_json: bool) -> None:
    """Print the result (JSON, or a footer), then exit with status 3 while the turn waits: for an approval
    (the pending calls are shown) or at a breakpoint (where it paused is shown)."""
    waiting = bool(result.pending or result.paused_before)
    if as_json:
        print_json(result.to_dict())
    elif waiting:  # no answer yet: no blank line or footer before the pause
        for call in result.pending:
            show_pending(call, result.thread_id)
        if not result.pending:
            paused_note(result)
    else:
        out.print()
        err.print(f"{footer(result.model, result.usage)} · thread {result.thread_id}", style="dim", markup=False)
    if waiting:
        raise typer.Exit(PENDING_EXIT)


def paused_note(result: Any) -> None:
    """Tell the user where a paused run stopped and how to continue it."""
    if result.paused_before:
        err.print(f"⏸ paused before {', '.join(result.paused_before)} · continue with "
                  f"`podium resume {result.thread_id}`", style="yellow", markup=False)


def show_pending(call: dict[str, Any], thread_id: str | None = None) -> None:
    """Describe one call waiting for approval (on stderr), with how to answer it."""
    err.print(f"⏸ {call.get('name')} needs your approval to run with:", style="yellow", markup=False)
    err.print(json.dumps(call.get("args", {}), indent=2, ensure_ascii=False), markup=False, highlight=False)
    if thread_id:
        err.print(f"answer with: podium resume {thread_id} --approve | --reject | --edit '<JSON arguments>'",
                  style="dim", markup=False)
