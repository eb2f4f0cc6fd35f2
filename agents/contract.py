"""The specialist contract: the graph's state, a turn's options, the run context, and what a specialist declares.

Everything here sits below ``graph/`` so agents never import upward: the graph, the
entry points and LangGraph Studio all read these types from here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from agents.router import SemanticRouter
    from memory.store import KnowledgeBase
    from models.call import ModelCaller
    from models.ledger import Ledger
    from podium.settings import Settings
    from tools.runner import ToolEnv


def merge_steps(old: list[dict[str, Any]] | None, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reducer of ``plan``: the steps parallel ``plan_step`` runs write replace theirs, by number.

    The conductor starts each turn's plan with LangGraph's ``Overwrite``, which bypasses this.
    """
    steps = {s["step"]: s for s in old or []}
    for step in new:
        steps[step["step"]] = {**steps.get(step["step"], {}), **step}
    return sorted(steps.values(), key=lambda s: s["step"])


class State(TypedDict, total=False):
    """Graph state, checkpointed after every step.

    ``messages`` accumulate over the thread; the other fields describe the
    current turn and are reset by the conductor when a turn starts.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    """The whole conversation (trimmed only in what is sent to a model, never here)."""
    route: str
    """The specialist the conductor chose for this turn."""
    route_reason: str
    """Why it chose it (the rule, the similarity, or the router model's answer)."""
    query: str
    """This turn's question as specialists should search with it: the message itself, or joined to
    the previous question when it only follows that one up ("And when are they active?")."""
    collection: str | None
    """The knowledge collection this turn is scoped to (``--collection``, or the one a follow-up followed)."""
    sources: list[dict[str, Any]]
    """Citations of this turn's answer: ``{source, heading, score, ...}``."""
    tool_calls: list[dict[str, Any]]
    """Tool calls of this turn: ``{name, args, result, error, approved}`` in call order."""
    artifacts: list[dict[str, Any]]
    """Files, datasets, reports or models a specialist produced this turn."""
    notices: list[str]
    """Things the user should know about this turn (trimmed history, escalations, budget)."""
    plan: Annotated[list[dict[str, Any]], merge_steps]
    """This turn's plan when it takes several specialists: ``{step, specialist, input, status, output, uses,
    error, sources, tool_calls}`` per step (see :mod:`agents.planner`); empty for a one-step turn."""
    answer_as: str
    """How a specialist should answer when it matters: ``quote`` asks the knowledge specialist for the
    documents' own sentence (a plan step whose result another step uses), ``number`` for one with a number."""


TURN_FIELDS: dict[str, Any] = {"sources": [], "tool_calls": [], "artifacts": [], "notices": []}
"""Per-turn fields and their empty values, reset at the start of every turn."""


@dataclass
class TurnOptions:
    """The knobs of one turn: CLI flags, the web app's pickers, checkpoint metadata, LangGraph Studio's form.

    Empty values mean "the setting's default". Saved with every checkpoint of the turn, so a
    resume in another process runs it the same way.
    """

    model: str = ""
    """Model spec answering the turn (default: ``PODIUM_MODEL``)."""
    fallbacks: list[str] | None = None
    """Specs tried in order when ``model`` fails (``None``: ``PODIUM_FALLBACKS``)."""
    agent_models: dict[str, str] = field(default_factory=dict)
    """Per-specialist model specs, overriding ``model``."""
    policy: str = ""
    """Routing policy (default: ``PODIUM_POLICY``): ``local-first``, ``quality-first`` or ``budget``."""
    system_prompt: str | None = None
    """System prompt of the chat specialist (default: ``PODIUM_SYSTEM_PROMPT``)."""
    collection: str | None = None
    """Knowledge collection the turn is scoped to."""
    few_shot: list[tuple[str, str]] = field(default_factory=list)
    """Example (user, assistant) exchanges placed before the conversation."""
    temperature: float | None = None
    """Sampling temperature of the specialists' answers (default: ``PODIUM_TEMPERATURE``)."""
    max_tokens: int | None = None
    """Most tokens an answer may have (default: ``PODIUM_MAX_TOKENS``)."""
    user: str | None = None
    """Who is asking (the signed-in web user, an API key's user): the knowledge collections the turn may
    read are theirs and those shared with them. ``None``: the machine's operator, who may read all."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (what checkpoint metadata keeps)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnOptions:
        """Options from saved metadata or a plain mapping; keys that are not options are ignored."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        if "few_shot" in known:
            known["few_shot"] = [tuple(pair) for pair in known["few_shot"] or []]
        return cls(**known)

    def merged(self, other: TurnOptions | None) -> TurnOptions:
        """These options with the non-empty fields of ``other`` on top."""
        if other is None:
            return self
        given = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) not in (None, "")}
        return TurnOptions(**{**asdict(self), **given})


@dataclass
class Context:
    """Everything a node may use, built once per turn by the entry point (CLI, web app, Studio, API).

    One typed field per collaborator; nodes never build their own.
    """

    settings: Settings
    """The process's settings."""
    engine: ModelCaller
    """The only door to a model: routing, retries, repairs, fallbacks, one ledger row per attempt."""
    ledger: Ledger | None = None
    """The cost ledger the engine writes to; ``None`` only in graph-structure tests."""
    knowledge: KnowledgeBase | None = None
    """The knowledge base (opens Chroma on first use); ``None`` when the process has none."""
    tools: ToolEnv | None = None
    """What tools may reach (workspace, sandbox, clock, knowledge base)."""
    specialists: tuple[Specialist, ...] = ()
    """The registry the graph was built from (the conductor chooses among the available ones)."""
    router: SemanticRouter | None = None
    """Routing by meaning over the specialists' examples (loads its embedder on first use); ``None``: rules only."""
    options: TurnOptions = field(default_factory=TurnOptions)
    """This turn's knobs (model, fallbacks, policy, collection...)."""
    thread_id: str = ""
    """The thread being run."""
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Identifies this turn's ledger entries."""

    def model_for(self, node: str) -> str:
        """The model spec a node uses this turn."""
        # A turn's explicit choice beats configuration; per-agent settings beat the default model.
        return (self.options.agent_models.get(node) or self.options.model
                or self.settings.agent_models.get(node) or self.settings.model)

    @property
    def fallbacks(self) -> list[str]:
        """Specs tried after a node's model, in order."""
        return list(self.settings.fallbacks if self.options.fallbacks is None else self.options.fallbacks)

    @property
    def max_tokens(self) -> int:
        """Most tokens an answer may have this turn."""
        return self.options.max_tokens or self.settings.max_tokens

    def sampling(self) -> dict[str, Any]:
        """The turn's own temperature and token limit, as model call options (empty: the settings')."""
        out: dict[str, Any] = {}
        if self.options.temperature is not None:
            out["temperature"] = self.options.temperature
        if self.options.max_tokens:
            out["max_tokens"] = self.options.max_tokens
        return out

    @property
    def collection(self) -> str | None:
        """The collection the turn was scoped to by its options (``--collection``)."""
        return self.options.collection

    def using(self, node: str, spec: str, *, fallbacks: list[str] | None = None) -> Context:
        """A copy in which ``node`` is answered by ``spec`` (and, when given, only ``fallbacks`` after it)."""
        changes: dict[str, Any] = {"agent_models": {**self.options.agent_models, node: spec}}
        if fallbacks is not None:
            changes["fallbacks"] = list(fallbacks)
        return replace(self, options=replace(self.options, **changes))

    def available(self) -> dict[str, Specialist]:
        """The specialists that can take a turn now, by name, in registry order."""
        return {s.name: s for s in self.specialists if s.available(self)}


Node = Callable[[State, "Runtime[Context]"], dict[str, Any]]
"""A LangGraph node: reads the state and the run context, returns a state update."""
Router = Callable[[State], str]
"""Picks the next node from the state."""


@dataclass(frozen=True)
class Rule:
    """Route a turn to a specialist when ``pattern`` matches its message (the unambiguous cases)."""

    pattern: re.Pattern[str]
    """What the message must contain."""
    why: str
    """The reason shown in traces: ``rule: <why>``."""
    weak: bool = False
    """The words can mean another specialist's work too ('a dataset from my notes'): a strong guess by
    meaning for a specialist other than chat wins over it."""


def _always(ctx: Context) -> bool:
    return True


LONG_WORK = 0.33
"""The :attr:`Specialist.certainty` of specialists that run benchmarks, generate datasets or train: a guess by
meaning below it stays unsure (chat answers). Faint likenesses sit just under it: 'concurrent 3' (0.29 like a
throughput benchmark), 'stop before chat' (0.33 like 'fine-tune the model on my chat transcripts', a debugger
user's words). Left out one at a time, 3 of the 69 long-work examples routed right fall below it (and 1 of 16
wrong); on bench/data/routing_heldout.jsonl, 1 long-work request ('Make 50 rows of fake IoT sensor readings')."""


@dataclass(frozen=True)
class Specialist:
    """What a specialist file in ``agents/`` exports as ``SPECIALIST``; the graph is assembled from these."""

    name: str
    """Node name, route name and key in ``PODIUM_AGENT_MODELS``."""
    node: Node
    """The LangGraph node that does the specialist's work."""
    description: str
    """One line: what it is for (routers, the planner and ``podium tools`` read it)."""
    tools: tuple[str, ...] = ()
    """Names of the tools it may call (an explicit allow-list; see :mod:`tools`)."""
    examples: tuple[str, ...] = ()
    """Short utterances it should receive, the way users type them (routing by meaning, :mod:`agents.router`):
    a few dozen varied ones route far better than a handful."""
    rules: tuple[Rule, ...] = ()
    """Patterns that route to it without doubt; checked before meaning, in registry order (a ``weak`` rule
    yields to a confident guess by meaning for another specialist)."""
    available: Callable[[Context], bool] = _always
    """Whether it can take a turn now (knowledge: only with documents to search)."""
    helpers: Mapping[str, Node] = field(default_factory=dict)
    """Extra nodes it owns (the tools specialist's ``approval``); each returns to the specialist."""
    after: Router | None = None
    """Where the turn goes after the node (one of ``helpers``, the node itself, or ``__end__``); default: end."""
    tokens: bool = True
    """Its model's streamed tokens are the answer (front ends show them live)."""
    certainty: float = 0.0
    """Least similarity a guess by meaning needs to send a turn here (above the router's own threshold):
    specialists that start long or costly work (benchmarks, datasets, training) ask for a surer guess."""
