"""The conductor: picks the specialist for each turn by rules and by meaning, never by a tiny model's whim,
and turns a request for several specialists' work into a plan."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from agents.common import call_model, last_user_text, notify
from agents.contract import TURN_FIELDS, Context, Rule, State
from agents.plan_model import capable_planner, plan_with_model
from agents.planner import PlanError, decompose, public, split_clauses
from podium.errors import PodiumError

if TYPE_CHECKING:
    from agents.contract import Specialist
    from agents.router import SemanticRouter

ROUTER_PROMPT = (
    "Pick the specialist for the user's last message. Reply with exactly one word from: {routes}.\n"
    "{descriptions}"
)


# A short message that leans on the one before it: it opens like a continuation or points back with a pronoun.
_FOLLOW_UP = re.compile(r"^\s*(?:and|also|but|so|what about|how about|why|how so|tell me more|what else|more)\b"
                        r"|\b(?:it|its|they|them|their|that|those|these|he|she|him|his|her)\b", re.I)
# Thanks and acknowledgements close a topic rather than follow it up.
_ACKNOWLEDGE = re.compile(r"^\s*(?:thanks|thank you|thx|ty|ok|okay|great|cool|nice|perfect|awesome|got it|i see"
                          r"|understood|good|fine|alright|sure)\b", re.I)
_FUNCTION_WORDS = frozenset("""
a about above after again all also an and any are as at be been before but by can could did do does doing done
each else for from had has have how i if in into is it its just like many me more most much my no not now of off
on once one only or other our out over please same say says should so some still such tell than that the their
them then there these they this those to too under up us very was we were what when where which while who whom
why will with would you your he she him his her mean means often long""".split())
FOLLOW_UP_WORDS = 14
"""Longest message (in words) still read as a follow-up; longer ones stand on their own."""
OWN_TOPIC_WORDS = 2
"""Content words from which a follow-up must itself resemble the documents ("What is it like on Mars?" does not)."""


def user_texts(state: State) -> list[str]:
    """Texts of the human messages, oldest first."""
    return [m.text if isinstance(m.text, str) else str(m.content)
            for m in state.get("messages", []) if isinstance(m, HumanMessage)]


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry a topic of their own (not function words, not short)."""
    return [w for w in re.findall(r"[a-z][a-z'-]+", text.lower()) if len(w) > 2 and w not in _FUNCTION_WORDS]


def follow_up_query(state: State) -> str | None:
    """The question to search with when this message follows up the previous turn's answer from the documents.

    Read before the conductor resets the turn: ``route``, ``sources`` and ``query`` are still the
    last turn's. A follow-up ("And when are they most active?") says little a search can use; the
    question it follows, joined to it, does. Only after an answer that had sources (not after
    "nothing found"), never for thanks, and only for short messages. In a chain of follow-ups the
    first question is kept and the latest message added, so the query does not grow.
    ``None`` when the message stands on its own.
    """
    texts = user_texts(state)
    if state.get("route") != "knowledge" or not state.get("sources") or len(texts) < 2:
        return None
    text = texts[-1]
    if len(text.split()) > FOLLOW_UP_WORDS or _ACKNOWLEDGE.search(text) or not _FOLLOW_UP.search(text):
        return None
    last_text, last_query = texts[-2], state.get("query") or texts[-2]
    first = last_query[: -len(last_text)].strip() if last_query.endswith(last_text) else ""
    return f"{first or last_query} {text}"


def _first_rule(text: str, available: Mapping[str, Specialist], *, chat: bool = True,
                weak: bool = True) -> tuple[str, Rule] | None:
    """The first specialist (in registry order) with a rule matching ``text``, and that rule."""
    for specialist in available.values():
        if specialist.name == "chat" and not chat:
            continue
        for rule in specialist.rules:
            if (weak or not rule.weak) and rule.pattern.search(text):
                return specialist.name, rule
    return None


def classify(text: str, available: Mapping[str, Specialist], router: SemanticRouter | None = None
             ) -> tuple[str | None, str]:
    """Rules, then meaning: ``(route, reason)``, with ``route`` ``None`` when neither is sure.

    A weak rule (the message names documents) yields to a strong guess for a specialist other
    than chat; low confidence and ties stay unsure, and so does a one-word message ('two', '42'),
    which gives meaning nothing to go on, and a guess of chat when some specialist has no examples.
    The knowledge base is not consulted here.
    """
    found = _first_rule(text, available)
    if found is not None and not found[1].weak:
        return found[0], f"rule: {found[1].why}"
    words = len(text.split())
    # The word vectors' first look may decide alone, except where the whole model's confidence matters: a weak
    # rule yields only to its strong guess, and specialists that start long work ask for a surer one.
    quick = [name for name, s in available.items() if not s.certainty] if found is None else []
    guess = router.guess(text, available, quick) if router is not None and len(available) > 1 and words >= 2 \
        else None
    if found is not None and not (guess and guess.strong and guess.best not in ("chat", found[0])):
        return found[0], f"rule: {found[1].why}"
    unseen = [name for name, s in available.items() if not s.examples]
    if guess is not None and guess.confident and not (guess.best == "chat" and unseen) \
            and guess.score >= available[guess.best].certainty:
        return guess.best, guess.reason()  # (meaning cannot rule out a specialist it has no examples of)
    return None, guess.reason() if guess is not None else "no rule matched"


def decide(text: str, available: dict[str, Specialist], ctx: Context | None = None,
           follow_up: str | None = None, followed: str | None = None) -> tuple[str, str]:
    """Return ``(route, reason)`` for a message, among the ``available`` specialists (by name).

    Deterministic rules first (each specialist's ``rules``, in registry order); then a follow-up
    of the previous documents question, or ``--collection`` given; then meaning (the specialists'
    routing examples nearest to the message, :mod:`agents.router`) and the weak rules; then the
    knowledge base holding a chunk similar enough to the question (an embedding check, not a
    model's opinion). When still unsure, a capable router model picks if one is configured;
    otherwise the chat specialist answers.
    """
    # Chat's own rule (small talk) waits: a follow-up still takes 'thanks' to the documents.
    found = _first_rule(text, available, chat=False, weak=False)
    if found is not None:
        return found[0], f"rule: {found[1].why}"
    if follow_up and "knowledge" in available and _stays_on_documents(ctx, text, followed):
        return "knowledge", "rule: follows up the previous question about the documents"
    if ctx is not None and "knowledge" in available and ctx.collection:
        talk = _first_rule(text, {k: v for k, v in available.items() if k == "chat"}, weak=False)
        if talk is not None:  # a picked collection scopes questions; it does not turn small talk into a search
            return "chat", f"rule: {talk[1].why} (the collection {ctx.collection} scopes questions)"
        return "knowledge", f"rule: --collection {ctx.collection} scopes the turn to the knowledge base"
    route, reason = classify(text, available, ctx.router if ctx is not None else None)
    if route is not None and (route != "chat" or reason.startswith("rule:")):
        return route, reason  # greetings never open the knowledge base
    if ctx is not None and "knowledge" in available:
        near = _near_documents(ctx, text)
        if near:
            return "knowledge", near
    if route == "chat":
        return route, reason
    router = ctx.settings.router_model if ctx else None
    if ctx is not None and router and len(available) > 1 and not ctx.engine.spec(router).local:
        choice = _ask_router(ctx, router, text, available)
        if choice:
            return choice, f"router model {router}"
    return "chat", f"default: conversation ({reason})"


def _stays_on_documents(ctx: Context | None, text: str, collection: str | None) -> bool:
    """A follow-up with few words of its own leans on the documents; one with a topic of its own must match them."""
    if len(content_words(text)) < OWN_TOPIC_WORDS:
        return True
    kb = ctx.knowledge if ctx is not None else None
    if kb is None:
        return False
    try:
        _, hit = _match(kb, text, collection)
    except PodiumError:
        return False
    return hit is not None and hit.similarity >= kb.embedder.relevance


def _match(kb: Any, text: str, collection: str | None) -> tuple[str | None, Any]:
    """The closest chunk in ``collection``, or, when the turn names none, in whichever collection holds it."""
    if collection:
        return collection, kb.best_match(text, collection)
    return kb.best_collection(text)


def _near_documents(ctx: Context, text: str) -> str | None:
    """Why the question belongs to the documents, when its best chunk is similar enough (else ``None``)."""
    kb = ctx.knowledge
    if kb is None or not text.strip():
        return None
    try:
        collection, hit = _match(kb, text, ctx.collection)
    except PodiumError as exc:  # a broken knowledge base must not stop conversation
        notify("notice", text=f"knowledge base skipped: {exc.one_line()}")
        return None
    if hit is None or hit.similarity < kb.embedder.route:
        return None
    return f"similarity {hit.similarity:.2f} to {hit.source} in {collection} (threshold {kb.embedder.route})"


def _ask_router(ctx: Context, router: str, text: str, available: dict[str, Specialist]) -> str | None:
    descriptions = "\n".join(f"- {name}: {s.description}" for name, s in available.items())
    prompt = [
        SystemMessage(ROUTER_PROMPT.format(routes=", ".join(available), descriptions=descriptions)),
        HumanMessage(text),
    ]
    sub = ctx.using("conductor", router, fallbacks=[])
    try:
        answer = call_model(sub, "conductor", prompt).text.strip().lower()
    except PodiumError as exc:  # a failing router must not end the turn: the rules' default still answers
        notify("notice", text=f"router model {router} failed ({exc.message}); routing by rules")
        return None
    word = re.sub(r"[^a-z_]", "", answer.split()[0]) if answer.split() else ""
    return word if word in available else None


def make_plan(ctx: Context, text: str, available: dict[str, Specialist]) -> list[dict[str, Any]] | None:
    """This turn's plan when the message asks for several specialists' work in turn, else ``None``.

    Each clause is routed as a message of its own; a clause that needs a specialist which is
    registered but unavailable (no documents yet) makes the plan fail, naming the step. With a
    capable planner model configured, that model plans instead (:mod:`agents.plan_model`).
    """
    if len(split_clauses(text)) < 2:
        return None  # one request: nothing beyond the usual decision
    registered = {s.name: s for s in ctx.specialists} or available
    planner = capable_planner(ctx)
    if planner:
        try:
            steps = plan_with_model(ctx, planner, text, registered, available)
            return steps if len(steps) > 1 else None
        except PlanError:
            raise
        except PodiumError as exc:  # the planner is down: the deterministic plan still serves the turn
            notify("notice", text=f"planner model {planner} failed ({exc.message}); planning by rules")

    def route(clause: str) -> tuple[str, str]:
        wanted, why = classify(clause, registered, ctx.router)
        if wanted is not None and wanted not in available:
            return wanted, why
        return decide(clause, available, ctx)

    return decompose(text, route, available)


def conductor(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Choose this turn's specialist (or plan its steps) and reset the per-turn fields."""
    ctx = runtime.context
    available = ctx.available()
    text = last_user_text(state)
    follow_up = follow_up_query(state)
    reset = {k: list(v) for k, v in TURN_FIELDS.items()}
    steps = None if follow_up else make_plan(ctx, text, available)
    if steps:
        reason = "plan: " + ", then ".join(f"{s['step']} {s['specialist']}" for s in steps)
        notify("route", route="plan", reason=reason)
        notify("plan", plan=public(steps))
        return {"route": "plan", "route_reason": reason, "query": text, "collection": ctx.collection, **reset,
                "plan": Overwrite(steps)}
    followed = ctx.collection or state.get("collection") if follow_up else None  # a follow-up stays there
    route, reason = decide(text, available, ctx, follow_up, followed)
    notify("route", route=route, reason=reason)
    query = follow_up if route == "knowledge" and follow_up else text
    collection = ctx.collection or (followed if route == "knowledge" else None)
    if route == "knowledge" and not collection and ctx.knowledge is not None:
        try:  # no collection named: search the one that holds the closest passage
            collection = ctx.knowledge.best_collection(query)[0]
        except PodiumError:
            collection = None
    return {"route": route, "route_reason": reason, "query": query, "collection": collection, **reset,
            "plan": Overwrite([])}
