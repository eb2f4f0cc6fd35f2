"""The Chat tab's thread sidebar: search, reopen (as the live chat showed it), rename, delete, export, link.

A thread's link is the page's own address with ``?thread=ID``: the address bar follows the open
thread, so a reload (or the link sent to another tab) reopens it. With ``--auth`` a user sees and
opens only their own threads, whatever link they are given.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from graph.branch import delete_thread
from graph.checkpoint import latest_checkpoint_id
from podium.errors import PodiumError
from ui.chat_view import thread_choices
from ui.thread_view import chat_messages, export_json, export_markdown, thread_turns

MAX_THREADS = 50
"""Threads listed at once; older ones are found by searching (and stay reachable from `podium threads`)."""
NO_THREADS = "_No threads yet: your conversations will appear here._"
"""Shown instead of an empty thread list."""
FOLLOW_URL = """(thread) => {
  const url = new URL(window.location.href);
  if (thread) url.searchParams.set('thread', thread); else url.searchParams.delete('thread');
  window.history.replaceState(null, '', url);
  return thread ? url.toString() : '';
}"""
"""Keeps the address bar on the open thread (``?thread=ID``), so a reload or a shared link reopens it."""
CONFIRM_DELETE = "(...args) => { if (!confirm('Delete this thread and all its branches? This cannot be undone.')) " \
                 "throw new Error('cancelled'); return args; }"
"""Asks before a thread is deleted (a cancelled confirm stops the event)."""


def _user(request: gr.Request | None) -> str:
    return getattr(request, "username", None) or ""


def _missing(thread_id: str) -> gr.Error:
    return gr.Error(f"unknown thread {thread_id!r}; pick one from the list", duration=8, print_exception=False)


class ThreadsPanel:
    """Handlers of the sidebar (plain methods, so tests call them without a server)."""

    def __init__(self, chat: Any) -> None:
        """``chat``: the :class:`ui.gradio_chat.ChatTab` whose sidebar this is."""
        self.chat = chat
        self.podium = chat.podium
        self.book = chat.book
        self.radio: gr.Radio | None = None
        self.empty: gr.Markdown | None = None

    # --- listing ---------------------------------------------------------------------------
    def visible(self, request: gr.Request | None) -> list[Any]:
        """Threads this user may open: all of them on a local single-user app, their own with --auth."""
        threads = self.podium.threads()
        if not self.chat.auth:
            return threads
        mine = self.book.of(_user(request))
        return [t for t in threads if t.thread_id in mine]

    def may_open(self, thread_id: str, request: gr.Request | None) -> bool:
        """Whether this user may open ``thread_id`` (an unknown id is simply not theirs)."""
        if self.chat.auth:
            return thread_id in self.book.of(_user(request)) and self.podium.thread_exists(thread_id)
        return self.podium.thread_exists(thread_id)

    def listing(self, session: dict[str, Any], query: str | None, request: gr.Request) -> tuple[Any, Any]:
        """The thread list (searched by title and id, newest first) and the "no threads" note."""
        titles = self.book.titles()
        threads = self.visible(request)
        words = (query or "").lower().split()
        if words:
            threads = [t for t in threads
                       if all(w in f"{titles.get(t.thread_id, '')} {t.title} {t.thread_id}".lower() for w in words)]
        shown = threads[:MAX_THREADS]
        note = "" if shown else ("_No thread matches that search._" if words else NO_THREADS)
        if len(threads) > len(shown):
            note = f"_{len(threads) - len(shown)} older threads: search to find them._"
        return (gr.Radio(choices=thread_choices(shown, titles), value=session.get("thread_id")),
                gr.Markdown(note, visible=bool(note)))

    # --- opening ---------------------------------------------------------------------------
    def shown(self, thread_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A thread as the live chat showed it, and the session that has it open."""
        chat, inputs = chat_messages(thread_turns(self.podium, thread_id))
        # A thread paused at a tool approval (the page was closed meanwhile) asks again.
        snapshot = self.podium.graph.get_state({"configurable": {"thread_id": thread_id}})
        session = {**self.chat.fresh(), "thread_id": thread_id, "chat": chat, "inputs": inputs,
                   "pending": [i.value for i in snapshot.interrupts],
                   "head": latest_checkpoint_id(self.podium.checkpointer, thread_id)}
        return chat, session

    def open(self, thread_id: str, request: gr.Request) -> tuple[Any, ...]:
        """Reopen a saved thread in this session: ``(chat, session, box, link, *approval panel)``."""
        if not thread_id or not self.may_open(thread_id, request):
            raise _missing(thread_id)
        chat, session = self.shown(thread_id)
        return (chat, session, gr.Textbox(interactive=True), thread_id,
                *self.chat.approvals.shown(session["pending"]))

    def from_link(self, session: dict[str, Any], request: gr.Request) -> tuple[Any, ...]:
        """On page load: reopen the thread named in the address (``?thread=ID``) if this user may."""
        thread_id = (getattr(request, "query_params", None) or {}).get("thread", "")
        keep = (gr.skip(),) * (4 + len(self.chat.approvals.components()))
        if not thread_id:
            return keep
        if not re.fullmatch(r"[\w-]{1,64}", thread_id) or not self.may_open(thread_id, request):
            gr.Warning("That thread link is not one of your threads; starting a new thread.", duration=8)
            return (gr.skip(), gr.skip(), gr.skip(), "", *self.chat.approvals.hidden())
        return self.open(thread_id, request)

    def follow(self, session: dict[str, Any], request: gr.Request) -> tuple[Any, Any]:
        """The Chat tab is shown again: if the thread moved on elsewhere (a Debug run, replay or fork), show it now."""
        thread_id = session.get("thread_id")
        if not thread_id or self.chat.stops.running(getattr(request, "session_hash", None) or "local"):
            return gr.skip(), gr.skip()
        if not self.podium.thread_exists(thread_id):
            gr.Warning("This thread was deleted elsewhere; starting a new one.", duration=8)
            return [], self.chat.fresh()
        if latest_checkpoint_id(self.podium.checkpointer, thread_id) == session.get("head"):
            return gr.skip(), gr.skip()
        chat, fresh = self.shown(thread_id)
        gr.Info("This thread changed in the Debug tab; showing its current branch.", duration=6)
        return chat, fresh

    # --- managing --------------------------------------------------------------------------
    def _mine(self, session: dict[str, Any], request: gr.Request) -> str:
        thread_id = session.get("thread_id") or ""
        if not thread_id or not self.may_open(thread_id, request):
            raise gr.Error("Open a thread first (pick one from the list).", duration=6, print_exception=False)
        return thread_id

    def rename(self, title: str, session: dict[str, Any], query: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Give the open thread a title (empty: back to its first message); returns the list and the box."""
        thread_id = self._mine(session, request)
        self.book.rename(thread_id, " ".join((title or "").split())[:80])
        return *self.listing(session, query, request), ""

    def delete(self, session: dict[str, Any], query: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Delete the open thread (every branch); the chat starts over."""
        thread_id = self._mine(session, request)
        try:
            delete_thread(self.podium, thread_id)
        except PodiumError as exc:
            raise gr.Error(exc.one_line(), duration=8, print_exception=False) from None
        self.book.forget(thread_id)
        gr.Info("Thread deleted.", duration=4)
        fresh = self.chat.fresh()
        return [], fresh, *self.listing(fresh, query, request), ""

    def export(self, kind: str, session: dict[str, Any], request: gr.Request) -> str:
        """The open thread as a Markdown or JSON file to download."""
        thread_id = self._mine(session, request)
        turns = thread_turns(self.podium, thread_id)
        info = next((t for t in self.podium.threads() if t.thread_id == thread_id), None)
        title = self.book.titles().get(thread_id) or (info.title if info else thread_id)
        folder = Path(tempfile.mkdtemp(prefix="podium-export-"))
        if kind == "json":
            path = folder / f"podium-{thread_id}.json"
            path.write_text(json.dumps(export_json(turns, title, thread_id), indent=1, ensure_ascii=False,
                                       default=str))
        else:
            path = folder / f"podium-{thread_id}.md"
            path.write_text(export_markdown(turns, title, thread_id))
        return str(path)

    def build(self) -> dict[str, Any]:
        """Lay out the sidebar (inside an open column); returns its components by name."""
        new = gr.Button("+ New thread", size="sm", elem_id="podium-new-thread")
        search = gr.Textbox("", show_label=False, placeholder="Search threads", elem_id="podium-thread-search",
                            max_lines=1)
        self.radio = gr.Radio(label="Threads", choices=[], elem_id="podium-threads")
        self.empty = gr.Markdown(NO_THREADS, elem_id="podium-no-threads")
        with gr.Accordion("This thread", open=False, elem_id="podium-thread-actions"):
            link = gr.Textbox(label="Link", interactive=False, elem_id="podium-thread-link", buttons=["copy"],
                              info="This page's address reopens the thread (with --auth: for you only).")
            with gr.Row():
                title = gr.Textbox(show_label=False, placeholder="New title", scale=3, elem_id="podium-rename-box")
                rename = gr.Button("Rename", size="sm", scale=1, elem_id="podium-rename")
            with gr.Row():
                as_md = gr.Button("Export Markdown", size="sm", elem_id="podium-export-md")
                as_json = gr.Button("Export JSON", size="sm", elem_id="podium-export-json")
            download = gr.File(label="Export", interactive=False, elem_id="podium-export-file")
            delete = gr.Button("Delete thread", size="sm", variant="stop", elem_id="podium-delete-thread")
        return {"new": new, "search": search, "link": link, "title": title, "rename": rename, "as_md": as_md,
                "as_json": as_json, "download": download, "delete": delete}
