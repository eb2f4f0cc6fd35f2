"""The Usage tab: the cost ledger in the app, per model, node, thread, provider or day, with tokens and cost
per day as plots. Its numbers are ``podium usage``'s (the same ``Ledger.totals``); with ``--auth`` a user
sees the calls of their own threads only."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from podium.errors import PodiumError
from ui.cli_usage import parse_since
from ui.gradio_events import PRIVATE
from ui.usage_view import BY, USAGE_HEADERS, daily_series, summary, usage_rows

ALL_THREADS = ("All threads", "")
"""The thread picker's first choice."""


class UsageTab:
    """Handlers of the Usage tab (plain methods, so tests call them without a server)."""

    def __init__(self, podium: Any, chat: Any) -> None:
        self.podium = podium
        self.chat = chat
        """The Chat tab's handlers: which threads this user may see."""
        self.outputs: list[Any] = []
        self.inputs: list[Any] = []

    @property
    def on_load(self) -> list[tuple[Any, Any, list[Any]]]:
        """Refreshed on every page load (calls made since, by the CLI too)."""
        return [(self.show, self.inputs, self.outputs)] if self.outputs else []

    def _threads(self, request: gr.Request | None) -> list[str] | None:
        """The threads whose calls this user may see (``None``: all of them, a local single-user app)."""
        return [t.thread_id for t in self.chat.sidebar.visible(request)] if self.chat.auth else None

    def show(self, by: str, since: str, thread: str | None, request: gr.Request) -> tuple[Any, ...]:
        """The summary line, the table, both plots and the thread picker, for the chosen grouping and window."""
        by = by if by in BY else "model"
        try:
            start = parse_since(since) if (since or "").strip() else None
        except PodiumError as exc:
            gr.Warning(exc.one_line().replace("--since: ", "Since: "), duration=8)
            return (gr.skip(),) * 5
        allowed = self._threads(request)
        if thread and allowed is not None and thread not in allowed:
            thread = ""
        ledger = self.podium.ledger
        groups = ledger.totals(by=by, since=start, thread=thread or None, threads=allowed)
        days = groups if by == "day" else ledger.totals(by="day", since=start, thread=thread or None, threads=allowed)
        tokens, cost = daily_series(days)
        scope = (f"in thread {thread}" if thread else "in your threads" if allowed is not None else "in all threads")
        scope += f" since {since.strip()}" if start else ""
        table = gr.Dataframe(value=usage_rows(groups, by), headers=[by, *USAGE_HEADERS])
        picker = gr.Dropdown(choices=[ALL_THREADS, *self._thread_choices(request)])
        return (summary(groups, scope), table, pd.DataFrame(tokens, columns=["day", "kind", "tokens"]),
                pd.DataFrame(cost, columns=["day", "cost_usd"]), picker)

    def _thread_choices(self, request: gr.Request | None) -> list[tuple[str, str]]:
        titles = self.chat.book.titles()
        return [(f"{titles.get(t.thread_id) or t.title} · {t.thread_id}", t.thread_id)
                for t in self.chat.sidebar.visible(request)[:200]]

    def build(self) -> None:
        """Lay out the tab (inside an open ``gr.Tab``) and wire its events."""
        gr.Markdown("Every model call Podium made, from the cost ledger: the same totals as `podium usage`. "
                    "Local models are free; a remote model without a price shows **unknown**, never $0.")
        with gr.Row():
            by = gr.Radio(list(BY), value="model", label="Group by", elem_id="podium-usage-by", scale=2)
            since = gr.Textbox(label="Since", placeholder="all time, or 1h, 2d, 1w, 2025-01-31", scale=1,
                               elem_id="podium-usage-since")
            thread = gr.Dropdown([ALL_THREADS], value="", label="Thread", scale=2, elem_id="podium-usage-thread")
            refresh = gr.Button("↻ Refresh", size="sm", scale=0, elem_id="podium-usage-refresh")
        line = gr.Markdown(elem_id="podium-usage-summary")
        table = gr.Dataframe(headers=["model", *USAGE_HEADERS], interactive=False, wrap=True,
                             elem_id="podium-usage-table")
        with gr.Row():
            tokens = gr.BarPlot(x="day", y="tokens", color="kind", title="Tokens per day", y_title="tokens",
                                x_title="day", elem_id="podium-usage-tokens")
            cost = gr.BarPlot(x="day", y="cost_usd", title="Cost per day (USD, priced calls)",
                              elem_id="podium-usage-cost", y_title="USD", x_title="day")
        self.inputs, self.outputs = [by, since, thread], [line, table, tokens, cost, thread]
        light = {"concurrency_limit": None, "show_progress": "hidden"}
        gr.on([by.change, since.submit, thread.input, refresh.click], self.show, self.inputs, self.outputs,
              api_name="usage", **light)


def add_usage_tab(podium: Any, parts: Any) -> UsageTab:
    """Add the Usage tab (inside ``gr.Tabs``)."""
    tab = UsageTab(podium, parts.chat)
    with gr.Tab("Usage", id="usage") as usage:
        tab.build()
    usage.select(tab.show, tab.inputs, tab.outputs, **PRIVATE, concurrency_limit=None, show_progress="hidden")
    return tab
