"""LangGraph Studio and ``langgraph dev``: the graph with :class:`TurnOptions` as its context schema.

Studio shows a run's context as a form of plain fields, so it gets the turn's options;
every node of such a run receives a full :class:`Context` built from the ``PODIUM_*``
environment, as for ``podium ask``. ``langgraph.json`` points here.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.config import get_config
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agents.contract import Context, State, TurnOptions
from graph.app import PodiumApp
from graph.graph import build_graph
from podium.settings import load_settings

MAX_TURNS = 64
"""Contexts kept for turns in flight (the oldest is dropped first)."""


class _Turns:
    """The process-wide PodiumApp behind Studio runs, and the Context of each turn."""

    def __init__(self) -> None:
        self.app: PodiumApp | None = None
        self.contexts: dict[str, Context] = {}
        self.lock = threading.Lock()

    def context(self, state: State, given: Any) -> Context:
        """A full Context for a turn run by LangGraph's server, built from ``PODIUM_*`` once per turn.

        A turn is the thread plus its latest user message: every node of the turn (and a resume
        after an approval) shares one Context, so its ledger rows share one turn id.
        """
        thread = str(get_config().get("configurable", {}).get("thread_id") or "studio")
        asked = next((m.id for m in reversed(state.get("messages", [])) if isinstance(m, HumanMessage)), None)
        options = given if isinstance(given, TurnOptions) else TurnOptions()
        # A re-run with other options is a new turn.
        key = f"{thread}/{asked}/{json.dumps(options.to_dict(), sort_keys=True)}"
        with self.lock:
            if key not in self.contexts:
                if self.app is None:
                    self.app = PodiumApp(load_settings())
                while len(self.contexts) >= MAX_TURNS:
                    self.contexts.pop(next(iter(self.contexts)))
                self.contexts[key] = self.app.context(thread, options)
            return self.contexts[key]


_TURNS = _Turns()


def _podium_context(node: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``node`` a full Podium Context when the run came with Studio's plain options (or none)."""
    @functools.wraps(node)
    def run(state: State, runtime: Runtime[Any]) -> Any:
        if not isinstance(runtime.context, Context):
            runtime = runtime.override(context=_TURNS.context(state, runtime.context))
        return node(state, runtime)

    return run


def make_graph() -> CompiledStateGraph:
    """Entry point for LangGraph's CLI and Studio (``langgraph.json``); they bring their own checkpointer."""
    return build_graph(context_schema=TurnOptions, wrap=_podium_context)
