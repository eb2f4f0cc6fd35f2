"""``podium tools`` and ``podium resume``: the tool registry, and continuing a paused turn.

A turn that stops for approval prints the pending call and exits with status 3; the
thread waits in its checkpoint, so ``podium resume THREAD --approve`` works from any
later process. Without a decision, ``resume`` continues a thread paused at a breakpoint.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from podium.errors import PodiumError
from ui.terminal import ctrl_c_stops, drive, err, finish, open_app, out, print_json, show_pending

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def ask_approvals(podium: Any, result: Any) -> Any:
    """Interactive approval (``podium chat``): ask about each pending call and resume until none is left."""
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
            print_json({"tools": rows})
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
        edit: Annotated[str | None, typer.Option("--edit", metavar="JSON", help="Run the pending call with these "
                                                 "JSON arguments instead.")] = None,
        discard: Annotated[bool, typer.Option("--discard", help="Drop the unfinished turn instead (interrupted, "
                                              "paused or waiting for approval): its message and all it did.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Continue a thread's unfinished turn: answer a pending approval, go on from a breakpoint, finish a turn
        whose process died, or --discard it."""
        decision = _decision(approve, reject, edit)
        podium = open_app()
        if discard:
            if decision is not None:
                raise PodiumError("--discard cannot be combined with --approve, --reject or --edit",
                                  hint="discard the turn, or answer its approval")
            dropped = podium.discard(thread_id)
            if as_json:
                print_json({"thread_id": thread_id, "discarded": dropped.to_dict()})
            else:
                err.print(f"discarded the {dropped.kind} turn {dropped.question[:60]!r} of thread {thread_id}",
                          markup=False)
            return
        state = podium.unfinished(thread_id) if decision is None and podium.thread_exists(thread_id) else None
        if state is not None and state.kind == "interrupted" and not as_json:
            err.print(f"· resuming the turn interrupted during {', '.join(state.nodes)}", style="dim", markup=False)
        with ctrl_c_stops() as callbacks:  # Ctrl-C: exit status 130, the thread stays where it paused
            result = drive(podium.resume(thread_id, decision, callbacks=callbacks), as_json=as_json,
                           stream=podium.settings.stream)
            while result.pending and decision in ("approve", "reject"):  # the same answer for later calls
                result = drive(podium.resume(thread_id, decision, callbacks=callbacks), as_json=as_json,
                               stream=podium.settings.stream)
        finish(result, as_json=as_json)
