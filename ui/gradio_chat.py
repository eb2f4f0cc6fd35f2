"""The Chat tab: thin Gradio wiring around ``PodiumApp.stream_turn`` and :mod:`ui.chat_view`.

A turn is two events, the usual Gradio chat pattern: ``send`` (instant, never queued
behind a model) shows the user's message and arms the session's stop signal, then
``generate`` (queued under the ``chat`` concurrency limit) streams the turn. Everything
per user lives in the session's ``gr.State``, so two browser sessions never share a thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from agents.contract import TurnOptions
from models.registry import known_models
from podium.errors import PodiumError
from ui.chat_view import (
    TurnView,
    approval_text,
    decision_message,
    history_messages,
    settle,
    thread_choices,
    user_message,
)
from ui.gradio_approvals import ApprovalWidget, decision_for
from ui.models_view import model_choices
from ui.session import StopBoard, StopSignal, ThreadOwners, TurnStopped

log = logging.getLogger(__name__)

CHAT_CONCURRENCY = 4
"""Turns generating at once. Local models still answer one at a time (they share one locked
llama.cpp instance); remote models really run in parallel. Other UI events never wait on these."""

PLACEHOLDER = "Ask anything. Agent steps and tool calls show up here as they happen."
"""Shown in the empty chat."""

MAX_THREADS = 100
"""Threads listed in the picker; older ones stay reachable from the CLI (`podium threads`)."""

MAX_MESSAGE_CHARS = 100_000
"""Longer messages are refused before tokenizing; below this the model's context decides."""


def model_registry(podium: Any) -> tuple[list[Any], dict[str, str]]:
    """The registry's models, and why each remote one that cannot be built now cannot (a missing key)."""
    items, problems = known_models(podium.settings), {}
    for item in items:
        if not isinstance(item, Exception) and not item.local:
            try:
                podium.models.model(item.spec)  # builds a client only; nothing is sent
            except PodiumError as exc:
                problems[item.spec] = exc.one_line()
    return items, problems


def new_session() -> dict[str, Any]:
    """A browser session's private state: its thread, the chat as shown, pending approvals."""
    return {"thread_id": None, "chat": [], "text": "", "pending": []}


def session_key(request: gr.Request | None) -> str:
    """Gradio's per-page-load session id (``local`` when a handler is called directly)."""
    return getattr(request, "session_hash", None) or "local"


def user_of(request: gr.Request | None) -> str:
    """The signed-in user (empty without --auth)."""
    return getattr(request, "username", None) or ""


@dataclass
class ChatParts:
    """The Chat tab's components that other tabs need."""

    chatbot: gr.Chatbot
    model: gr.Dropdown
    collection: gr.Dropdown
    session: gr.State


class ChatTab:
    """Handlers of the Chat tab: plain methods, so tests can call them without a server."""

    def __init__(self, podium: Any, *, owners: ThreadOwners | None = None) -> None:
        self.podium = podium
        self.stops = StopBoard()
        self.owners = owners
        """Set when the UI runs with --auth: each signed-in user then lists only their threads."""
        self.approvals = ApprovalWidget("podium")
        """The approval panel (Approve / Edit / Reject) under the chat."""
        self.threads: gr.Radio | None = None
        """The thread picker, once :meth:`build` has laid it out."""

    # --- threads -------------------------------------------------------------------------------
    def visible_threads(self, request: gr.Request | None) -> list[Any]:
        """Threads this user may reopen: all of them on a local single-user app, their own with --auth."""
        threads = self.podium.threads()
        if self.owners is None:
            return threads
        mine = self.owners.of(user_of(request))
        return [t for t in threads if t.thread_id in mine]

    def thread_list(self, session: dict[str, Any], request: gr.Request) -> Any:
        """The thread picker, refreshed, with the session's thread selected (the newest ``MAX_THREADS``)."""
        threads = self.visible_threads(request)[:MAX_THREADS]
        return gr.Radio(choices=thread_choices(threads), value=session.get("thread_id"))

    def open_thread(self, thread_id: str, request: gr.Request) -> tuple[Any, ...]:
        """Reopen a saved thread in this session."""
        if thread_id not in {t.thread_id for t in self.visible_threads(request)}:
            raise gr.Error(f"unknown thread {thread_id!r}; pick one from the list", duration=8, print_exception=False)
        chat = history_messages(self.podium.history(thread_id))
        # A thread paused at a tool approval (the page was closed meanwhile) asks again.
        snapshot = self.podium.graph.get_state({"configurable": {"thread_id": thread_id}})
        session = {**new_session(), "thread_id": thread_id, "chat": chat,
                   "pending": [i.value for i in snapshot.interrupts]}
        return chat, session, gr.Textbox(interactive=True), *self.approvals.shown(session.get("pending") or [])

    def new_thread(self, request: gr.Request) -> tuple[Any, ...]:
        """Start over: an empty chat; the next message creates a new thread (a running turn is stopped)."""
        self.stops.stop(session_key(request))
        box = gr.Textbox(value="", interactive=True)
        return [], new_session(), gr.Radio(value=None), box, *self.approvals.hidden()

    def model_picker(self) -> Any:
        """The model picker's choices, refreshed (a GGUF added or a key set since the app started)."""
        items, problems = model_registry(self.podium)
        return gr.Dropdown(choices=model_choices(items, self.podium.settings.model, problems))

    # --- a turn --------------------------------------------------------------------------------
    @staticmethod
    def refusal(text: str, session: dict[str, Any]) -> str:
        """Why a message cannot be sent now (empty when it can)."""
        if not text:
            return "Type a message first."
        if len(text) > MAX_MESSAGE_CHARS:
            return f"That message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}."
        if session.get("pending"):
            return "Approve, edit or reject the pending tool call first."
        return ""

    def send(self, text: str, session: dict[str, Any], request: gr.Request) -> tuple[Any, ...]:
        """Show the user's message at once and arm the stop signal.

        Bad input is a warning toast and changes nothing: the chat, the box and the session
        stay as they are, so the chained :meth:`generate` finds no text and does nothing.
        (An error here would mark every output as failed and blank the chat.)
        """
        text = (text or "").strip()
        why = self.refusal(text, session)
        if why:
            gr.Warning(why, duration=6)
            return gr.skip(), gr.skip(), gr.skip()
        self.stops.start(session_key(request))
        chat = [*session.get("chat", []), user_message(text)]
        return gr.Textbox(value="", interactive=False), chat, {**session, "text": text, "chat": chat}

    def stop(self, request: gr.Request) -> None:
        """Cancel this session's running turn: it ends at the next token and is rolled back."""
        if self.stops.stop(session_key(request)):
            gr.Info("Stopping…", duration=3)

    def generate(self, session: dict[str, Any], model: str | None, collection: str | None,
                 request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """Stream the turn ``send`` prepared, then the final state.

        Yields ``(chatbot, session, message box, thread list, *approval panel)``.
        """
        text = session.get("text", "")
        if not text:  # ``send`` refused the message (or was not called): nothing to run, nothing changes
            yield (gr.skip(),) * (4 + len(self.approvals.components()))
            return
        options = TurnOptions(model=model or "", collection=collection or None)
        run = self.podium.stream_turn
        yield from self.run_events(session, request, lambda callbacks: run(text, session.get("thread_id"), options,
                                                                          callbacks=callbacks))

    def run_events(self, session: dict[str, Any], request: gr.Request,
                   start: Any) -> Iterator[tuple[Any, ...]]:
        """Drive one event stream (a turn or a resumed one) into the chat, with stop and errors."""
        base, key = list(session.get("chat", [])), session_key(request)
        view = TurnView(started=time.perf_counter())
        unchanged = (gr.skip(),) * (3 + len(self.approvals.components()))
        try:
            for event in start([StopSignal(self.stops.current(key))]):
                view.apply(event)
                yield base + view.messages(), *unchanged
        except TurnStopped as exc:
            view.fail(exc.message, exc.hint, stopped=True)
        except PodiumError as exc:
            view.fail(exc.message, exc.hint)
        except Exception as exc:  # noqa: BLE001 - the app keeps serving; the log has the traceback
            log.exception("turn failed")
            view.fail(f"Podium failed: {type(exc).__name__}: {exc}", "the server log has the details")
        finally:
            self.stops.forget(key)
        yield self._final(session, base, view, request)

    def _final(self, session: dict[str, Any], base: list[dict[str, Any]], view: TurnView,
               request: gr.Request) -> tuple[Any, ...]:
        # A failed turn was rolled back: it stays visible in this session but is not in the thread.
        chat = base + view.messages()
        # A failed run changed nothing, so approvals it was answering are still pending.
        pending = view.pending if view.result else session.get("pending", [])
        # A stopped or failed turn was not saved: its message goes back in the box, to send again.
        retry = session.get("text") if view.result is None else ""
        box = gr.Textbox(value=retry, interactive=True) if retry else gr.Textbox(interactive=True)
        session = {**session, "chat": chat, "text": "", "pending": pending}
        if view.result is not None:
            if self.owners is not None and session.get("thread_id") is None:
                self.owners.claim(view.result.thread_id, user_of(request))
            session["thread_id"] = view.result.thread_id
        threads = self.thread_list(session, request)
        return chat, session, box, threads, *self.approvals.shown(pending)

    # --- approvals -----------------------------------------------------------------------------
    def decide(self, action: str, args_text: str, session: dict[str, Any],
               request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """Resume the session's interrupted turn with the user's decision, streaming the rest into the chat.

        A decision that cannot be taken (nothing pending, arguments that are not JSON) is a
        warning toast and changes nothing: an error would blank the chat, an output of this event.
        """
        pending = (session.get("pending") or []) if session.get("thread_id") else []
        decision, why = decision_for(action, args_text, pending)
        if decision is None:
            gr.Warning(why, duration=8)
            yield (gr.skip(),) * (4 + len(self.approvals.components()))
            return
        title, _ = approval_text(pending[0])
        chat = [*settle(session.get("chat", []), {"approve": "approved", "edit": "edited"}.get(action, "rejected")),
                decision_message(title, decision)]
        session = {**session, "chat": chat}  # pending stays until the resumed run reports anew
        thread_id, resume = session["thread_id"], self.podium.resume
        self.stops.start(session_key(request))
        yield from self.run_events(session, request, lambda callbacks: resume(
            thread_id, decision=decision, callbacks=callbacks))

    def _decider(self, action: str) -> Any:
        """The handler of one approval button."""
        def handle(args_text: str, session: dict[str, Any], request: gr.Request) -> Iterator[tuple[Any, ...]]:
            yield from self.decide(action, args_text, session, request)

        handle.__name__ = f"tool_{action}"
        return handle

    # --- layout --------------------------------------------------------------------------------
    def build(self, settings: Any) -> ChatParts:
        """Lay out the Chat tab (inside an open ``gr.Tab``) and wire its events."""
        session = gr.State(new_session())
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=240):
                new = gr.Button("+ New thread", size="sm", elem_id="podium-new-thread")
                threads = gr.Radio(label="Threads", choices=[], elem_id="podium-threads")
                refresh = gr.Button("↻ Refresh threads", size="sm")
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(label="Podium", height=560, elem_id="podium-chat", feedback_options=None,
                                     buttons=["copy", "copy_all"], placeholder=PLACEHOLDER)
                self.approvals.build()
                with gr.Row():
                    message = gr.Textbox(show_label=False, placeholder="Message Podium (Enter to send)",
                                         scale=6, elem_id="podium-input", max_lines=8, autofocus=True)
                    send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="podium-send")
                    stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, elem_id="podium-stop")
                with gr.Row():
                    items, problems = model_registry(self.podium)
                    choices = model_choices(items, settings.model, problems)
                    model = gr.Dropdown(choices, value=settings.model, label="Model", allow_custom_value=True,
                                        elem_id="podium-model", scale=2)
                    collection = gr.Dropdown([], value=None, label="Knowledge collection (optional)",
                                             info="Scope questions to one collection; empty lets Podium decide.",
                                             allow_custom_value=True, scale=1, elem_id="podium-collection",
                                             visible=getattr(self.podium, "knowledge", None) is not None)
        turn_outputs = [chatbot, session, message, threads, *self.approvals.components()]
        turn = gr.on([message.submit, send.click], self.send, [message, session], [message, chatbot, session],
                     api_name="send", concurrency_limit=None, show_progress="hidden").success(
            self.generate, [session, model, collection], turn_outputs, api_name="generate",
            concurrency_id="chat", concurrency_limit=CHAT_CONCURRENCY, show_progress="minimal")
        stop.click(self.stop, None, None, api_name="stop", concurrency_limit=None, show_progress="hidden")
        panel = self.approvals.components()
        # Leaving the chat mid-turn stops the turn (new_thread) and drops its pending updates (cancels),
        # so a late answer cannot land in the new or reopened thread.
        new.click(self.new_thread, None, [chatbot, session, threads, message, *panel], api_name="new_thread",
                  concurrency_limit=None, cancels=[turn])
        threads.input(self.stop, None, None, api_name=False, concurrency_limit=None, cancels=[turn]).then(
            self.open_thread, [threads], [chatbot, session, message, *panel], api_name="open_thread",
            concurrency_limit=None)
        refresh.click(self.thread_list, [session], [threads], api_name="threads", concurrency_limit=None)
        # The chatbot's own Clear button starts a new thread (the chat shown lives in the session state).
        chatbot.clear(self.new_thread, None, [chatbot, session, threads, message, *panel], api_name=False,
                      concurrency_limit=None, cancels=[turn])
        self.approvals.wire(self._decider, [session], turn_outputs, api_prefix="tool_", concurrency_id="chat",
                            concurrency_limit=CHAT_CONCURRENCY, show_progress="minimal")
        self.threads = threads
        return ChatParts(chatbot, model, collection, session)
