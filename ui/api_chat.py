"""Running one chat completion: a Podium turn (``model: "podium"``) or a direct call of any registry model.

Each completion runs in a worker thread of its own (LangGraph's sync stream keeps its context
in the thread that runs it) and hands what it produces to the event loop through a queue:
``("token", text)``, ``("retract", chars)``, ``("event", payload)``, then ``("done", Outcome)``
or ``("error", exc)``. Setting ``stop`` (the client went away) ends the turn at its next
token: it is rolled back like the Stop button, and the calls it made stay in the ledger.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from agents.contract import TurnOptions
from graph.app import PodiumApp
from graph.debug import jsonable
from models import routing
from models.call import CallSite
from models.ledger import summarize
from models.tokens import count_tokens
from podium.errors import PodiumError
from ui.api_render import Outcome, conversation, openai_tool_calls, to_langchain
from ui.api_schemas import ChatRequest
from ui.fold import TurnFold
from ui.session import StopSignal

PODIUM = "podium"
"""The model name that runs the conductor graph with its specialists."""
DIRECT_NODE = "api"
"""The ledger's node name for direct model calls."""


@dataclass
class Job:
    """One completion in flight: its queue, stop event and the ids it bills to."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    stop: threading.Event = field(default_factory=threading.Event)
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    thread_id: str = ""
    streaming: bool = True
    """Whether tokens and events are wanted (a whole answer needs only its end: fewer wake-ups of the loop)."""
    user: str | None = None
    """The API key's user: the turn reads their knowledge collections (``None``: no keys, the local operator)."""

    @staticmethod
    def new_thread() -> str:
        """A fresh thread id, as ``podium ask`` makes them."""
        return uuid.uuid4().hex[:12]

    def put(self, kind: str, value: Any) -> None:
        """Hand an item to the event loop (from the worker thread)."""
        if self.streaming or kind in ("done", "error"):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))

    def start(self, work: Callable[[Job], Outcome], on_end: Callable[[Job], None]) -> None:
        """Run ``work`` in a worker thread; ``on_end`` runs there afterwards, whatever happened, before the end
        is announced."""
        def main() -> None:
            # Settled before the client hears the end, so its next request sees this one's spend.
            try:
                outcome: tuple[str, Any] = ("done", work(self))
            except BaseException as exc:  # noqa: BLE001 - every failure is reported to the client
                outcome = ("error", exc)
            try:
                on_end(self)
            finally:
                self.put(*outcome)
        threading.Thread(target=main, name=f"podium-api-{self.turn_id[:8]}", daemon=True).start()


class TokenTap(BaseCallbackHandler):
    """Streams a direct call's tokens into its job; a retried attempt first takes back the failed one's text."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.shown = 0

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, **kwargs: Any) -> None:
        """A new attempt: what the previous one streamed is void."""
        if self.shown:
            self.job.put("retract", self.shown)
            self.shown = 0

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> None:
        """Pass a token on."""
        if isinstance(token, str) and token:
            self.shown += len(token)
            self.job.put("token", token)


def run_podium(podium: PodiumApp, request: ChatRequest, job: Job, strategy: str) -> Outcome:
    """A conductor turn on ``job.thread_id`` (created with the request's earlier messages when new)."""
    options = request.podium
    system, earlier, question = conversation(request.messages)
    callbacks = [StopSignal(job.stop)]
    if options and options.decision is not None:
        events = podium.resume(job.thread_id, options.decision, callbacks=callbacks, multitask=strategy,
                               stop=job.stop, turn_id=job.turn_id, options=TurnOptions(user=job.user))
    else:
        turn = TurnOptions(system_prompt=system, model=(options.model if options else None) or "",
                           collection=options.collection if options else None,
                           fallbacks=options.fallbacks if options else None,
                           policy=(options.policy if options else None) or "", user=job.user)
        events = podium.stream_turn(question, job.thread_id, turn, create=True, history=earlier, multitask=strategy,
                                    stop=job.stop, callbacks=callbacks, turn_id=job.turn_id)
    fold = TurnFold()
    for event in events:
        fold.apply(event)
        if event.kind == "token":
            job.put("token", event.data.get("text", ""))
        elif event.kind == "retract":
            job.put("retract", int(event.data.get("chars", 0)))
        elif event.kind in ("step", "notice", "interrupt", "plan"):
            job.put("event", _payload(event.kind, event.node, event.data))
    result = fold.result
    assert result is not None, "a turn's events end with its result"
    text = fold.final
    if result.pending and not text:
        names = ", ".join(str(p.get("name")) for p in result.pending)
        text = f"[waiting for approval of {names}: send podium.decision approve, reject or edit]"
    steps = [_payload("step", node, {"update": update}) for node, update in fold.steps]
    return Outcome(text=text, prompt_tokens=result.usage.get("prompt_tokens") or 0,
                   completion_tokens=result.usage.get("completion_tokens") or 0, model=result.model,
                   extension={"thread_id": result.thread_id, "route": result.route, "model": result.model,
                              "steps": steps, "tool_calls": jsonable(result.tool_calls),
                              "sources": jsonable(result.sources), "notices": result.notices,
                              "pending": jsonable(result.pending), "plan": jsonable(result.plan),
                              "cost_usd": result.usage.get("cost_usd")})


def estimate_usd(podium: PodiumApp, request: ChatRequest) -> float:
    """A request's worst-case cost, held against its key's budget while it runs: its prompt plus every token the
    answer may use, at the dearest model it may reach (a ``podium`` turn: any model its specialists use)."""
    options, settings = request.podium, podium.settings
    fallbacks = options.fallbacks if options and options.fallbacks is not None else settings.fallbacks
    if request.model == PODIUM:
        primary = (options.model if options else None) or settings.model
        names = [primary, *fallbacks, *settings.agent_models.values(), settings.router_model or primary]
        limit = settings.max_tokens
    else:
        names, limit = routing.chain(request.model, fallbacks), request.limit() or settings.max_tokens
    prompt = sum(count_tokens(m.text()) + 4 for m in request.messages)
    costs = [0.0]
    for name in dict.fromkeys(names):
        try:
            costs.append(podium.models.spec(name).cost(prompt, limit))
        except PodiumError:
            continue  # a model that cannot be resolved is not called (the request fails on it, or falls back)
    return max(costs)


def _payload(kind: str, node: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event as the extension chunk shows it: kind, node and a JSON-ready summary."""
    if kind == "step":
        update = data.get("update") or {}
        summary = {k: v for k, v in update.items() if k != "messages"} if isinstance(update, dict) else {}
        return {"kind": "step", "node": node, "update": jsonable(summary)}
    if kind == "notice":
        return {"kind": "notice", "node": node, "text": data.get("text", "")}
    if kind == "plan":
        return {"kind": "plan", "node": node, "plan": jsonable(data.get("plan") or [])}
    return {"kind": kind, "node": node, "data": jsonable(data)}


def run_direct(podium: PodiumApp, request: ChatRequest, job: Job) -> Outcome:
    """One model called directly, through routing, fallbacks and the ledger."""
    options = request.podium
    fallbacks = options.fallbacks if options and options.fallbacks is not None else podium.settings.fallbacks
    site = CallSite(node=DIRECT_NODE, models=routing.chain(request.model, fallbacks),
                    policy=(options.policy if options else None) or "", thread=job.thread_id, turn=job.turn_id)
    call_options: dict[str, Any] = {"config": {"callbacks": [StopSignal(job.stop), TokenTap(job)]}}
    for name, value in (("temperature", request.temperature), ("max_tokens", request.limit()),
                        ("stop", request.stop), ("top_p", request.top_p), ("seed", request.seed)):
        if value is not None:
            call_options[name] = value
    if request.tools:
        call_options["tools"] = [t.model_dump(exclude_none=True) for t in request.tools]
        if request.tool_choice is not None:
            call_options["tool_choice"] = request.tool_choice
    schema = None
    if request.response_format and request.response_format.get("type") == "json_schema":
        schema = request.response_format["json_schema"]["schema"]
    elif request.response_format and request.response_format.get("type") == "json_object":
        schema = {"type": "object"}
    reply = podium.engine.call(site, to_langchain(request.messages), schema=schema, **call_options)
    calls = podium.ledger.calls(turn=job.turn_id)
    usage = summarize(calls)
    answered = next((c.model for c in reversed(calls) if c.outcome == "ok"), request.model)
    finish = "tool_calls" if reply.tool_calls else reply.response_metadata.get("finish_reason") or "stop"
    return Outcome(text=reply.text, tool_calls=openai_tool_calls(reply.tool_calls), finish_reason=finish,
                   prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
                   model=answered, extension={"model": answered, "cost_usd": usage["cost_usd"],
                                              "outcomes": usage["outcomes"]})
