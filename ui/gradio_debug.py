"""The Debug tab (``podium ui --debug``): watch turns move through the graph, inspect and branch them.

Pure conversions (step and checkpoint rows) are in :mod:`ui.debug_view`; :class:`DebugTab` holds plain
handler methods (tests call them without a server); :func:`add_debug_tab` lays the tab out.
The tab runs its own turns so it can stop at breakpoints (Continue runs to the next one,
Step runs one node); it reads any thread, including the Chat tab's. **Run** writes only into a
thread the tab made or the user picked in its thread list: the Chat tab's thread, shown when
the tab opens, is read, never written to by a Run (a Run there starts a new thread).
"""

from __future__ import annotations

import io
import json
import logging
import typing
from collections.abc import Iterable, Iterator
from typing import Any

import gradio as gr
from PIL import Image

from agents.contract import State, TurnOptions
from graph import draw
from graph import trace as T
from graph.debug import StepRecorder, redact
from podium.errors import PodiumError
from ui.debug_view import (
    CHECKPOINT_HEADERS,
    STEP_HEADERS,
    STEP_WIDTHS,
    checkpoint_table,
    new_debug_session,
    pending_text,
    step_rows,
)
from ui.fold import TurnFold
from ui.gradio_approvals import ApprovalWidget, decision_for
from ui.gradio_events import PRIVATE

log = logging.getLogger(__name__)

class DebugTab:
    """Handlers of the Debug tab for one :class:`graph.app.PodiumApp`."""

    def __init__(self, podium: Any) -> None:
        self.podium = podium
        self.nodes: list[str] = podium.node_names()
        self._images: dict[tuple[Any, ...], Image.Image] = {}
        self.picker: gr.Dropdown | None = None
        """The thread picker, once :func:`add_debug_tab` has laid it out (refreshed on page load)."""
        self.approvals = ApprovalWidget("podium-debug", fixed=True)
        """The approval panel under the status (the same widget as the Chat tab's)."""

    def diagram(self, running: Iterable[str] = (), breakpoints: Iterable[str] = ()) -> Image.Image:
        """The graph as an image with running nodes filled and breakpoints outlined (cached)."""
        key = (tuple(sorted(running)), tuple(sorted(breakpoints)))
        if key not in self._images:
            png = draw.png(self.podium.graph, running=key[0], breakpoints=key[1])
            self._images[key] = Image.open(io.BytesIO(png))
        return self._images[key]

    @property
    def on_load(self) -> list[tuple[Any, Any, list[Any]]]:
        """Refreshed on every page load: the thread picker (threads made since the page was built)."""
        return [(self.thread_picker, None, [self.picker])] if self.picker is not None else []

    def thread_choices(self) -> list[tuple[str, str]]:
        """Saved threads for the picker: ``title · id`` labels, newest first."""
        return [(f"{t.title[:40]} · {t.thread_id}", t.thread_id) for t in self.podium.threads()]

    def thread_picker(self) -> Any:
        """The thread picker with its choices read afresh (threads made since the page was built)."""
        return gr.Dropdown(choices=self.thread_choices())

    def opened(self, chat_session: dict[str, Any], breakpoints: list[str], dsession: dict[str, Any]) -> tuple[Any, ...]:
        """The tab was selected: show the Chat tab's thread if it has one, else just refresh the thread list."""
        if chat_session.get("thread_id"):
            view = self.load(chat_session["thread_id"], breakpoints, dsession)
            if view[-1].get("thread_id") == chat_session["thread_id"]:  # not an error
                view = (*view[:2], f"{view[2]} {SHOWN_FROM_CHAT}", *view[3:])
            return view
        return self._unchanged(picker=self.thread_picker())

    def pick(self, thread_id: str | None, breakpoints: list[str], dsession: dict[str, Any]) -> tuple[Any, ...]:
        """The user picked ``thread_id`` in the tab's list (or pressed Load): show it, and Run writes into it."""
        return self.load(thread_id, breakpoints, dsession, picked=True)

    # --- reading a thread ------------------------------------------------------------------------
    def load(self, thread_id: str | None, breakpoints: list[str], dsession: dict[str, Any],
             picked: bool = False) -> tuple[Any, ...]:
        """Show a thread: its trace, where it stands, its checkpoints; ``picked``: Run may write into it."""
        if not thread_id:
            return self._view({**new_debug_session()}, breakpoints, "Pick a thread, or run a turn below.", "")
        try:
            steps = [r.to_dict() for r in T.trace(self.podium, thread_id)]
            state = T.state_at(self.podium, thread_id)
        except PodiumError as exc:
            return self._view(dsession, breakpoints, f"**Error:** {exc.one_line()}", "")
        dsession = {"thread_id": thread_id, "steps": steps, "paused": state["next"], "pending": _interrupts(state),
                    "picked": thread_id if picked else dsession.get("picked")}
        return self._view(dsession, breakpoints, self._status(dsession), "")

    def select_step(self, dsession: dict[str, Any], evt: gr.SelectData) -> tuple[Any, Any]:
        """A clicked step: what it changed, and the full state it left."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return self.step_detail(dsession, int(row))

    def step_detail(self, dsession: dict[str, Any], row: int) -> tuple[Any, Any]:
        """Delta and full state of step ``row`` of the session's trace."""
        steps = dsession.get("steps") or []
        if not 0 <= row < len(steps):
            return {}, {}
        step = steps[row]
        state = T.state_at(self.podium, dsession["thread_id"], step["checkpoint_id"]) if step.get("checkpoint_id") \
            else {}
        keys = ("node", "checkpoint_id", "delta", "messages_added", "tool_calls", "model_calls", "error")
        return {k: step.get(k) for k in keys}, state

    def select_checkpoint(self, thread_id: str, evt: gr.SelectData) -> tuple[str, Any]:
        """A clicked checkpoint row: put its id in the box and show its state."""
        checkpoint = evt.row_value[1] if getattr(evt, "row_value", None) else ""
        return checkpoint, T.state_at(self.podium, thread_id, checkpoint) if checkpoint else {}

    # --- running ---------------------------------------------------------------------------------
    def run(self, text: str, thread_id: str | None, breakpoints: list[str], model: str | None,
            dsession: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        """Run a turn with breakpoints, streaming the graph, the steps and the answer (on ``thread_id`` only
        when the tab made it or the user picked it in the tab's list; else on a new thread)."""
        if not (text or "").strip():
            yield self._refuse("Type a message to run.")
            return
        if thread_id and thread_id != dsession.get("picked"):
            gr.Info("Run starts a new thread: the Chat tab's thread is only shown here. To run in it, pick it in "
                    "the Thread list.", duration=8)
            thread_id = None
        if thread_id and self._pending(thread_id, dsession):
            yield self._refuse(self._waiting(dsession))
            return
        thread_id = thread_id or None
        options = TurnOptions(model=model or "")
        yield from self._drive(lambda: self.podium.stream_turn(text.strip(), thread_id, options, trace=True,
                                                               break_before=breakpoints),
                               thread_id, breakpoints, dsession, own=True)

    def resume(self, thread_id: str | None, breakpoints: list[str], dsession: dict[str, Any],
               step: bool = False) -> Iterator[tuple[Any, ...]]:
        """Continue a paused thread to the next breakpoint, or (``step``) through one node."""
        if not thread_id:
            yield self._refuse("No thread to continue: pick one or run a turn.")
            return
        if self._pending(thread_id, dsession):  # an approval is answered with its buttons, not Continue
            yield self._refuse(self._waiting(dsession))
            return
        stops = self.nodes if step else breakpoints
        yield from self._drive(lambda: self.podium.resume(thread_id, trace=True, break_before=stops),
                               thread_id, breakpoints, dsession)

    def step(self, thread_id: str | None, breakpoints: list[str], dsession: dict[str, Any]) -> Iterator[Any]:
        """Run exactly one node of a paused thread."""
        yield from self.resume(thread_id, breakpoints, dsession, step=True)

    def replay(self, thread_id: str | None, checkpoint: str, breakpoints: list[str],
               dsession: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        """Re-run the thread from a checkpoint as a new branch."""
        if not thread_id or not (checkpoint or "").strip():
            yield self._refuse("Pick a checkpoint in the table first (click a row of Checkpoints).")
            return
        yield from self._drive(lambda: T.replay(self.podium, thread_id, checkpoint.strip(), break_before=breakpoints),
                               thread_id, breakpoints, dsession)

    def decide(self, action: str, args_text: str, thread_id: str | None, breakpoints: list[str],
               dsession: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        """Answer the thread's pending tool approval (approve, edit with ``args_text``, reject) and run on."""
        decision, why = decision_for(action, args_text, self._pending(thread_id, dsession) if thread_id else [])
        if decision is None:
            yield self._refuse(why.replace("waiting for approval.", "waiting for approval in this thread."))
            return
        yield from self._drive(lambda: self.podium.resume(thread_id, decision=decision, trace=True,
                                                          break_before=breakpoints),
                               thread_id, breakpoints, dsession)

    def fork(self, thread_id: str | None, checkpoint: str, key: str, value: str,
             dsession: dict[str, Any]) -> tuple[Any, ...]:
        """Branch at a checkpoint with ``key`` set to the JSON ``value``; returns status, table, new id.

        An empty checkpoint box, or a checkpoint that ended its turn (nothing would run after
        the fork, so Replay would have nothing to do), is refused with what to pick instead.
        """
        checkpoint = (checkpoint or "").strip()
        try:
            if not thread_id:
                raise PodiumError("pick a thread first", hint="choose one in the thread list")
            if not checkpoint:
                raise PodiumError("no checkpoint chosen", hint="pick a checkpoint in the table first: click a row")
            at = T.state_at(self.podium, thread_id, checkpoint)
            if not at["next"]:
                raise PodiumError(f"checkpoint {at['checkpoint_id']} ends its turn, so a fork there has nothing "
                                  "to run", hint="pick an earlier checkpoint, one whose 'next' names a node")
            forked = T.fork(self.podium, thread_id, checkpoint, T.parse_sets([f"{key}={value}"]))
        except PodiumError as exc:
            gr.Warning(exc.one_line(), duration=8)
            return f"**Error:** {exc.one_line()}", gr.skip(), gr.skip()
        status = (f"Forked at `{forked['parent_checkpoint_id']}` → `{forked['checkpoint_id']}` "
                  f"(next: {', '.join(forked['next'])}). Press **Replay from here** to run it.")
        gr.Info(f"Forked → {forked['checkpoint_id'][:13]}…; press Replay from here to run it.", duration=6)
        return status, checkpoint_table(T.checkpoint_rows(self.podium, thread_id)), forked["checkpoint_id"]

    def fork_view(self, *args: Any) -> tuple[Any, ...]:
        """:meth:`fork` for the tab: its message goes to the status at the top and beside the Fork button."""
        message, table, checkpoint = self.fork(*args)
        return message, message, table, checkpoint

    def _drive(self, start: Any, thread_id: str | None, breakpoints: list[str],
               dsession: dict[str, Any], own: bool = False) -> Iterator[tuple[Any, ...]]:
        """Stream a run into the view; ``own``: a Run, whose thread (new or picked) the tab may write to again."""
        base = list(dsession.get("steps") or []) if thread_id and dsession.get("thread_id") == thread_id else []
        session: dict[str, Any] = {"thread_id": thread_id, "steps": base, "paused": [],
                                   "picked": dsession.get("picked")}
        recorder, fold = StepRecorder(self.podium.ledger, thread_id or ""), TurnFold()
        try:
            for event in start():
                done = recorder.feed(event)
                fold.apply(event)
                if done or event.kind == "task":
                    session = {**session, "thread_id": recorder.thread or thread_id,
                               "steps": base + [r.to_dict() for r in recorder.records]}
                    if own:
                        session["picked"] = session["thread_id"]
                    yield self._view(session, breakpoints, "Running…", fold.answer, running=recorder.running_nodes,
                                     live=True)
        except PodiumError as exc:
            recorder.close(exc)
            gr.Warning(exc.one_line(), duration=10)  # the status is at the top, maybe scrolled out of sight
            session = {**session, **self._where(session["thread_id"]),
                       "steps": base + [r.to_dict() for r in recorder.records]}
            yield self._view(session, breakpoints, f"**Error:** {exc.one_line()}", fold.answer)
            return
        except Exception as exc:  # noqa: BLE001 - the app keeps serving; the log has the traceback
            log.exception("debug run failed")
            yield self._view(session, breakpoints, f"**Error:** {type(exc).__name__}: {exc}", fold.answer)
            return
        recorder.close()
        result = fold.result
        # The checkpoints are the record of truth once the run ends: earlier turns, inputs, branches.
        steps = [r.to_dict() for r in T.trace(self.podium, result.thread_id)]
        session = {"thread_id": result.thread_id, "paused": result.paused_before, "steps": steps,
                   "pending": list(result.pending), "picked": result.thread_id if own else session.get("picked")}
        yield self._view(session, breakpoints, self._status(session), fold.final)

    def _where(self, thread_id: str | None) -> dict[str, Any]:
        """Where a thread stands now (after a failed run): the nodes it is paused before, pending approvals."""
        if not thread_id or not self.podium.thread_exists(thread_id):
            return {"paused": [], "pending": []}
        state = T.state_at(self.podium, thread_id)
        return {"paused": state["next"], "pending": _interrupts(state)}

    def _pending(self, thread_id: str, dsession: dict[str, Any]) -> list[Any]:
        """The thread's pending approvals (as the session last saw them, or read from the thread)."""
        if dsession.get("thread_id") == thread_id:
            return dsession.get("pending") or []
        return self._where(thread_id)["pending"]

    # --- views -----------------------------------------------------------------------------------
    def _status(self, dsession: dict[str, Any]) -> str:
        thread, paused = dsession.get("thread_id"), dsession.get("paused") or []
        if dsession.get("pending"):
            return f"Waiting: thread `{thread}` {self._waiting(dsession)}"
        if paused:
            return f"Paused: thread `{thread}` is paused before **{', '.join(paused)}**; press Continue or Step."
        return f"Thread `{thread}`: {len(dsession.get('steps') or [])} steps, turn complete."

    @staticmethod
    def _waiting(dsession: dict[str, Any]) -> str:
        return (f"is waiting for your approval of {pending_text(dsession.get('pending') or [])}: "
                "press **Approve**, **Edit** (the JSON arguments) or **Reject** below the status.")

    def _refuse(self, message: str) -> tuple[Any, ...]:
        """A user mistake: a warning toast, and every output left as it is (an error would blank them)."""
        gr.Warning(message.replace("**", ""), duration=8)
        return self._unchanged()

    @staticmethod
    def _unchanged(picker: Any = None) -> tuple[Any, ...]:
        return (*(gr.skip(),) * (len(VIEW) - 5), picker or gr.skip(), *(gr.skip(),) * 4)

    def _view(self, dsession: dict[str, Any], breakpoints: list[str], status: str, answer: str,
              running: list[str] | None = None, live: bool = False) -> tuple[Any, ...]:
        """The tab's outputs, in :data:`VIEW` order: graph image, step table, status, answer,
        checkpoint table, thread picker, approval panel (group, text, arguments), session.

        While a run streams (``live``) the checkpoint table, the thread list and the approval panel are
        left as they are: reading them costs a pass over the checkpointer, so they refresh once at the end.
        """
        thread = dsession.get("thread_id")
        now = running if running else (dsession.get("paused") or [])
        table, picker, panel = gr.skip(), gr.skip(), (gr.skip(),) * 3
        if not live:
            rows = T.checkpoint_rows(self.podium, thread) if thread and self.podium.thread_exists(thread) else []
            table, picker = checkpoint_table(rows), gr.Dropdown(choices=self.thread_choices(), value=thread)
            panel = self.approvals.shown(dsession.get("pending") or [])
        return (self.diagram(now, breakpoints), step_rows(dsession.get("steps") or []), status, redact(answer),
                table, picker, *panel, dsession)


SHOWN_FROM_CHAT = ("This is the Chat tab's thread: **Run** starts a new thread; pick this one in the Thread list "
                   "to run in it.")  # a Run writes only into threads picked here

VIEW = ("graph", "steps", "status", "answer", "checkpoints", "thread", "approval", "approval_text",
        "approval_args", "session")
"""What every handler that shows a thread updates, in order."""


def _interrupts(state: dict[str, Any]) -> list[Any]:
    """Pending interrupt payloads (tool approvals) of a state from ``trace.state_at``."""
    return [i for task in state.get("tasks") or [] for i in task.get("interrupts") or []]


def add_debug_tab(podium: Any, parts: Any = None) -> DebugTab:
    """Add the Debug tab (call inside ``gr.Tabs``); ``parts`` are the Chat tab's components, if any."""
    from ui.chat_wiring import CHAT_CONCURRENCY

    tab = DebugTab(podium)
    with gr.Tab("Debug", id="debug") as debug_tab:
        # Inside the tab: a bare child of gr.Tabs would render as a second tab button.
        dsession = gr.State(new_debug_session())
        model = parts.model if parts is not None else gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=260):
                graph = gr.Image(tab.diagram(), label="Conductor graph", show_label=False, type="pil",
                                 interactive=False, elem_id="podium-debug-graph", buttons=[])
                breaks = gr.CheckboxGroup(tab.nodes, label="Break before", elem_id="podium-debug-breaks")
                with gr.Accordion("Mermaid", open=False):
                    gr.Code(draw.mermaid(podium.graph), language="markdown", interactive=False)
            with gr.Column(scale=5):
                with gr.Row():
                    # Choices are read on page load and when the tab opens (threads made since appear).
                    thread = gr.Dropdown([], label="Thread", allow_custom_value=True, scale=3,
                                         elem_id="podium-debug-thread")
                    load = gr.Button("Load", size="sm", scale=1, elem_id="podium-debug-load")
                with gr.Row():
                    message = gr.Textbox(show_label=False, placeholder="Message to run with breakpoints",
                                         scale=4, elem_id="podium-debug-input")
                    run = gr.Button("Run", variant="primary", scale=1, elem_id="podium-debug-run")
                    cont = gr.Button("Continue", scale=1, elem_id="podium-debug-continue")
                    step = gr.Button("Step", scale=1, elem_id="podium-debug-step")
                status = gr.Markdown("Pick a thread, or run a turn.", elem_id="podium-debug-status")
                tab.approvals.build()
                answer = gr.Markdown(elem_id="podium-debug-answer")
        # Below the graph and the controls, full width: the step table has twelve columns.
        steps = gr.Dataframe(headers=STEP_HEADERS, label="Steps (click one)", interactive=False, wrap=True,
                             elem_id="podium-debug-steps", column_widths=STEP_WIDTHS)
        with gr.Row():
            delta = gr.JSON(label="Step delta", elem_id="podium-debug-delta")
            state = gr.JSON(label="Full state after the step", elem_id="podium-debug-state")
        checkpoints = gr.Dataframe(headers=CHECKPOINT_HEADERS, label="Checkpoints (click one)",
                                   interactive=False, elem_id="podium-debug-checkpoints")
        with gr.Row():
            checkpoint = gr.Textbox(label="Checkpoint", scale=3, elem_id="podium-debug-checkpoint")
            replay = gr.Button("Replay from here", scale=1, elem_id="podium-debug-replay")
        with gr.Row():
            key = gr.Dropdown(list(typing.get_type_hints(State)), value="route_reason", label="Set key",
                              scale=1)
            value = gr.Textbox(label="to JSON value", value=json.dumps("edited in the debugger"), scale=3)
            fork = gr.Button("Fork", scale=1, elem_id="podium-debug-fork")
        note = gr.Markdown(elem_id="podium-debug-branch-status")
    tab.picker = thread
    view = [graph, steps, status, answer, checkpoints, thread, *tab.approvals.components(), dsession]
    queued: dict[str, Any] = {"concurrency_id": "chat", "concurrency_limit": CHAT_CONCURRENCY,
                              "show_progress": "minimal"}
    run.click(tab.run, [message, thread, breaks, model, dsession], view,
              api_name="debug_run", **queued)
    cont.click(tab.resume, [thread, breaks, dsession], view, api_name="debug_continue", **queued)
    step.click(tab.step, [thread, breaks, dsession], view, api_name="debug_step", **queued)
    replay.click(tab.replay, [thread, checkpoint, breaks, dsession], view, api_name="debug_replay", **queued)
    tab.approvals.wire(lambda action: _decider(tab, action), [thread, breaks, dsession], view, api_prefix="debug_",
                       **queued)
    light: dict[str, Any] = {"concurrency_limit": None}
    load.click(tab.pick, [thread, breaks, dsession], view, api_name="debug_load", **light)
    thread.input(tab.pick, [thread, breaks, dsession], view, **PRIVATE, **light)
    breaks.change(lambda b, s: tab.diagram(s.get("paused") or [], b), [breaks, dsession], [graph], **PRIVATE,
                  **light)
    fork.click(tab.fork_view, [thread, checkpoint, key, value, dsession], [status, note, checkpoints, checkpoint],
               api_name="debug_fork", **light)
    steps.select(tab.select_step, [dsession], [delta, state], **PRIVATE, **light)
    checkpoints.select(tab.select_checkpoint, [thread], [checkpoint, state], **PRIVATE, **light)
    # Opening the tab refreshes the thread list, and shows the Chat tab's current thread if there is one.
    chat_session = parts.session if parts is not None else gr.State({})
    debug_tab.select(tab.opened, [chat_session, breaks, dsession], view, **PRIVATE, **light)
    return tab


def _decider(tab: DebugTab, action: str) -> Any:
    """A handler answering the pending approval with ``action`` (one per button)."""
    def decide(args_text: str, thread_id: str | None, breakpoints: list[str],
               dsession: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        yield from tab.decide(action, args_text, thread_id, breakpoints, dsession)

    decide.__name__ = f"debug_{action}"
    return decide
