"""Per-browser-session bookkeeping for the web UI: stop signals, thread owners and titles.

Gradio deep-copies ``gr.State`` values per session, so things that cannot be copied
(a ``threading.Event``) or must outlive a session (who owns which thread) live here,
keyed by Gradio's session hash or by the signed-in user.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from podium.errors import Cancelled


class TurnStopped(Cancelled):
    """The user pressed Stop; the turn was cancelled and rolled back."""

    def __init__(self) -> None:
        super().__init__("stopped", hint="this turn was not saved; send the message again to retry")


def _cancellations(cls: type[BaseException] = Cancelled) -> set[str]:
    """Names of every deliberate-stop exception class (``TurnStopped``, ``TurnSuperseded``...)."""
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= _cancellations(sub)
    return names


def _not_a_stop(record: logging.LogRecord) -> bool:
    """Drop LangChain's "Error in X callback" warning when the callback stopped a turn on purpose."""
    message = record.getMessage()
    return not (message.startswith("Error in ") and any(f": {name}(" in message for name in _cancellations()))


def quiet_stops() -> None:
    """LangChain logs a callback's exception as a warning before re-raising it; a stop the user asked for is
    not an error, so that warning is dropped (once per process; other callback errors still show)."""
    manager = logging.getLogger("langchain_core.callbacks.manager")
    if _not_a_stop not in manager.filters:
        manager.addFilter(_not_a_stop)


class StopSignal(BaseCallbackHandler):
    """A run callback that aborts generation at the next token once ``event`` is set.

    ``raise_error`` makes LangChain re-raise instead of logging, so the exception leaves
    the model's token loop (releasing the shared llama.cpp lock) and ends the turn.
    """

    raise_error = True

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        quiet_stops()

    def _check(self) -> None:
        if self.event.is_set():
            raise TurnStopped()

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> None:
        """Stop between two tokens."""
        self._check()

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, **kwargs: Any) -> None:
        """Stop before a model call starts (a queued turn stopped while it waited)."""
        self._check()


class StopBoard:
    """One stop event per browser session, replaced at the start of every turn."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> threading.Event:
        """A fresh, unset event for the session's new turn."""
        with self._lock:
            self._events[session] = threading.Event()
            return self._events[session]

    def current(self, session: str) -> threading.Event:
        """The event of the session's turn (armed by ``start``, or a fresh one)."""
        with self._lock:
            return self._events.setdefault(session, threading.Event())

    def stop(self, session: str) -> bool:
        """Signal the session's running turn; ``False`` when it has none."""
        with self._lock:
            event = self._events.get(session)
        if event is None or event.is_set():
            return False
        event.set()
        return True

    def running(self, session: str) -> bool:
        """Whether the session has a turn running (armed and not stopped)."""
        with self._lock:
            event = self._events.get(session)
        return event is not None and not event.is_set()

    def forget(self, session: str) -> None:
        """Drop a finished session's event."""
        with self._lock:
            self._events.pop(session, None)


class ThreadBook:
    """What the web app knows about threads beyond their checkpoints: who started each one (for ``--auth``)
    and the titles users gave them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._conn() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS owners (thread_id TEXT PRIMARY KEY, user TEXT NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS titles (thread_id TEXT PRIMARY KEY, title TEXT NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def claim(self, thread_id: str, user: str) -> None:
        """Record the owner of a new thread (the first claim wins)."""
        with self._conn() as conn:
            conn.execute("INSERT OR IGNORE INTO owners VALUES (?, ?)", (thread_id, user))

    def owner(self, thread_id: str) -> str | None:
        """The user who started a thread, ``None`` for threads started elsewhere (CLI)."""
        with self._conn() as conn:
            row = conn.execute("SELECT user FROM owners WHERE thread_id = ?", (thread_id,)).fetchone()
        return row[0] if row else None

    def of(self, user: str) -> set[str]:
        """Thread ids a user owns."""
        with self._conn() as conn:
            return {r[0] for r in conn.execute("SELECT thread_id FROM owners WHERE user = ?", (user,))}

    def rename(self, thread_id: str, title: str) -> None:
        """Give a thread a title of its own (an empty one goes back to its first message)."""
        with self._conn() as conn:
            if title:
                conn.execute("INSERT INTO titles VALUES (?, ?) ON CONFLICT (thread_id) DO UPDATE SET title = ?",
                             (thread_id, title, title))
            else:
                conn.execute("DELETE FROM titles WHERE thread_id = ?", (thread_id,))

    def titles(self) -> dict[str, str]:
        """Every title given, by thread id."""
        with self._conn() as conn:
            return dict(conn.execute("SELECT thread_id, title FROM titles").fetchall())

    def forget(self, thread_id: str) -> None:
        """Drop what is known about a deleted thread."""
        with self._conn() as conn:
            conn.execute("DELETE FROM owners WHERE thread_id = ?", (thread_id,))
            conn.execute("DELETE FROM titles WHERE thread_id = ?", (thread_id,))
