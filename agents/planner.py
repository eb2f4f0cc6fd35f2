"""Plans: a request that needs several specialists, cut into ordered steps that can use earlier results.

On any model the plan comes from deterministic decomposition: the message is cut into
clauses at "and then", "then", "after that", ";" or the items of a numbered list, each
clause is routed like a message of its own, and adjacent clauses for the same specialist
that do not depend on each other are merged (the tools specialist runs several calls in
one step anyway). A clause that points back ("that many", "the result", "it", "step 2")
uses an earlier step's output, substituted into its input when that step is done; the
others run in parallel. Plans are plain dicts so they checkpoint and print as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from podium.errors import PodiumError

MAX_STEPS = 6
"""Most steps a plan may have."""
STATUSES = ("pending", "running", "waiting", "done", "failed", "skipped")
"""A step's life: pending, running (its specialist works), waiting (for an approval), then done, failed or
skipped (an earlier step failed)."""
PUBLIC = ("step", "specialist", "input", "status", "output", "uses", "error", "sources", "tool_calls")
"""The fields a user sees (``podium ask --json``); the rest is the step's working state."""


class PlanError(PodiumError):
    """A plan that cannot run; ``step`` names the step at fault (``None``: the plan as a whole)."""

    def __init__(self, message: str, *, step: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint or "rephrase the request, or ask for one thing at a time")
        self.step = step


_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+(.*\S)?\s*$")
_INLINE_ITEM = re.compile(r"(?:^|(?<=\s))(\d)[.)]\s+")
SEPARATORS = re.compile(r"\s*[,;:]?\s*\b(?:and then|and after that|after that|afterwards|then)\b[,:]?\s*|\s*;\s*",
                        re.IGNORECASE)
"""Where one step ends and the next begins (numbered lists are read first)."""
_LEADING = re.compile(r"^(?:and then|and after that|after that|afterwards|then)\b[,:]?\s*", re.IGNORECASE)

_QUANTITY = re.compile(r"\bthat (?:many|much|number|amount|total|sum|value|figure)\b", re.IGNORECASE)
_RESULT = re.compile(r"\b(?:the|that|this) (?:result|answer|output)\b|\b(?:that|this) (?:date|period|duration|time)\b"
                     r"|\bthe previous (?:result|answer|step)\b", re.IGNORECASE)
_IT = re.compile(r"(?<!\bis )(?<!\bwas )\bit\b(?!\s*(?:is|was|'s)\b)", re.IGNORECASE)
_STEP = re.compile(r"\b(?:the (?:result|answer|output) of )?step\s+(\d+)(?:'s)?(?:\s+(?:result|answer|output))?",
                   re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_CITATION = re.compile(r"\s*\[\d+\]")


def wants_number(clause: str) -> bool:
    """Whether a clause uses an earlier result as a quantity ('that many days')."""
    return bool(_QUANTITY.search(clause))


def split_clauses(text: str) -> list[str]:
    """The clauses of a message, in order: a numbered list's items, else the pieces between separators.

    Empty clauses are kept (as ``''``) so they can be reported; a trailing ';' is not one.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    items = [m.group(1) or "" for m in map(_LIST_ITEM.match, lines) if m]
    if len(items) >= 2:
        return [item.strip() for item in items]
    numbers = [int(m.group(1)) for m in _INLINE_ITEM.finditer(text)]
    if len(numbers) >= 2 and numbers == list(range(1, len(numbers) + 1)):
        pieces = _INLINE_ITEM.split(text)[2::2]  # split keeps the captured numbers between the pieces
        return [p.strip(" ,;.") for p in pieces]
    pieces = SEPARATORS.split(_LEADING.sub("", text.strip().rstrip(";").strip()))
    return [p.strip(" ,;") for p in pieces]


def references(clause: str) -> tuple[list[int], bool]:
    """``(steps named explicitly, points back at the previous step)`` for one clause."""
    named = [int(n) for n in _STEP.findall(clause)]
    implicit = bool(_QUANTITY.search(clause) or _RESULT.search(clause) or _IT.search(clause))
    return named, implicit and not named


Route = Callable[[str], tuple[str, str]]
"""``clause -> (specialist, reason)``: how the conductor would route the clause as a message of its own."""


def decompose(text: str, route: Route, available: Iterable[str]) -> list[dict[str, Any]] | None:
    """The plan for a multi-step message, or ``None`` when it is one request (it then routes as usual).

    Raises :class:`PlanError` for an empty clause, a reference to a step that does not exist or
    comes later, more than :data:`MAX_STEPS` steps, or a step whose specialist is unavailable.
    """
    clauses = split_clauses(text)
    if len(clauses) < 2:
        return None
    routes = [route(c) if c else ("", "") for c in clauses]
    if all(name in ("", "chat") for name, _ in routes):
        return None  # conversation only: one chat answer handles "write a poem, then translate it"
    steps: list[dict[str, Any]] = []
    for number, (clause, (specialist, reason)) in enumerate(zip(clauses, routes, strict=True), 1):
        if not clause:
            raise PlanError(f"step {number} is empty", step=number,
                            hint="say what should happen in every step, e.g. 'compute 2 + 2, then ...'")
        named, previous = references(clause)
        uses = named or ([len(steps)] if previous and steps else [])
        if previous and not steps:
            raise PlanError(f"step {number} ({clause!r}) uses an earlier result, but it is the first step",
                            step=number, hint="say what it should use, or put the step that produces it first")
        last = steps[-1] if steps else None
        if last and last["specialist"] == specialist and not uses and not last["uses"] and not named:
            last["input"] = f"{last['input']}; {clause}"  # one specialist, independent asks: one step
            last["clauses"].append(number)
            continue
        steps.append({"step": len(steps) + 1, "specialist": specialist, "input": clause, "status": "pending",
                      "output": "", "uses": uses, "error": None, "sources": [], "tool_calls": [], "reason": reason,
                      "clauses": [number], "named": named})
    return validate(_renumber_named(steps), available) if len(steps) > 1 else None


def _renumber_named(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """'step 3' in the user's words means their third clause: point it at the step that clause became."""
    step_of = {clause: s["step"] for s in steps for clause in s["clauses"]}
    for s in steps:
        if s.pop("named"):
            s["uses"] = [step_of.get(n, n + 1000) for n in s["uses"]]  # an unknown clause stays unknown
    return steps


def validate(steps: list[dict[str, Any]], available: Iterable[str], *, first: int = 1) -> list[dict[str, Any]]:
    """Check a plan (from the decomposition or a planner model); raise :class:`PlanError` naming the step.

    ``first`` is the number of its first step (a replan continues a plan whose earlier steps ran).
    """
    available = set(available)
    if len(steps) > MAX_STEPS:
        raise PlanError(f"the request has {len(steps)} steps; a plan holds at most {MAX_STEPS}",
                        hint=f"split it into requests of at most {MAX_STEPS} steps")
    last = first + len(steps) - 1
    for s in steps:
        n = s["step"]
        if not str(s.get("input") or "").strip():
            raise PlanError(f"step {n} is empty", step=n, hint="say what should happen in every step")
        for used in s["uses"]:
            if used > 1000 or not 1 <= used <= last:
                raise PlanError(f"step {n} uses step {used if used < 1000 else used - 1000}, which does not exist",
                                step=n, hint=f"the plan has steps 1 to {last}")
            if used >= n:
                raise PlanError(f"step {n} uses step {used}, which comes after it", step=n,
                                hint="a step can only use the results of the steps before it")
        if s["specialist"] not in available:
            raise PlanError(f"step {n} ({s['input']!r}) needs the {s['specialist']} specialist, which is unavailable"
                            + (": no documents are ingested yet" if s["specialist"] == "knowledge" else ""),
                            step=n, hint=_UNAVAILABLE.get(s["specialist"], "configure it, or rephrase that step"))
    return steps


_UNAVAILABLE = {"knowledge": "add documents first with `podium ingest PATH`, then ask again"}


def ready(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pending steps whose inputs are all done (they may run now, side by side)."""
    done = {s["step"] for s in plan if s["status"] == "done"}
    return [s for s in plan if s["status"] == "pending" and set(s["uses"]) <= done]


def public(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan as users see it: the :data:`PUBLIC` fields of each step."""
    return [{k: s.get(k) for k in PUBLIC} for s in plan]


def value(step: dict[str, Any]) -> str:
    """What a later step gets from ``step``: its last tool result (after any '='), else its answer, uncited."""
    results = [c["result"] for c in step.get("tool_calls") or [] if c.get("result")]
    if results:
        return results[-1].rsplit(" = ", 1)[-1].strip()
    text = str(step.get("output") or "").split("\nSources:", 1)[0]
    return _CITATION.sub("", text).strip()


def number(text: str) -> str | None:
    """The first number in ``text`` (thousands separators dropped), or ``None``."""
    match = _NUMBER.search(text)
    return match.group(0).replace(",", "") if match else None


def resolve(step: dict[str, Any], plan: list[dict[str, Any]]) -> str:
    """``step``'s input with each reference replaced by what it points at; raise :class:`PlanError`.

    'that many' takes the first number of the step it uses, 'that date' its first ISO date, and
    'the result', 'it' or 'step 2' its value (:func:`value`). Matches are found in the input as the
    user wrote it, so text that a replacement brings in is never read as a reference.
    """
    text, n = step["input"], step["step"]
    if not step["uses"]:
        return text
    by_number = {s["step"]: s for s in plan}
    taken: list[tuple[int, int, str]] = []
    for pattern in (_STEP, _QUANTITY, _RESULT, _IT):
        for match in pattern.finditer(text):
            if any(a < match.end() and match.start() < b for a, b, _ in taken):
                continue
            source = by_number[int(match.group(1))] if pattern is _STEP else by_number[step["uses"][-1]]
            given = value(source)
            if pattern is _QUANTITY:
                found = number(given)
                if found is None:
                    raise PlanError(f"step {n} needs a number from step {source['step']}, whose output has none: "
                                    f"{given[:80]!r}", step=n, hint="rephrase the step so it says what to use")
                given = found
            elif "date" in match.group(0).lower() and (date := _DATE.search(given)):
                given = date.group(0)
            taken.append((match.start(), match.end(), given))
    for start, end, given in sorted(taken, reverse=True):
        text = text[:start] + given + text[end:]
    return text
