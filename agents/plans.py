"""The plan nodes: each step runs through its specialist (side by side when independent), a step that stops
at a helper (the tools specialist's approval) pauses the plan, and the turn ends with one answer listing
every step's result.

``plan_step`` runs one step: LangGraph's ``Send`` gives it the step, the plan and the conversation,
and the specialist sees a turn whose message is the step's input with the references to earlier
steps filled in. ``plan`` joins the steps of a super-step and answers once nothing is left;
``plan_approval`` runs the helper a step stopped at, one step per visit, then goes on with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Send

from agents.common import last_user_text, notify
from agents.contract import Context, Specialist, State
from agents.planner import PlanError, public, ready, resolve, wants_number
from models.events import PLAN_STEP
from podium.errors import PodiumError

MAX_ROUNDS = 8
"""Specialist visits per step (a native tool caller going back and forth), a bound against loops."""
COPY_BELOW = 1_000_000_000
"""Local models with fewer parameters (or unknown) quote a document rather than restate what a later step uses."""


@contextmanager
def in_step(number: int) -> Iterator[None]:
    """Mark events sent while a step runs as that step's, so they are not read as the turn's answer."""
    token = PLAN_STEP.set(number)
    try:
        yield
    finally:
        PLAN_STEP.reset(token)


def next_steps(state: State) -> list[Send] | Literal["plan_approval", "__end__"]:
    """Send every step that can run now; else go on with a step waiting at a helper; else the plan is over."""
    plan = state.get("plan") or []
    if _stopped(plan) is not None:
        return "__end__"  # END, spelled as the Literal (langgraph types END as a plain str)
    runnable = ready(plan)
    if runnable:
        messages = _up_to_turn(state.get("messages", []))
        return [Send("plan_step", {"step": s["step"], "plan": plan, "messages": messages,
                                   "collection": state.get("collection")}) for s in runnable]
    if any(s["status"] == "waiting" for s in plan):
        return "plan_approval"
    return "__end__"


def plan_step(payload: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
    """Run one step through its specialist and record its status and output."""
    ctx, plan = runtime.context, payload["plan"]
    step = dict(next(s for s in plan if s["step"] == payload["step"]))
    notify("plan", plan=public(_with(plan, {**step, "status": "running"})), step=step["step"])
    try:
        step["input"] = resolve(step, plan)
    except PlanError as exc:
        return _finish(plan, {**step, "status": "failed", "error": exc.message})
    turn: dict[str, Any] = {"messages": [*payload["messages"][:-1], HumanMessage(step["input"])],
                            "route": step["specialist"], "query": step["input"],
                            "collection": payload.get("collection"), "sources": [], "tool_calls": [],
                            "artifacts": [], "notices": []}
    users = [s for s in plan if step["step"] in s["uses"]]
    if users and _small(ctx, step["specialist"]):  # a small model must not restate what a later step uses
        turn["answer_as"] = "number" if any(wants_number(s["input"]) for s in users) else "quote"
    specialist = _specialist(ctx, step["specialist"])
    return _finish(plan, _advance(runtime, specialist, step, _visit(specialist.node, runtime, step, turn)))


def plan_approval(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the helper the first waiting step stopped at (an approval asks the user), then go on with that step."""
    plan = state.get("plan") or []
    step = dict(next(s for s in plan if s["status"] == "waiting"))
    turn, helper = dict(step.pop("_turn")), step.pop("_helper")
    specialist = _specialist(runtime.context, step["specialist"])
    turn = _visit(specialist.helpers[helper], runtime, step, turn)
    return _finish(plan, _advance(runtime, specialist, step, turn))


def plan(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Join the steps just run; when nothing is left to run or approve, answer with every step's result.

    A failed step ends the plan, unless a capable planner model is configured: then it plans the rest
    of the work once, and the new steps run after the ones already done.
    """
    steps = state.get("plan") or []
    failed = _stopped(steps)
    if failed is None and (ready(steps) or any(s["status"] == "waiting" for s in steps)):
        return {}
    if failed is not None:
        steps = [{**s, "status": "skipped"} if s["status"] in ("pending", "waiting") else s for s in steps]
        again = _replan(runtime.context, state, steps, failed)
        if again:
            notify("plan", plan=public(again))
            return {"plan": again}
    answer = compose(steps)
    notify("plan", plan=public(steps))
    notify("token", node="plan", text=answer)
    return {"plan": steps, "messages": [AIMessage(answer)],
            "tool_calls": [{**c, "step": s["step"]} for s in steps for c in s["tool_calls"]],
            "sources": [{**x, "step": s["step"]} for s in steps for x in s["sources"]],
            "notices": [n for s in steps for n in s.get("notices") or []]}


def compose(steps: list[dict[str, Any]]) -> str:
    """The plan's answer: one numbered paragraph per step, then the steps' sources; a failure names its step."""
    lines, footers = [], []
    for s in steps:
        text, _, sources = str(s.get("output") or "").partition("\n\nSources:\n")
        if s["status"] == "done":
            lines.append(f"{s['step']}. {text.strip()}")
            if sources:
                footers.append((s["step"], sources.strip()))
        elif s["status"] == "failed":
            again = "; planned again from there" if s.get("replanned") else ""
            lines.append(f"{s['step']}. Step {s['step']} ({s['specialist']}) failed: {s['error']}{again}")
    skipped = [str(s["step"]) for s in steps if s["status"] == "skipped"]
    if skipped and _stopped(steps) is not None:
        lines.append(f"The plan stopped there: step{'s' if len(skipped) > 1 else ''} {', '.join(skipped)} "
                     f"{'were' if len(skipped) > 1 else 'was'} not run.")
    for step, sources in footers:
        lines.append(f"\nSources{f' of step {step}' if len(footers) > 1 else ''}:\n{sources}")
    return "\n".join(lines)


def _advance(runtime: Runtime[Context], specialist: Specialist, step: dict[str, Any],
             turn: dict[str, Any]) -> dict[str, Any]:
    """Follow the specialist's own router after each visit: again, a helper (the step waits there), or done."""
    for _ in range(MAX_ROUNDS):
        following = specialist.after(turn) if specialist.after is not None else END  # type: ignore[arg-type]
        if following == END:
            return _done(step, turn)
        if following in specialist.helpers:  # a helper may pause the graph: it runs in plan_approval
            return {**step, "status": "waiting", "_turn": turn, "_helper": following,
                    "tool_calls": turn["tool_calls"]}
        turn = _visit(specialist.node, runtime, step, turn)
    return {**step, "status": "failed", "error": f"no answer after {MAX_ROUNDS} rounds",
            "tool_calls": turn["tool_calls"]}


def _visit(node: Any, runtime: Runtime[Context], step: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
    """Run one node on the step's own turn; a model or collaborator failing stops the turn, naming the step."""
    try:
        with in_step(step["step"]):
            update = node(turn, runtime)
    except PodiumError as exc:
        raise PodiumError(f"step {step['step']} ({step['specialist']}: {step['input']!r}) failed: {exc.message}",
                          hint=exc.hint) from exc
    merged = {**turn, **{k: v for k, v in update.items() if k != "messages"}}
    merged["messages"] = [*turn["messages"], *update.get("messages", [])]
    return merged


def _done(step: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
    """A finished step: its answer, sources and tool calls; a tool that failed fails the step."""
    last = turn["messages"][-1] if turn["messages"] else None
    answer = last.text if isinstance(last, AIMessage) else ""
    broken = next((c for c in turn["tool_calls"] if c.get("error")), None)  # a rejected call stops it too
    out = {**step, "output": answer, "sources": turn["sources"], "tool_calls": turn["tool_calls"],
           "notices": turn["notices"], "status": "failed" if broken else "done"}
    if broken:
        out["error"] = f"{broken['name']}: {broken['error']}"
    return out


def _stopped(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The failed step that stops the plan (one a replan took over from does not)."""
    return next((s for s in steps if s["status"] == "failed" and not s.get("replanned")), None)


def _replan(ctx: Context, state: State, steps: list[dict[str, Any]], failed: dict[str, Any]
            ) -> list[dict[str, Any]] | None:
    """The plan with new steps from a capable planner model after ``failed``; ``None`` when there is none,
    it already replanned once this turn, or it cannot (then the failure stands, with a notice)."""
    from agents.plan_model import capable_planner, replan

    model = capable_planner(ctx)
    if model is None or any(s.get("replanned") for s in steps):
        return None
    try:
        more = replan(ctx, model, last_user_text(state), steps, failed, {s.name: s for s in ctx.specialists},
                      ctx.available())
    except PodiumError as exc:
        notify("notice", text=f"could not plan again after step {failed['step']} failed: {exc.message}")
        return None
    notify("notice", text=f"step {failed['step']} failed ({failed['error']}); {model} planned the rest again")
    return [{**s, "replanned": True} if s["step"] == failed["step"] else s for s in steps] + more


def _finish(plan: list[dict[str, Any]], step: dict[str, Any]) -> dict[str, Any]:
    if step["status"] != "waiting":
        step = {**step, "_turn": None, "_helper": None}  # a step's working turn is kept only while it waits
    notify("plan", plan=public(_with(plan, step)), step=step["step"])
    return {"plan": [step]}


def _with(plan: list[dict[str, Any]], step: dict[str, Any]) -> list[dict[str, Any]]:
    return [step if s["step"] == step["step"] else s for s in plan]


def _specialist(ctx: Context, name: str) -> Specialist:
    found = next((s for s in ctx.specialists if s.name == name), None)
    if found is None:
        raise ValueError(f"plan step for unknown specialist {name!r}")
    return found


def _small(ctx: Context, specialist: str) -> bool:
    spec = ctx.engine.spec(ctx.model_for(specialist))
    return spec.local and int(spec.extra.get("parameters") or 0) < COPY_BELOW


def _up_to_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The conversation up to this turn's message (a step sees the thread, not the other steps' turns)."""
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return list(messages[: index + 1])
    return list(messages)
