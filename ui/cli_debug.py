"""``podium debug``: draw the graph, trace a thread, inspect state, replay and fork from checkpoints.

Everything runs locally on the thread's SQLite checkpoints; secrets are redacted in every output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from ui.terminal import PENDING_EXIT, ctrl_c_stops, drive, err, finish, open_app, out, print_json

debug_app = typer.Typer(name="debug", help="Graph debugging: draw, trace, state, replay, fork.",
                        no_args_is_help=True)

ThreadArg = Annotated[str, typer.Argument(help="Thread id (see `podium threads`).")]
BreakOpt = Annotated[list[str] | None, typer.Option("--break-before", help="Pause before this node.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
CheckpointOpt = Annotated[str | None, typer.Option("--checkpoint", help="Checkpoint id or unique prefix.")]


def print_steps(records: Iterable[Any]) -> None:
    """Step records as dim lines on stderr (markup off: record text may contain brackets)."""
    for record in records:
        err.print("» " + record.line(), style="dim", markup=False, highlight=False)


def run_traced(podium: Any, events: Iterable[Any], *, as_json: bool, show_steps: bool = True,
               approve: bool = False, callbacks: list[Any] | None = None) -> None:
    """Drive a run like ``podium ask`` (tokens on stdout, approvals, exit status 3 while one waits),
    printing each step record on stderr as it ends, or adding them as ``steps`` to the JSON object.

    ``callbacks`` (from :func:`ui.terminal.ctrl_c_stops`) go to the resumed runs of ``approve`` too.
    """
    from graph.debug import StepRecorder, redact

    recorder = StepRecorder(podium.ledger)
    live = show_steps and not as_json

    def steps(run: Iterable[Any]) -> Iterable[Any]:
        try:
            for event in run:
                done = recorder.feed(event)
                if live:
                    print_steps(done)
                yield event
        except Exception as exc:
            if live:
                print_steps(recorder.close(exc))
            raise
        left = recorder.close()  # steps no checkpoint followed (a pause or an interrupt)
        if live:
            print_steps(left)

    stream = podium.settings.stream
    result = drive(steps(events), as_json=as_json, stream=stream)
    while approve and result.pending:  # --approve: answer every approval of the turn with yes
        resumed = podium.resume(result.thread_id, "approve", trace=True, callbacks=callbacks)
        result = drive(steps(resumed), as_json=as_json, stream=stream)
    if as_json and show_steps:
        print_json(redact({**result.to_dict(), "steps": [r.to_dict() for r in recorder.records]}))
        if result.pending or result.paused_before:
            raise typer.Exit(PENDING_EXIT)
        return
    finish(result, as_json=as_json)  # exits with status 3 while the turn waits (an approval, a breakpoint)


@debug_app.command("graph")
def graph_cmd(
    fmt: Annotated[str, typer.Option("--format", "-f", help="mermaid, ascii or png.")] = "mermaid",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Draw the conductor graph (png is rendered locally, no web service)."""
    from graph.draw import draw
    from graph.graph import build_graph
    from podium.errors import ConfigError

    drawing = draw(build_graph(), fmt)
    if output is not None:
        try:
            output.write_bytes(drawing) if isinstance(drawing, bytes) else output.write_text(drawing)
        except OSError as exc:
            raise ConfigError(f"--output: cannot write {output} ({exc.strerror or exc})", setting="output",
                              hint="give a file in a folder that exists and that you can write to") from None
        return
    if isinstance(drawing, bytes):
        if sys.stdout.isatty():
            raise ConfigError("a PNG would garble the terminal", setting="output",
                              hint="pass --output graph.png, or pipe stdout to a file")
        sys.stdout.buffer.write(drawing)
        return
    sys.stdout.write(drawing if drawing.endswith("\n") else drawing + "\n")


@debug_app.command("trace")
def trace_cmd(thread_id: ThreadArg, checkpoint: CheckpointOpt = None, as_json: JsonOpt = False) -> None:
    """List the steps of a thread's current branch (or of the branch ending at --checkpoint)."""
    from graph.trace import state_at, trace

    podium = open_app()
    records = trace(podium, thread_id, checkpoint)
    state = state_at(podium, thread_id, checkpoint)
    if as_json:
        print_json({"thread_id": thread_id, "checkpoint_id": state["checkpoint_id"], "next": state["next"],
               "steps": [r.to_dict() for r in records]})
        return
    for record in records:
        out.print(record.line(), markup=False, highlight=False)
    if state["next"]:
        out.print(f"⏸ paused before {', '.join(state['next'])} at {state['checkpoint_id']}", markup=False)


@debug_app.command("state")
def state_cmd(thread_id: ThreadArg, checkpoint: CheckpointOpt = None, as_json: JsonOpt = False) -> None:
    """Show the full state at a checkpoint (default: the newest)."""
    from graph.trace import state_at

    state = state_at(open_app(), thread_id, checkpoint)
    if as_json:
        print_json(state)
        return
    out.print(f"checkpoint {state['checkpoint_id']} · step {state['step']} · {state['source']} · "
              f"{state['created_at']} · next: {', '.join(state['next']) or '(end of turn)'}", markup=False)
    out.print(json.dumps(state["values"], indent=2, ensure_ascii=False, default=str), markup=False,
              highlight=False)


@debug_app.command("checkpoints")
def checkpoints_cmd(thread_id: ThreadArg, as_json: JsonOpt = False) -> None:
    """List every checkpoint of a thread, branches included (* marks the current branch)."""
    from graph.trace import checkpoint_rows

    rows = checkpoint_rows(open_app(), thread_id)
    if as_json:
        print_json({"thread_id": thread_id, "checkpoints": rows})
        return
    for r in rows:
        mark = ">" if r["head"] else ("*" if r["current_branch"] else " ")
        out.print(f"{mark} {r['checkpoint_id']} step {r['step']:>3} {r['source']:<6} "
                  f"by {r['written_by'] or '-':<10} next: {', '.join(r['next']) or '-'}",
                  markup=False, highlight=False)


@debug_app.command("replay")
def replay_cmd(
    thread_id: ThreadArg,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint id or prefix to re-run from.")],
    break_before: BreakOpt = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Re-run with another model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-run a thread from a past checkpoint as a new branch, printing each step."""
    from agents.contract import TurnOptions
    from graph.trace import replay

    podium = open_app()
    with ctrl_c_stops() as callbacks:
        events = replay(podium, thread_id, checkpoint, break_before=break_before,
                        options=TurnOptions(model=model or ""), callbacks=callbacks)
        run_traced(podium, events, as_json=as_json, callbacks=callbacks)


@debug_app.command("fork")
def fork_cmd(
    thread_id: ThreadArg,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint id or prefix to branch from.")],
    sets: Annotated[list[str], typer.Option("--set", help="key=JSON written into the state (repeatable).")],
    run: Annotated[bool, typer.Option("--run", help="Continue the new branch right away.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Branch a thread at a checkpoint with edited state; the original history stays as it was."""
    from graph.trace import fork, parse_sets, replay

    podium = open_app()
    forked = fork(podium, thread_id, checkpoint, parse_sets(sets))
    if run and forked["next"]:
        if not as_json:
            err.print(f"forked {forked['checkpoint_id']}; running {', '.join(forked['next'])}", style="dim",
                      markup=False)

        with ctrl_c_stops() as callbacks:
            run_traced(podium, replay(podium, thread_id, forked["checkpoint_id"], callbacks=callbacks),
                       as_json=as_json, callbacks=callbacks)
        return
    if as_json:
        print_json(forked)
        return
    err.print(f"forked {thread_id} at {forked['parent_checkpoint_id']} -> new checkpoint "
              f"{forked['checkpoint_id']} (set {', '.join(forked['set'])}; next: "
              f"{', '.join(forked['next']) or 'end of turn'})", markup=False)
    if forked["next"]:
        err.print(f"continue it with `podium debug replay {thread_id} --checkpoint "
                  f"{forked['checkpoint_id']}`", style="dim", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``debug`` command group to the ``podium`` CLI."""
    app.add_typer(debug_app, name="debug")
