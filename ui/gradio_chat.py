"""The Chat tab: thin Gradio wiring around ``PodiumApp.stream_turn`` and :mod:`ui.chat_view`.

A turn is two events, the usual Gradio chat pattern: ``send`` (instant, never queued
behind a model) shows the user's message and arms the session's stop signal, then
``generate`` (queued under the ``chat`` concurrency limit) streams the turn. Everything
per user lives in the session's ``gr.State``, so two browser sessions never share a thread.
Regenerating an answer and editing a message fork the thread (:mod:`graph.branch`); the
sidebar is :mod:`ui.gradio_threads`, the session's settings :mod:`ui.gradio_settings`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from graph.branch import last_input, rerun
from graph.checkpoint import latest_checkpoint_id
from models.registry import known_models
from podium.errors import PodiumError
from ui.chat_view import TurnView, approval_text, decision_message, settle, user_message
from ui.chat_wiring import on_load, wire
from ui.gradio_approvals import ApprovalWidget, decision_for
from ui.gradio_events import PRIVATE
from ui.gradio_settings import SettingsPanel
from ui.gradio_threads import FOLLOW_URL, ThreadsPanel
from ui.models_view import model_choices
from ui.session import StopBoard, StopSignal, ThreadBook, TurnStopped
from ui.web_errors import web_error

log = logging.getLogger(__name__)


PLACEHOLDER = ("**Ask anything.** Podium picks a specialist for each message: chat, your documents (answers cite "
               "their sources), calculations and code (run after your approval), datasets, evaluation, fine-tuning. "
               "Every agent step and tool call shows up here as it happens. Try an example:")
"""Shown in the empty chat."""
EXAMPLES = ("What can you do?", "What is 17.5% of 2340?", "Run this python code: print(sum(range(10)))",
            "Write a haiku about autumn.")
"""Example prompts offered in the empty chat."""
NO_COLLECTION = ("No collection: Podium decides", "")
"""The collection picker's first choice: questions go wherever their documents are (or to chat)."""
PAUSED = "_Paused: approve, edit or reject the tool call below to continue._"

MAX_MESSAGE_CHARS = 100_000
"""Longer messages are refused before tokenizing; below this the model's context decides."""

Settings = tuple[str | None, float | None, float | None, str | None, list[str] | None]
"""The settings panel's values in :meth:`SettingsPanel.options` order: system, temperature, max tokens, policy,
fallbacks."""


def _row(index: int | tuple[int, int]) -> int:
    """The message a chatbot event names (Gradio types its index as a dataframe cell's, too)."""
    return index if isinstance(index, int) else index[0]


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
    """A browser session's private state: its thread, the chat as shown, pending approvals, turn starts."""
    return {"thread_id": None, "chat": [], "text": "", "pending": [], "inputs": {}, "head": None}


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
    chat: Any = None
    """The :class:`ChatTab` itself (who the user is, which threads they may see)."""


class ChatTab:
    """Handlers of the Chat tab: plain methods, so tests can call them without a server."""

    def __init__(self, podium: Any, *, book: ThreadBook | None = None, auth: bool = False) -> None:
        self.podium = podium
        self.stops = StopBoard()
        self.book = book or ThreadBook(podium.settings.data_dir / "ui_threads.sqlite")
        """Thread titles, and with ``auth`` who owns which thread."""
        self.auth = auth
        """Set when the UI runs with --auth: each signed-in user then lists and opens only their threads."""
        self.approvals = ApprovalWidget("podium")
        """The approval panel (Approve / Edit / Reject) under the chat."""
        self.settings = SettingsPanel(podium.settings)
        self.sidebar = ThreadsPanel(self)
        self.stop_button: gr.Button | None = None
        self.on_load: list[tuple[Any, list[Any] | None, list[Any]]] = []
        """Refreshed on every page load (see :func:`ui.chat_wiring.on_load`)."""

    fresh = staticmethod(new_session)

    def user(self, request: gr.Request | None) -> str | None:
        """Who the turn runs as: the signed-in user with --auth, else the machine's operator (``None``)."""
        return user_of(request) or None if self.auth else None

    def model_picker(self) -> Any:
        """The model picker's choices, refreshed (a GGUF added or a key set since the app started)."""
        items, problems = model_registry(self.podium)
        return gr.Dropdown(choices=model_choices(items, self.podium.settings.model, problems))

    def new_thread(self, query: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Start over: an empty chat, no collection; the next message creates a new thread (a running turn stops)."""
        self.stops.stop(session_key(request))
        fresh = self.fresh()
        return ([], fresh, *self.sidebar.listing(fresh, query, request), gr.Textbox(value="", interactive=True),
                gr.update(value=""), "", *self.approvals.hidden())

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

    def skip_all(self) -> tuple[Any, ...]:
        """Every output of a turn left as it is."""
        return (gr.skip(),) * (7 + len(self.approvals.components()))

    def generate(self, session: dict[str, Any], model: str | None, collection: str | None, request: gr.Request,
                 system: str | None = None, temperature: float | None = None, max_tokens: float | None = None,
                 policy: str | None = None, fallbacks: list[str] | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream the turn ``send`` prepared, then the final state.

        Yields ``(chatbot, session, message box, thread list, its note, stop button, thread id, *approval
        panel)``; the keywords are the session's settings panel (empty or default: the server's settings).
        """
        settings = (system, temperature, max_tokens, policy, fallbacks)
        text = session.get("text", "")
        if not text:  # ``send`` refused the message (or was not called): nothing to run, nothing changes
            yield self.skip_all()
            return
        why = self.settings.check(max_tokens)
        if why:
            gr.Warning(why, duration=8)
            self.stops.forget(session_key(request))
            yield (session.get("chat", [])[:-1], {**session, "text": "", "chat": session.get("chat", [])[:-1]},
                   gr.Textbox(value=text, interactive=True), *(gr.skip(),) * (4 + len(self.approvals.components())))
            return
        options = self.settings.options(model, collection, *settings, user=self.user(request))
        run = self.podium.stream_turn
        yield from self.run_events(session, request, lambda callbacks: run(text, session.get("thread_id"), options,
                                                                          callbacks=callbacks))

    def run_events(self, session: dict[str, Any], request: gr.Request, start: Callable[[list[Any]], Iterator[Any]],
                   *, index: int | None = None) -> Iterator[tuple[Any, ...]]:
        """Drive one event stream (a turn, a resumed or a re-run one) into the chat, with stop and errors.

        ``index``: the chat position of the turn's user message (default: the last message shown).
        """
        base, key = list(session.get("chat", [])), session_key(request)
        view = TurnView(started=time.perf_counter())
        stop_on = gr.Button(interactive=True)
        unchanged = (gr.skip(),) * 4  # session, message box, thread list, its note
        panel = (gr.skip(),) * len(self.approvals.components())
        try:
            for event in start([StopSignal(self.stops.current(key))]):
                view.apply(event)
                yield base + view.messages(), *unchanged, stop_on, gr.skip(), *panel
                stop_on = gr.skip()
        except TurnStopped as exc:
            view.fail(exc.message, exc.hint, stopped=True)
        except PodiumError as exc:
            view.fail(*web_error(exc, self.podium.models))
        except Exception as exc:  # noqa: BLE001 - the app keeps serving; the log has the traceback
            log.exception("turn failed")
            view.fail(f"Podium failed: {type(exc).__name__}: {exc}", "the server log has the details")
        finally:
            self.stops.forget(key)
        yield self._final(session, base, view, request, len(base) - 1 if index is None else index)

    def _final(self, session: dict[str, Any], base: list[dict[str, Any]], view: TurnView,
               request: gr.Request, index: int) -> tuple[Any, ...]:
        # A failed turn was rolled back: it stays visible in this session but is not in the thread.
        chat = base + view.messages()
        # A failed run changed nothing, so approvals it was answering are still pending.
        pending = view.pending if view.result else session.get("pending", [])
        # A stopped or failed turn was not saved: its message goes back in the box, to send again.
        retry = session.get("text") if view.result is None else ""
        box = gr.Textbox(value=retry, interactive=True) if retry else gr.Textbox(interactive=True)
        session = {**session, "chat": chat, "text": "", "pending": pending}
        if view.result is not None:
            thread_id = view.result.thread_id
            if session.get("thread_id") is None:
                self.book.claim(thread_id, user_of(request))
            if index >= 0 and chat[index].get("role") == "user":
                session["inputs"] = {**session.get("inputs", {}), str(index): last_input(self.podium, thread_id)}
            session.update(thread_id=thread_id, head=latest_checkpoint_id(self.podium.checkpointer, thread_id))
        threads, note = self.sidebar.listing(session, None, request)
        return (chat, session, box, threads, note, gr.Button(interactive=False), session.get("thread_id") or "",
                *self.approvals.shown(pending))

    # --- regenerate and edit (forks of the thread) ---------------------------------------------
    def _turn_of(self, session: dict[str, Any], index: int) -> tuple[int, int] | None:
        """``(chat index of the user message, its turn number)`` for a message at or after that user message."""
        inputs = session.get("inputs") or {}
        starts = sorted(int(i) for i in inputs)
        mine = [i for i in starts if i <= index]
        return (mine[-1], starts.index(mine[-1])) if mine else None

    def rerun(self, session: dict[str, Any], model: str | None, collection: str | None, request: gr.Request,
              index: int, text: str | None, settings: Settings) -> Iterator[tuple[Any, ...]]:
        """Run the turn holding chat message ``index`` again as a fork: with ``text`` (an edit) or as it was."""
        found = self._turn_of(session, index) if session.get("thread_id") else None
        if found is None or self.stops.running(session_key(request)):
            gr.Warning("Only a saved answer can be regenerated or edited, and not while a turn runs.", duration=8)
            yield (session.get("chat", []), *(gr.skip(),) * (6 + len(self.approvals.components())))
            return
        at, turn = found
        chat = list(session["chat"][:at])
        question = text if text is not None else session["chat"][at]["content"]
        chat.append(user_message(question.strip()))
        session = {**session, "chat": chat, "text": question, "pending": [],
                   "inputs": {k: v for k, v in session["inputs"].items() if int(k) < at}}
        options = self.settings.options(model, collection, *settings, user=self.user(request))
        self.stops.start(session_key(request))
        thread_id = session["thread_id"]
        yield from self.run_events(session, request, lambda callbacks: rerun(
            self.podium, thread_id, turn, text, options=options, callbacks=callbacks))

    def regenerate(self, session: dict[str, Any], model: str | None, collection: str | None, system: str | None,
                   temperature: float | None, max_tokens: float | None, policy: str | None,
                   fallbacks: list[str] | None, data: gr.RetryData, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """The chat's retry button: a new answer to the same message (the old one stays on its branch)."""
        settings: Settings = (system, temperature, max_tokens, policy, fallbacks)
        yield from self.rerun(session, model, collection, request, _row(data.index), None, settings)

    def edit(self, session: dict[str, Any], model: str | None, collection: str | None, system: str | None,
             temperature: float | None, max_tokens: float | None, policy: str | None, fallbacks: list[str] | None,
             data: gr.EditData, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """A user message was edited in place: send it again as a fork from that turn."""
        value = data.value
        text = value.get("text", "") if isinstance(value, dict) else str(value or "")
        if not text.strip():
            gr.Warning("The edited message is empty.", duration=6)
            yield (session.get("chat", []), *(gr.skip(),) * (6 + len(self.approvals.components())))
            return
        settings: Settings = (system, temperature, max_tokens, policy, fallbacks)
        yield from self.rerun(session, model, collection, request, _row(data.index), text, settings)

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
            yield self.skip_all()
            return
        title, _ = approval_text(pending[0])
        # The paused turn's "Paused" bubble and footer give way to the turn's end (one answer, one footer).
        shown = [m for m in session.get("chat", []) if not str(m.get("content", "")).startswith(PAUSED)]
        chat = [*settle(shown, {"approve": "approved", "edit": "edited"}.get(action, "rejected")),
                decision_message(title, decision)]
        session = {**session, "chat": chat}  # pending stays until the resumed run reports anew
        thread_id, resume = session["thread_id"], self.podium.resume
        self.stops.start(session_key(request))
        yield from self.run_events(session, request, lambda callbacks: resume(
            thread_id, decision=decision, callbacks=callbacks), index=-1)

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
        with gr.Row(equal_height=False, elem_id="podium-chat-row"):
            with gr.Column(scale=1, min_width=220, elem_id="podium-sidebar"):
                side = self.sidebar.build()
            with gr.Column(scale=4, min_width=300):
                chatbot = gr.Chatbot(label="Podium", height=560, elem_id="podium-chat", feedback_options=None,
                                     buttons=["copy", "copy_all"], placeholder=PLACEHOLDER, editable="user",
                                     examples=[{"text": e} for e in EXAMPLES])
                self.approvals.build()
                with gr.Row(elem_id="podium-input-row"):
                    message = gr.Textbox(show_label=False, scale=6, elem_id="podium-input", max_lines=8,
                                         autofocus=True, placeholder="Message Podium (Enter sends, Shift+Enter "
                                                                     "for a new line, Escape stops)")
                    send = gr.Button("Send", variant="primary", scale=1, min_width=70, elem_id="podium-send")
                    self.stop_button = gr.Button("Stop", variant="stop", scale=1, min_width=70, interactive=False,
                                                 elem_id="podium-stop")
                with gr.Row():
                    items, problems = model_registry(self.podium)
                    choices = model_choices(items, settings.model, problems)
                    model = gr.Dropdown(choices, value=settings.model, label="Model", allow_custom_value=True,
                                        elem_id="podium-model", scale=2,
                                        info="Pick one, or type any spec (llamacpp/…, openai/…, a .gguf path).")
                    collection = gr.Dropdown([NO_COLLECTION], value="", label="Knowledge collection",
                                             info="Scopes document questions; other messages still go to chat.",
                                             allow_custom_value=True, scale=1, elem_id="podium-collection",
                                             visible=getattr(self.podium, "knowledge", None) is not None)
                self.settings.build(model, choices)
        current = gr.Textbox(visible="hidden", elem_id="podium-current-thread")
        current.change(None, [current], [side["link"]], js=FOLLOW_URL, **PRIVATE, queue=False)
        wire(self, session=session, chatbot=chatbot, message=message, send=send, model=model,
             collection=collection, current=current, side=side)
        self.on_load = on_load(self, session, chatbot, message, current, side["search"], model)
        return ChatParts(chatbot, model, collection, session, self)
