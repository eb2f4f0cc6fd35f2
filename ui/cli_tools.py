"""``podium tools`` and ``podium resume``: the tool registry, and continuing a paused turn.

A turn that stops for approval prints the pending call and exits with status 3; the
thread waits in its checkpoint, so ``podium resume THREAD --approve`` works from any
later process. Without a decision, ``resume`` continues a thread paused at a breakpoint.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from podium.errors import PodiumError
from ui.render import take_back

PENDING_EXIT = 3
"""Exit status of a command that stopped with a tool call waiting for approval."""

RETRACTED = "· the text above came from an attempt that failed; the answer starts again below"
"""What a terminal prints when a failed attempt's streamed text is taken back (a terminal cannot unprint)."""

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


class AnswerPrinter:
    """Answer tokens to stdout: live on a terminal; into a pipe or a file, held until the turn ends
    (unless ``PODIUM_STREAM=1`` asks for them live there too).

    Held text can still be taken back, so a failed attempt's words never reach a file; a
    terminal cannot unprint, so it is told which text to ignore.
    """

    def __init__(self, *, stream: bool = False, prefix: str = "") -> None:
        from ui.cli import out

        self.live = out.is_terminal or stream
        """Print tokens as they come (a terminal, or ``PODIUM_STREAM=1``), else hold them."""
        self.held = ""
        if prefix:  # podium chat's "podium> ", printed at once
            out.print(prefix, end="", style="bold green", markup=False)
        self.mid_line = bool(prefix)
        """Text was printed and no newline followed it yet."""

    def token(self, text: str) -> None:
        """One streamed piece of the answer."""
        from ui.cli import out

        if self.live:
            out.print(text, end="", markup=False, highlight=False)
            self.mid_line = True
        else:
            self.held += text

    def end_line(self) -> None:
        """End a live answer's line (a turn failed or was stopped mid-answer), so messages start afresh."""
        from ui.cli import out

        if self.mid_line:
            out.print()
            self.mid_line = False

    def retract(self, chars: int) -> None:
        """Take back the last ``chars`` characters (a failed attempt's)."""
        from ui.cli import err

        if self.live:
            err.print("\n" + RETRACTED, style="dim", markup=False)
            self.mid_line = False
        else:
            self.held = take_back(self.held, chars)

    def flush(self) -> None:
        """Print what is held (the turn has ended)."""
        from ui.cli import out

        if self.held:
            out.print(self.held, end="", markup=False, highlight=False)
            self.held = ""


def drive(events: Iterable[Any], *, as_json: bool, stream: bool = False, prefix: str = "") -> Any:
    """Print a run's answer tokens and notices as they stream; return its :class:`TurnResult`.

    ``stream`` prints tokens live even into a pipe (``PODIUM_STREAM``); a run that fails or
    is stopped prints none of the text it held. ``prefix`` starts the answer's line.
    """
    from ui.cli import err

    result, answer = None, AnswerPrinter(stream=stream, prefix=prefix)
    try:
        for event in events:
            if event.kind == "token" and not as_json:
                answer.token(event.data["text"])
            elif event.kind == "notice" and not as_json:
                answer.end_line()
                err.print("· " + event.data["text"], style="dim", markup=False)
            elif event.kind == "retract" and not as_json:
                answer.retract(int(event.data.get("chars", 0)))
            elif event.kind == "done":
                result = event.data["result"]
    except BaseException:
        answer.end_line()
        raise
    answer.flush()
    return result


@contextmanager
def ctrl_c_stops(*, quit_code: int | None = 130) -> Iterator[list[Any]]:
    """The callbacks of a run that Ctrl-C stops at the next token, as the web app's Stop button does.

    LangGraph generates in a worker thread that a ``KeyboardInterrupt`` in the main thread
    does not stop, so Ctrl-C only sets a stop event (``StopSignal`` raises at the next token
    and the turn is rolled back); a second Ctrl-C interrupts at once. A stopped run prints
    one line, then exits with ``quit_code``, or returns (``None``: ``podium chat`` goes on).
    """
    from ui.cli import err
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
    """Print the result (JSON, or a footer), then exit with status 3 when a call awaits approval."""
    from ui.cli import _print_json, err, out
    from ui.render import usage_footer

    if as_json:
        _print_json(result.to_dict())
    else:
        out.print()
        err.print(f"{usage_footer(result.model, result.usage)} · thread {result.thread_id}", style="dim",
                  markup=False)
        for call in result.pending:
            show_pending(call, result.thread_id)
    if result.pending:
        raise typer.Exit(PENDING_EXIT)


def show_pending(call: dict[str, Any], thread_id: str | None = None) -> None:
    """Describe one call waiting for approval (on stderr), with how to answer it."""
    from ui.cli import err

    err.print(f"⏸ {call.get('name')} needs your approval to run with:", style="yellow", markup=False)
    err.print(json.dumps(call.get("args", {}), indent=2, ensure_ascii=False), markup=False, highlight=False)
    if thread_id:
        err.print(f"answer with: podium resume {thread_id} --approve | --reject | --edit '<JSON arguments>'",
                  style="dim", markup=False)


def ask_approvals(podium: Any, result: Any) -> Any:
    """Interactive approval (``podium chat``): ask about each pending call and resume until none is left."""
    from ui.cli import err, out

    while result.pending:
        call = result.pending[0]
        show_pending(call)
        try:
            decision = _ask_decision()
        except (EOFError, KeyboardInterrupt):  # the call stays pending in the checkpoint
            out.print()
            show_pending(call, result.thread_id)
            return result
        try:
            stopped = True
            with ctrl_c_stops(quit_code=None) as callbacks:
                result = drive(podium.resume(result.thread_id, decision, callbacks=callbacks), as_json=False,
                               stream=podium.settings.stream, prefix="podium> ")
                stopped = False
                out.print()
        except PodiumError as exc:  # e.g. edited arguments that do not validate: ask again
            err.print(f"error: {exc.one_line()}", style="red", markup=False)
            continue
        if stopped:  # Ctrl-C: the run was rolled back, so the call still waits in the checkpoint
            show_pending(call, result.thread_id)
            return result
    return result


def _ask_decision() -> Any:
    """Read approve / reject / edit (with JSON arguments) from the terminal."""
    from ui.cli import err, out

    while True:
        answer = out.input("approve? [y]es / [n]o / [e]dit: ", markup=False).strip().lower()
        if answer in ("y", "yes"):
            return "approve"
        if answer in ("n", "no"):
            return "reject"
        if answer in ("e", "edit"):
            text = out.input("arguments as JSON: ", markup=False)
            try:
                return {"action": "edit", "args": json.loads(text)}
            except json.JSONDecodeError as exc:
                err.print(f"not valid JSON ({exc.msg}); try again", style="red", markup=False)


def _decision(approve: bool, reject: bool, edit: str | None) -> Any:
    chosen = [name for name, on in (("--approve", approve), ("--reject", reject), ("--edit", edit)) if on]
    if len(chosen) > 1:
        raise PodiumError(f"choose one of {' / '.join(chosen)}", hint="--approve, --reject or --edit JSON")
    if edit is not None:
        try:
            args = json.loads(edit)
        except json.JSONDecodeError as exc:
            hint = 'give the arguments as a JSON object, e.g. --edit \'{"code": "print(1)"}\''
            raise PodiumError(f"--edit is not valid JSON: {exc.msg} at character {exc.pos}", hint=hint) from None
        return {"action": "edit", "args": args}
    return "approve" if approve else "reject" if reject else None


def register(app: typer.Typer) -> None:
    """Add ``tools`` and ``resume`` to the ``podium`` command."""
    from ui.cli import _app, _print_json, out

    @app.command("tools")
    def tools_command(as_json: JsonOpt = False) -> None:
        """List the tools, which specialist may use each, and their argument schemas."""
        from agents.registry import tool_users
        from podium.settings import load_settings
        from tools import REGISTRY, ToolEnv

        env = ToolEnv.from_settings(load_settings())
        users = tool_users()
        rows = [{**tool.describe(env), "specialists": users.get(name, [])} for name, tool in REGISTRY.items()]
        if as_json:
            _print_json({"tools": rows})
            return
        table = Table("tool", "approval", "specialists", "arguments", "description")
        for row in rows:
            args = ", ".join(f"{k}{'' if k in row['parameters'].get('required', []) else '?'}: "
                             f"{v.get('type', 'any')}" for k, v in row["parameters"]["properties"].items())
            off = f"\n[bold]{escape(row['off'])}[/]" if row["off"] else ""  # why it cannot run here
            table.add_row(row["name"], "off" if off else "yes" if row["needs_approval"] else "-",
                          ", ".join(row["specialists"]) or "-", args or "-", row["description"] + off)
        Console(width=max(out.width, 160), highlight=False).print(table)  # descriptions need the room

    @app.command("resume")
    def resume_command(
        thread_id: Annotated[str, typer.Argument(help="The paused thread (see `podium threads`).")],
        approve: Annotated[bool, typer.Option("--approve", help="Run the pending tool call(s) as they are.")] = False,
        reject: Annotated[bool, typer.Option("--reject", help="Do not run the pending tool call(s).")] = False,
        edit: Annotated[str | None, typer.Option("--edit", help="Run the pending call with these JSON "
                                                 "arguments instead.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Continue a paused thread: answer a pending approval, or go on from a breakpoint."""
        decision = _decision(approve, reject, edit)
        podium = _app()
        with ctrl_c_stops() as callbacks:  # Ctrl-C: exit status 130, the thread stays where it paused
            result = drive(podium.resume(thread_id, decision, callbacks=callbacks), as_json=as_json,
                           stream=podium.settings.stream)
            while result.pending and decision in ("approve", "reject"):  # the same answer for later calls
                result = drive(podium.resume(thread_id, decision, callbacks=callbacks), as_json=as_json,
                               stream=podium.settings.stream)
        finish(result, as_json=as_json)
