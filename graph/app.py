"""The facade every front end uses: one process's models, ledger, checkpointer and graph.

``stream_turn`` runs one turn and yields :class:`Event` records (tokens, steps,
routing, notices) that the CLI, the Gradio app and the debugger all consume.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StreamMode

from agents.common import check_fit
from agents.contract import Context, Specialist, TurnOptions
from agents.planner import public
from agents.registry import SPECIALISTS
from agents.router import build_router
from graph.checkpoint import describer, latest_checkpoint_id, open_checkpointer, rollback
from graph.graph import build_graph
from graph.locks import ThreadLocks, TurnSuperseded, check_strategy
from graph.threads import ThreadIndex, describe, history_rows
from graph.unfinished import Unfinished, close_interrupted_calls, discard, saved_turn, unfinished, waiting_names
from memory.access import scoped
from memory.store import KnowledgeBase
from models.call import ModelCaller
from models.ledger import open_ledger, summarize
from models.registry import ModelPool
from models.routing import check as check_routing
from podium.errors import ConfigError, NotFoundError, PodiumError
from podium.settings import Settings
from tools import ToolEnv, select
from tools.approval import check_decision


@dataclass
class Event:
    """One thing that happened during a turn, in order."""

    kind: str
    """``token``, ``retract`` (drop the last ``chars`` streamed: a failed attempt's, the retry streams
    again), ``step``, ``route``, ``notice``, ``interrupt`` or ``done``; with ``trace=True`` also
    ``task`` (a node starting or finishing) and ``checkpoint`` (a checkpoint saved)."""
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
    paused_before: list[str] = field(default_factory=list)
    """Nodes the thread stopped before (a breakpoint or a pending approval); empty when the turn ended."""
    pending: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls waiting for approval (``{id, name, args, question}``); answer with :meth:`PodiumApp.resume`."""
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    """Files the turn produced (``{"kind": "dataset", "path", ...}``)."""
    plan: list[dict[str, Any]] = field(default_factory=list)
    """The turn's plan when it took several steps: ``{step, specialist, input, status, output, ...}`` each."""

    def to_dict(self) -> dict[str, Any]:
        """One JSON object per turn."""
        return dict(self.__dict__)


class PodiumApp:
    """Owns the long-lived parts; cheap to call per turn, safe to share across threads."""

    def __init__(self, settings: Settings, *, specialists: tuple[Specialist, ...] = SPECIALISTS) -> None:
        self.settings = settings
        self.specialists = specialists
        """The registry the graph is built from (:data:`agents.registry.SPECIALISTS` unless a test brings its own)."""
        self.models = ModelPool(settings)
        self.ledger = open_ledger(settings)
        self.ledger.close_stale()  # calls left "running" by processes of this machine that died mid-call
        self.engine = ModelCaller(settings, self.models, self.ledger)
        self.locks = ThreadLocks(settings)
        # Constructing it opens nothing: Chroma and the embedder load on the first knowledge turn.
        self.knowledge = KnowledgeBase(settings)
        self.tools = ToolEnv.from_settings(settings, knowledge=self.knowledge)
        self.checkpointer = open_checkpointer(settings)
        self.thread_index = ThreadIndex.open(settings)
        self.graph = build_graph(self.checkpointer, specialists=specialists)
        # Routing by meaning over the specialists' examples: its embedder loads on the first message no rule decides.
        self.router = build_router(settings, {s.name: s.examples for s in specialists})
        self.token_nodes = {s.name for s in specialists if s.tokens}
        """Nodes whose model tokens are part of the answer (the router's are not)."""

    def context(self, thread_id: str, options: TurnOptions | None = None, *, turn_id: str | None = None) -> Context:
        """A fresh run context for one turn: the process's collaborators and the turn's options."""
        defaults = TurnOptions(fallbacks=list(self.settings.fallbacks))
        merged = defaults.merged(options)
        # A signed-in user's turn reads only their knowledge and what was shared with them, tools included.
        knowledge = scoped(self.knowledge, merged.user)
        tools = self.tools if knowledge is self.knowledge else replace(self.tools, knowledge=knowledge)
        ctx = Context(settings=self.settings, engine=self.engine, ledger=self.ledger, knowledge=knowledge,
                      tools=tools, specialists=self.specialists, router=self.router, options=merged,
                      thread_id=thread_id)
        if turn_id:
            ctx.turn_id = turn_id
        return ctx

    def thread_exists(self, thread_id: str) -> bool:
        """Whether a thread has been saved."""
        return latest_checkpoint_id(self.checkpointer, thread_id) is not None

    def require_thread(self, thread_id: str) -> None:
        """Raise a helpful error for a thread id that does not exist."""
        if not self.thread_exists(thread_id):
            hint = "list threads with `podium threads`, or omit --thread to start one"
            raise NotFoundError("thread", thread_id, hint=hint)

    def preflight(self, ctx: Context, text: str) -> None:
        """Fail before touching the thread: bad model spec or routing setting, missing key or file, oversize prompt."""
        options = ctx.options
        check_routing(self.settings, self.models, model=options.model, fallbacks=ctx.fallbacks,
                      agent_models=options.agent_models, policy=options.policy, nodes=self.graph.nodes)
        for spec in {ctx.model_for(s.name) for s in self.specialists}:
            self.models.spec(spec)
        minimal = [SystemMessage(options.system_prompt or self.settings.system_prompt), HumanMessage(text)]
        check_fit(ctx, "chat", minimal)  # too long for every model in the chain; else call_model escalates
        if ctx.collection and ctx.knowledge is not None:
            ctx.knowledge.collection(ctx.collection)  # unknown (to this user) or wrong embedder: say so now

    def node_names(self) -> list[str]:
        """The graph's nodes, the choices for breakpoints."""
        return sorted(n for n in self.graph.nodes if not n.startswith("__"))

    def check_breakpoints(self, nodes: list[str] | None) -> list[str]:
        """Validate breakpoint node names, raising a one-line error that lists the valid ones."""
        for node in nodes or []:
            if node not in self.graph.nodes or node.startswith("__"):
                raise ConfigError(f"no node {node!r} to break before", setting="break_before",
                                  hint=f"choose from: {', '.join(self.node_names())}")
        return list(nodes or [])

    def stream_turn(self, text: str, thread_id: str | None = None, options: TurnOptions | None = None, *,
                    callbacks: list[Any] | None = None, break_before: list[str] | None = None,
                    trace: bool = False, multitask: str = "enqueue", create: bool = False,
                    history: list[BaseMessage] | None = None, stop: threading.Event | None = None,
                    turn_id: str | None = None, interrupted: str = "discard") -> Iterator[Event]:
        """Run one turn, yielding events; the last one is ``done`` with a :class:`TurnResult`.

        ``options`` are the turn's knobs (model, fallbacks, policy, collection...). ``callbacks`` are
        LangChain callback handlers for the run (the web UI's stop button
        is one that raises on the next token). ``break_before`` pauses the thread before those
        nodes (continue with :meth:`resume`); ``trace`` adds ``task``/``checkpoint`` events.
        ``multitask`` says what to do when another turn is running on the thread (see
        :mod:`graph.locks`); ``stop`` abandons waiting for it. ``create`` starts ``thread_id``
        when it does not exist yet, with ``history`` (earlier messages) before the question.
        ``turn_id`` names the turn's ledger rows (default: a fresh id). ``interrupted`` says what to
        do when the thread's last turn was cut off by a process that died: ``discard`` it (with a
        notice), or ``refuse`` the message and say how to resume or discard it (:mod:`graph.unfinished`).
        """
        self.check_breakpoints(break_before)
        check_strategy(multitask)
        if thread_id and not create:
            self.require_thread(thread_id)
        thread_id = thread_id or uuid.uuid4().hex[:12]
        ctx = self.context(thread_id, options, turn_id=turn_id)
        self.preflight(ctx, text)

        def run(extra: list[Any]) -> Iterator[Event]:
            # Read under the lock: the turn before may have just added to the thread (or paused it).
            self._require_idle(thread_id)
            earlier = [] if self.thread_exists(thread_id) else list(history or [])
            yield from self._run({"messages": [*earlier, HumanMessage(text)]}, ctx,
                                 callbacks=[*(callbacks or []), *extra], break_before=break_before, trace=trace)
        yield from self._locked(thread_id, multitask, stop, run, question=text, interrupted=interrupted)

    def _locked(self, thread_id: str, multitask: str, stop: threading.Event | None,
                run: Any, *, question: str | None = None, interrupted: str = "discard") -> Iterator[Event]:
        """Run ``run([turn_callback])`` as the thread's only writer; keep an interrupted turn's words."""
        waited = time.perf_counter()
        with self.locks.hold(thread_id, multitask, stop=stop) as turn:
            waited = time.perf_counter() - waited
            if waited > 0.5:
                yield Event("notice", data={"text": f"thread {thread_id} was busy; this turn waited {waited:.1f}s"})
            cut = self.locks.begin(thread_id, latest_checkpoint_id(self.checkpointer, thread_id))
            if cut is not False:  # the process of an earlier turn died mid-turn (a killed replica)
                close_interrupted_calls(self, thread_id)
                if interrupted == "discard":  # undo its half
                    rollback(self.checkpointer, thread_id, cut)
                    self.locks.begin(thread_id, latest_checkpoint_id(self.checkpointer, thread_id))
                    yield Event("notice", data={"text": "a turn cut off when its process died was rolled back"})
                else:  # resumed (or refused): a resume killed in turn still rolls back to before it all
                    self.locks.begin(thread_id, cut)
            shown = ""
            try:
                for event in run([turn]):
                    if event.kind == "token":
                        shown += event.data.get("text", "")
                    elif event.kind == "retract":
                        shown = shown[: max(len(shown) - int(event.data.get("chars", 0)), 0)]
                    yield event
            except TurnSuperseded as exc:
                if exc.strategy == "interrupt" and question is not None:
                    self._keep_interrupted(thread_id, question, shown)
                raise
            finally:
                self.locks.end(thread_id)

    def _keep_interrupted(self, thread_id: str, question: str, partial: str) -> None:
        """Save an interrupted turn's question and the words it had streamed, marked, on its thread."""
        answer = f"{partial.rstrip()} [interrupted]".lstrip()
        self.graph.update_state({"configurable": {"thread_id": thread_id}},
                                {"messages": [HumanMessage(question), AIMessage(answer)]}, as_node="chat")

    def _require_idle(self, thread_id: str) -> None:
        """Refuse a new message on a thread whose turn did not end: the unfinished turn would be lost unanswered
        (and a tool call left without its result, which remote providers reject)."""
        state = self.unfinished(thread_id)
        if state is not None:
            raise state.error(thread_id)

    def unfinished(self, thread_id: str) -> Unfinished | None:
        """How the thread's last turn stands when it did not end (approval, paused, interrupted), else ``None``."""
        return unfinished(self, thread_id)

    def discard(self, thread_id: str, *, multitask: str = "enqueue") -> Unfinished:
        """Remove the thread's unfinished last turn, question included; returns what was discarded."""
        return discard(self, thread_id, multitask=multitask)

    def resume(self, thread_id: str, decision: Any = None, *, command: Any = None, checkpoint_id: str | None = None,
               break_before: list[str] | None = None, trace: bool = False, callbacks: list[Any] | None = None,
               options: TurnOptions | None = None, multitask: str = "enqueue",
               stop: threading.Event | None = None, turn_id: str | None = None) -> Iterator[Event]:
        """Continue a paused thread, yielding events like :meth:`stream_turn`.

        Without ``command`` it continues from a breakpoint (the turn's options, breakpoints and
        ledger turn are read back from the checkpoint, so this works in a new process; ``options``
        given here go on top);
        ``command`` (a LangGraph ``Command``) answers a pending interrupt. With
        ``checkpoint_id`` it re-runs the thread from that past checkpoint as a new branch.
        ``decision`` answers pending tool approvals: ``"approve"``, ``"reject"`` or
        ``{"action": "edit", "args": {...}}`` (validated first, so a bad edit changes nothing).
        """
        self.require_thread(thread_id)
        yield from self._locked(thread_id, check_strategy(multitask), stop, lambda extra: self._resume(
            thread_id, decision, command=command, checkpoint_id=checkpoint_id, break_before=break_before,
            trace=trace, callbacks=[*(callbacks or []), *extra], options=options, turn_id=turn_id),
            interrupted="resume")

    def _resume(self, thread_id: str, decision: Any = None, *, command: Any = None, checkpoint_id: str | None = None,
                break_before: list[str] | None = None, trace: bool = False, callbacks: list[Any] | None = None,
                options: TurnOptions | None = None, turn_id: str | None = None) -> Iterator[Event]:
        configurable = {"thread_id": thread_id, **({"checkpoint_id": checkpoint_id} if checkpoint_id else {})}
        snapshot = self.graph.get_state({"configurable": configurable})
        if not snapshot.next:
            raise PodiumError(f"thread {thread_id!r} has nothing to resume at this checkpoint",
                              hint="it finished its turn; continue it with `podium ask --thread`")
        waiting = [] if checkpoint_id else list(snapshot.interrupts)
        if decision is not None:
            command = command or self._decide(thread_id, waiting, decision)
        elif waiting and command is None:
            raise PodiumError(f"thread {thread_id!r} is waiting for your approval of {waiting_names(waiting)}",
                              hint=f"podium resume {thread_id} --approve | --reject | --edit JSON")
        saved = saved_turn(self, snapshot)
        saved_options = TurnOptions.from_dict(saved).merged(options)
        breaks = self.check_breakpoints(saved.get("break_before") if break_before is None else break_before)
        # A replay is a new run with its own ledger turn; a resume goes on with the turn it continues.
        ctx = self.context(thread_id, saved_options,
                           turn_id=turn_id or (None if checkpoint_id else saved.get("turn_id")))
        yield from self._run(command, ctx, checkpoint_id=checkpoint_id, callbacks=callbacks, break_before=breaks,
                             trace=trace)

    def _decide(self, thread_id: str, waiting: list[Any], decision: Any) -> Command:
        """A resume command giving ``decision`` to every pending approval, validated first."""
        if not waiting:
            raise PodiumError(f"thread {thread_id!r} has no tool call waiting for approval",
                              hint=f"continue it from its breakpoint with `podium resume {thread_id}`")
        try:
            allowed = select(dict.fromkeys(t for s in self.specialists for t in s.tools))
            return Command(resume={i.id: check_decision(i.value, decision, allowed) for i in waiting})
        except ValueError as exc:
            raise PodiumError(f"invalid decision: {exc}", hint="use --approve, --reject or --edit '{...}'") from None

    def _run(self, graph_input: Any, ctx: Context, *, checkpoint_id: str | None = None,
             callbacks: list[Any] | None = None, break_before: list[str] | None = None,
             trace: bool = False) -> Iterator[Event]:
        thread_id = ctx.thread_id
        before = latest_checkpoint_id(self.checkpointer, thread_id)
        # Checkpoint metadata keeps the turn's options, so a resume in another process runs it the same way.
        turn = {**ctx.options.to_dict(), "turn_id": ctx.turn_id, "break_before": break_before or []}
        # podium_run_started: when this run began, so a step after a pause is not timed from the pause.
        config: RunnableConfig = {"configurable": {"thread_id": thread_id},
                                  "metadata": {"podium_turn": json.dumps(turn), "podium_run_started": time.time()}}
        if checkpoint_id:
            config["configurable"]["checkpoint_id"] = checkpoint_id
        if callbacks:
            config["callbacks"] = callbacks
        modes: list[StreamMode] = ["messages", "updates", "custom"]
        if trace:
            modes += ["tasks", "checkpoints"]
        route: list[str] = []
        notices: list[str] = []  # every notice of the turn (routing, budget, fallbacks), not only the state's
        try:
            for mode, chunk in self.graph.stream(graph_input, config, context=ctx, stream_mode=modes,
                                                 interrupt_before=break_before or None):
                for event in self._events(mode, chunk, route):
                    if event.kind == "notice" and event.data.get("text"):
                        notices.append(event.data["text"])
                    yield event
        except BaseException:
            rollback(self.checkpointer, thread_id, before)
            raise
        yield Event("done", data={"result": self._result(thread_id, ctx, route, notices)})

    def _events(self, mode: str, chunk: Any, route: list[str]) -> Iterator[Event]:
        if mode == "messages":
            message, meta = chunk
            node = meta.get("langgraph_node", "")
            if isinstance(message, AIMessageChunk) and message.content and node in self.token_nodes:
                yield Event("token", node, {"text": message.content})
        elif mode == "updates":
            for node, update in chunk.items():
                if node == "__interrupt__":
                    yield Event("interrupt", node, {"interrupts": [i.value for i in update]})
                    continue
                route.append(node)
                yield Event("step", node, {"update": update or {}})
        elif mode == "custom":
            if chunk.get("kind") == "retract" and chunk.get("node") not in self.token_nodes:
                return  # its tokens were never shown
            yield Event(chunk.get("kind", "custom"), chunk.get("node", ""), chunk)
        elif mode == "tasks":
            yield Event("task", chunk["name"], chunk)
        elif mode == "checkpoints":
            yield Event("checkpoint", "", chunk)

    def _result(self, thread_id: str, ctx: Context, route: list[str], notices: list[str] | None = None) -> TurnResult:
        snapshot = self.graph.get_state({"configurable": {"thread_id": thread_id}})
        values = snapshot.values
        self._index(thread_id, snapshot)
        last = values["messages"][-1] if values.get("messages") else None
        answer = last.text if last is not None and last.type == "ai" else ""
        calls = self.ledger.calls(turn=ctx.turn_id)
        model = next((c.model for c in reversed(calls) if c.outcome == "ok"), ctx.model_for("chat"))
        return TurnResult(
            thread_id=thread_id,
            answer=answer if isinstance(answer, str) else str(answer),
            route=route,
            model=model,
            usage=summarize(calls),
            sources=values.get("sources", []),
            tool_calls=values.get("tool_calls", []),
            notices=list(dict.fromkeys([*values.get("notices", []), *(notices or [])])),
            paused_before=list(snapshot.next),
            pending=[i.value for i in snapshot.interrupts],
            artifacts=values.get("artifacts", []),
            plan=public(values.get("plan") or []),
        )

    def ask(self, text: str, thread_id: str | None = None, options: TurnOptions | None = None, *,
            callbacks: list[Any] | None = None, multitask: str = "enqueue",
            stop: threading.Event | None = None) -> TurnResult:
        """Run one turn to the end and return its result (the keywords as for :meth:`stream_turn`)."""
        result = None
        for event in self.stream_turn(text, thread_id, options, callbacks=callbacks, multitask=multitask, stop=stop):
            if event.kind == "done":
                result = event.data["result"]
        assert result is not None
        return result

    def _index(self, thread_id: str, snapshot: Any) -> None:
        """Keep the thread's listing current, so ``threads()`` reads a row instead of a state."""
        try:
            info = describe(thread_id, snapshot.values.get("messages", []), snapshot.created_at or "")
            self.thread_index.save(info, snapshot.config["configurable"]["checkpoint_id"])
        except PodiumError:  # an unreachable store: the next listing describes the thread from its checkpoint
            pass

    def threads(self) -> list[Any]:
        """Saved threads, newest first."""
        return self.thread_index.list(describer(self.checkpointer))

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        """The messages of a thread as ``{role, content}`` dicts (tool calls with their names and arguments)."""
        self.require_thread(thread_id)
        return history_rows(self.graph.get_state({"configurable": {"thread_id": thread_id}}).values.get("messages", []))
