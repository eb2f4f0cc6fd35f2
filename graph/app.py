"""The facade every front end uses: one process's models, ledger, checkpointer and graph.

``stream_turn`` runs one turn and yields :class:`Event` records (tokens, steps,
routing, notices) that the CLI, the Gradio app and the debugger all consume.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage

from agents.common import fit_to_context
from graph.checkpoint import latest_checkpoint_id, list_threads, open_checkpointer, rollback
from graph.context import Context
from graph.graph import SPECIALISTS, build_graph
from models.ledger import Ledger, summarize
from models.registry import ModelPool
from podium.errors import NotFoundError
from podium.settings import Settings

TOKEN_NODES = set(SPECIALISTS)
"""Nodes whose model tokens are part of the answer (the router's are not)."""


@dataclass
class Event:
    """One thing that happened during a turn, in order."""

    kind: str
    """``token``, ``step``, ``route``, ``notice``, ``interrupt`` or ``done``."""
    node: str = ""
    """The graph node it came from."""
    data: dict[str, Any] = field(default_factory=dict)
    """Kind-specific payload (``text`` for tokens and notices, ``update`` for steps...)."""
    t: float = field(default_factory=time.perf_counter)
    """When it happened (perf counter seconds)."""


@dataclass
class TurnResult:
    """The outcome of one turn, as ``podium ask --json`` prints it."""

    thread_id: str
    answer: str
    route: list[str]
    model: str
    usage: dict[str, Any]
    sources: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """One JSON object per turn."""
        return dict(self.__dict__)


class PodiumApp:
    """Owns the long-lived parts; cheap to call per turn, safe to share across threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models = ModelPool(settings)
        self.ledger = Ledger(settings.data_dir / "ledger.sqlite")
        self.checkpointer = open_checkpointer(settings)
        self.graph = build_graph(self.checkpointer)
        self.services: dict[str, Any] = {"specialists": dict(SPECIALISTS)}

    def context(self, thread_id: str, **overrides: Any) -> Context:
        """A fresh run context for one turn."""
        ctx = Context(settings=self.settings, models=self.models, ledger=self.ledger, thread_id=thread_id,
                      services=self.services)
        return replace(ctx, **{k: v for k, v in overrides.items() if v is not None})

    def thread_exists(self, thread_id: str) -> bool:
        """Whether a thread has been saved."""
        return latest_checkpoint_id(self.checkpointer, thread_id) is not None

    def require_thread(self, thread_id: str) -> None:
        """Raise a helpful error for a thread id that does not exist."""
        if not self.thread_exists(thread_id):
            raise NotFoundError("thread", thread_id, hint="list threads with `podium threads`, or omit --thread to start one")

    def preflight(self, ctx: Context, text: str) -> None:
        """Fail before touching the thread: bad model spec, missing key or file, oversize prompt."""
        for spec in {ctx.model_for(n) for n in SPECIALISTS} | set(ctx.fallbacks):
            self.models.spec(spec)
        spec = self.models.spec(ctx.model_for("chat"))
        model = self.models.model(spec.spec)
        minimal = [SystemMessage(ctx.system_prompt or self.settings.system_prompt), HumanMessage(text)]
        fit_to_context(model, minimal, spec.context_length - self.settings.max_tokens, model_name=spec.spec)

    def stream_turn(self, text: str, thread_id: str | None = None, **overrides: Any) -> Iterator[Event]:
        """Run one turn, yielding events; the last one is ``done`` with a :class:`TurnResult`."""
        if thread_id:
            self.require_thread(thread_id)
        thread_id = thread_id or uuid.uuid4().hex[:12]
        ctx = self.context(thread_id, **overrides)
        self.preflight(ctx, text)
        before = latest_checkpoint_id(self.checkpointer, thread_id)
        config = {"configurable": {"thread_id": thread_id}}
        route: list[str] = []
        try:
            for mode, chunk in self.graph.stream(
                {"messages": [HumanMessage(text)]}, config, context=ctx,
                stream_mode=["messages", "updates", "custom"],
            ):
                yield from self._events(mode, chunk, route)
        except BaseException:
            rollback(self.checkpointer, thread_id, before)
            raise
        yield Event("done", data={"result": self._result(thread_id, ctx, route)})

    def _events(self, mode: str, chunk: Any, route: list[str]) -> Iterator[Event]:
        if mode == "messages":
            message, meta = chunk
            node = meta.get("langgraph_node", "")
            if isinstance(message, AIMessageChunk) and message.content and node in TOKEN_NODES:
                yield Event("token", node, {"text": message.content})
        elif mode == "updates":
            for node, update in chunk.items():
                if node == "__interrupt__":
                    yield Event("interrupt", node, {"interrupts": [i.value for i in update]})
                    continue
                route.append(node)
                yield Event("step", node, {"update": update or {}})
        elif mode == "custom":
            yield Event(chunk.get("kind", "custom"), chunk.get("node", ""), chunk)

    def _result(self, thread_id: str, ctx: Context, route: list[str]) -> TurnResult:
        values = self.graph.get_state({"configurable": {"thread_id": thread_id}}).values
        last = values["messages"][-1] if values.get("messages") else None
        answer = last.text if last is not None and last.type == "ai" else ""
        calls = self.ledger.calls(turn=ctx.turn_id)
        model = next((c.model for c in reversed(calls) if c.outcome in ("ok", "retried")), ctx.model_for("chat"))
        return TurnResult(
            thread_id=thread_id,
            answer=answer if isinstance(answer, str) else str(answer),
            route=route,
            model=model,
            usage=summarize(calls),
            sources=values.get("sources", []),
            tool_calls=values.get("tool_calls", []),
            notices=values.get("notices", []),
        )

    def ask(self, text: str, thread_id: str | None = None, **overrides: Any) -> TurnResult:
        """Run one turn to the end and return its result."""
        result = None
        for event in self.stream_turn(text, thread_id, **overrides):
            if event.kind == "done":
                result = event.data["result"]
        assert result is not None
        return result

    def threads(self) -> list[Any]:
        """Saved threads, newest first."""
        return list_threads(self.checkpointer)

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        """The messages of a thread as ``{role, content}`` dicts."""
        self.require_thread(thread_id)
        values = self.graph.get_state({"configurable": {"thread_id": thread_id}}).values
        roles = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
        return [{"role": roles.get(m.type, m.type), "content": m.text if isinstance(m.text, str) else str(m.content)}
                for m in values.get("messages", [])]
