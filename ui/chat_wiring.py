"""The Chat tab's events, in one place: which handler each control runs, with what, into what.

Turns (send, examples, regenerate, edit, approvals) share the ``chat`` concurrency group; the
light events (stop, new thread, the thread list and its actions) have no limit, so they never
wait behind a model. Leaving a thread mid-turn stops the turn and cancels its pending updates,
so a late answer cannot land in the next thread.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.gradio_events import PRIVATE

CHAT_CONCURRENCY = 4
"""Turns generating at once. Local models still answer one at a time (they share one locked
llama.cpp instance); remote models really run in parallel. Other UI events never wait on these."""
LIGHT: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}
"""Options of events that never wait behind a model."""


def wire(tab: Any, *, session: Any, chatbot: Any, message: Any, send: Any, model: Any, collection: Any,
         current: Any, side: dict[str, Any]) -> None:
    """Connect the Chat tab's controls to ``tab``'s handlers (a :class:`ui.gradio_chat.ChatTab`)."""
    sidebar, panel = tab.sidebar, tab.approvals.components()
    heavy = {"concurrency_id": "chat", "concurrency_limit": CHAT_CONCURRENCY, "show_progress": "minimal"}
    listing = [sidebar.radio, sidebar.empty]
    outputs = [chatbot, session, message, *listing, tab.stop_button, current, *panel]
    settings = tab.settings.inputs
    turn = gr.on([message.submit, send.click], tab.send, [message, session], [message, chatbot, session],
                 api_name="send", **LIGHT).success(
        tab.generate, [session, model, collection, *settings], outputs, api_name="generate", **heavy)
    example = chatbot.example_select(_example, None, [message], **PRIVATE, **LIGHT).then(
        tab.send, [message, session], [message, chatbot, session], **PRIVATE, **LIGHT).success(
        tab.generate, [session, model, collection, *settings], outputs, **PRIVATE, **heavy)
    fork_inputs = [session, model, collection, *settings]
    regenerate = chatbot.retry(tab.regenerate, fork_inputs, outputs, api_name="regenerate", **heavy)
    edit = chatbot.edit(tab.edit, fork_inputs, outputs, api_name="edit", **heavy)
    runs = [turn, example, regenerate, edit]
    assert tab.stop_button is not None
    tab.stop_button.click(tab.stop, None, None, api_name="stop", **LIGHT)
    side["new"].click(tab.new_thread, [side["search"]],
                      [chatbot, session, *listing, message, collection, current, *panel],
                      api_name="new_thread", cancels=runs, **LIGHT)
    sidebar.radio.input(tab.stop, None, None, **PRIVATE, cancels=runs, **LIGHT).then(
        sidebar.open, [sidebar.radio], [chatbot, session, message, current, *panel], api_name="open_thread",
        **LIGHT)
    side["search"].change(sidebar.listing, [session, side["search"]], listing, api_name="threads",
                          trigger_mode="always_last", **LIGHT)
    gr.on([side["rename"].click, side["title"].submit], sidebar.rename, [side["title"], session, side["search"]],
          [*listing, side["title"]], api_name="rename_thread", **LIGHT)
    side["delete"].click(sidebar.delete, [session, side["search"]], [chatbot, session, *listing, current],
                         api_name="delete_thread", js=_confirm(), cancels=runs, **LIGHT)
    for kind in ("md", "json"):
        side[f"as_{kind}"].click(_exporter(tab, kind), [session], [side["download"]], api_name=f"export_{kind}",
                                 **LIGHT)
    tab.approvals.wire(tab._decider, [session], outputs, api_prefix="tool_", **heavy)


def on_load(tab: Any, session: Any, chatbot: Any, message: Any, current: Any, search: Any,
            model: Any) -> list[tuple[Any, list[Any] | None, list[Any]]]:
    """What every page load refreshes: the thread list, the model picker, and the thread in the address."""
    panel = tab.approvals.components()
    return [(tab.sidebar.listing, [session, search], [tab.sidebar.radio, tab.sidebar.empty]),
            (tab.model_picker, None, [model]),
            (tab.sidebar.from_link, [session], [chatbot, session, message, current, *panel])]


def _example(evt: gr.SelectData) -> str:
    """An example prompt picked in the empty chat goes into the message box (then it is sent)."""
    value = evt.value
    return value.get("text", "") if isinstance(value, dict) else str(value or "")


def _exporter(tab: Any, kind: str) -> Any:
    def export(session: dict[str, Any], request: gr.Request) -> str:
        return tab.sidebar.export(kind, session, request)

    export.__name__ = f"export_{kind}"
    return export


def _confirm() -> str:
    from ui.gradio_threads import CONFIRM_DELETE

    return CONFIRM_DELETE
