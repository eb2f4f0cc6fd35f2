"""The Podium web app on Gradio: the Chat tab, then every tab listed in :data:`TABS` (thin shells over views).

``build_app(podium)`` returns the Blocks; ``launch(...)`` serves it. Queueing is set on
purpose: chat turns share the ``chat`` concurrency group, uploads the ``ingest`` group
(one at a time: embedding is CPU-bound), and the light events (stop, new thread, thread
list, search, model choice) have no limit, so they never wait behind a model.

A tab is a ``ui/gradio_<x>.py`` with ``add_<x>_tab(podium, parts)``, listed once in
:data:`TABS` (or :data:`DEBUG_TABS`). It is called inside the tab set, lays out its own
``gr.Tab`` (or returns ``None`` to stay out), and ``parts`` is the Chat tab's
:class:`ui.gradio_chat.ChatParts` (chatbot, model, collection and the session ``gr.State``
holding ``thread_id``). What it returns may list ``on_load``: ``(fn, inputs, outputs)``
refreshed on every page load (choices laid out at build time go stale).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

# Gradio phones home for analytics and version checks unless told not to; Podium never uses the network.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - the environment above must be set before Gradio is imported

from podium.errors import ConfigError  # noqa: E402
from ui.gradio_chat import ChatParts, ChatTab  # noqa: E402
from ui.gradio_datasets import add_datasets_tab  # noqa: E402
from ui.gradio_debug import add_debug_tab  # noqa: E402
from ui.gradio_eval import add_eval_tab  # noqa: E402
from ui.gradio_finetune import add_finetune_tab  # noqa: E402
from ui.gradio_knowledge import GRAB_FOLDER_PATHS, add_knowledge_tab  # noqa: E402
from ui.gradio_models import add_models_tab  # noqa: E402
from ui.gradio_usage import add_usage_tab  # noqa: E402
from ui.session import ThreadBook  # noqa: E402

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
"""Limit of events that name no concurrency group (none of Podium's do; a safety net for plugins)."""
QUEUE_SIZE = 64
"""Events waiting at most; beyond this users are told the app is busy instead of waiting forever."""

MAX_UPLOAD = "100mb"
"""Largest upload Gradio accepts (the ingest refuses files over 50 MiB with a reason of its own)."""

CSS = """
#podium-chat .message-wrap sub { opacity: 0.7; }
footer { display: none !important; }
#podium-header h1 { margin: 0 0 2px 0; font-size: 1.5rem; }
#podium-header p { margin: 0; opacity: 0.8; }
/* Table headers wrap between words, never inside one ("archit ecture"). */
th .header-content .header, th .header { word-break: normal !important; overflow-wrap: normal !important; }
.podium-source summary { cursor: pointer; }
.podium-source blockquote { margin: 4px 0 8px 12px; font-size: 0.9em; white-space: normal; }
/* Phone width: the thread list goes above the chat, nothing scrolls sideways. */
@media (max-width: 700px) {
  #podium-chat-row { flex-direction: column !important; }
  #podium-chat-row > div { min-width: 0 !important; width: 100% !important; }
  #podium-chat { height: 60vh !important; }
  #podium-input-row { flex-wrap: wrap !important; }
  #podium-input-row > div:first-child { min-width: 100% !important; }
  body, gradio-app { overflow-x: hidden; }
}
"""
HEAD = """<script>
{GRAB_FOLDER_PATHS}
// Escape stops the running answer (as the Stop button does).
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape') return;
  const stop = document.querySelector('#podium-stop');
  if (stop && !stop.disabled) stop.click();
});
</script>""".replace("{GRAB_FOLDER_PATHS}", GRAB_FOLDER_PATHS)
"""Keyboard shortcuts the page adds (Enter and Shift+Enter are the message box's own)."""
HEADER = ("# Podium\nLocal-first agents on your own models: chat, your documents with sources, tools with your "
          "approval, datasets, evaluation and fine-tuning. Nothing leaves this machine unless you pick a remote model.")
"""The line at the top of every page."""

# System fonts only: the default theme would fetch Google Fonts, and Podium works offline.
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "monospace"])

AddTab = Callable[[Any, ChatParts], Any]
"""``add_<x>_tab(podium, parts)``: lays out one tab inside the tab set; returns its handlers (or ``None``)."""

TABS: tuple[AddTab, ...] = (
    add_knowledge_tab,
    add_datasets_tab,
    add_models_tab,
    add_eval_tab,
    add_finetune_tab,
    add_usage_tab,
)
"""The tabs after Chat, in order, in one visible place: a new tab is a ``ui/gradio_<x>.py`` and a line here."""
DEBUG_TABS: tuple[AddTab, ...] = (
    add_debug_tab,
)
"""Tabs added with ``--debug``."""


def build_app(podium: Any, *, debug: bool = False, auth: bool = False) -> gr.Blocks:
    """The whole web app for one :class:`graph.app.PodiumApp`, queued and ready to launch."""
    book = ThreadBook(podium.settings.data_dir / "ui_threads.sqlite")
    chat = ChatTab(podium, book=book, auth=auth)
    with gr.Blocks(title="Podium", analytics_enabled=False) as demo:
        gr.Markdown(HEADER, elem_id="podium-header")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat") as chat_tab:
                parts = chat.build(podium.settings)
            tabs = [add(podium, parts) for add in (*TABS, *(DEBUG_TABS if debug else ()))]
        light = {"api_name": False, "concurrency_limit": None, "show_progress": "hidden"}
        # Back on the Chat tab after a Debug run, replay or fork: show the thread's current branch.
        chat_tab.select(chat.sidebar.follow, [parts.session], [parts.chatbot, parts.session], **light)
        # Choices laid out at build time go stale (threads, models, collections made since, by the CLI
        # too), so each page load reads them afresh; the address may name a thread to reopen.
        for tab in (chat, *tabs):
            for fn, inputs, outputs in getattr(tab, "on_load", None) or []:
                demo.load(fn, inputs, outputs, **light)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def launch(podium: Any, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth: list[tuple[str, str]] | None = None, debug: bool = False, block: bool = True) -> gr.Blocks:
    """Serve the app; ``block=False`` returns once it is listening (tests, notebooks)."""
    demo = build_app(podium, debug=debug, auth=auth is not None)
    try:
        _launch(demo, host, port, share, auth, block)
    except OSError as exc:
        why = "the port is in use" if "empty port" in str(exc) else exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {why}", setting="--port",
                          hint="pick another port with --port, or stop what is using it") from None
    return demo


def _launch(demo: gr.Blocks, host: str, port: int, share: bool, auth: list[tuple[str, str]] | None,
            block: bool) -> None:
    demo.launch(server_name=host, server_port=port, share=share, auth=auth, theme=THEME, css=CSS, head=HEAD,
                max_file_size=MAX_UPLOAD, prevent_thread_lock=not block, show_error=False, quiet=False, ssr_mode=False,
                enable_monitoring=False, mcp_server=False, footer_links=[])
