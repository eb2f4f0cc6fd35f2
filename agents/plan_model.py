"""A capable model as planner: a structured plan, validated and repaired like any structured output.

Used only when ``PODIUM_ROUTER_MODEL`` names a model that is not local (a 135M model never plans),
and only for messages the deterministic splitter already cuts into several clauses, so a
one-step request never pays for a planner call. The reply must match :class:`PlanReply` (the
model-call engine repairs malformed JSON); then :func:`agents.planner.validate` checks it and
its complaint goes back to the model, at most ``PODIUM_STRUCTURED_REPAIRS`` times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from agents.common import call_model
from agents.planner import MAX_STEPS, PlanError, validate
from models.failures import StructuredOutputError

if TYPE_CHECKING:
    from agents.contract import Context, Specialist

PROMPT = (
    "You plan requests for Podium, which has these specialists:\n{specialists}\n"
    "Split the user's request into at most {max_steps} steps, in the order they must happen. Each step is one "
    "request to one specialist, written so that specialist can act on it alone. When a step needs what an "
    "earlier step produced, write 'the result of step N' in its input and list N in its uses. Do not add steps "
    "the user did not ask for. Reply with JSON only."
)
REPLAN = (
    "The plan stopped: step {step} ({specialist}: {input!r}) failed: {error}. Results so far:\n{done}\n"
    "Plan only the remaining work, as new steps numbered from {first} on; they may use the results above."
)


class PlannedStep(BaseModel):
    """One step as the planner model writes it."""

    specialist: str = Field(description="the specialist that does this step")
    input: str = Field(description="the request for that specialist")
    uses: list[int] = Field(default_factory=list, description="numbers of earlier steps whose results it needs")


class PlanReply(BaseModel):
    """The planner model's whole reply."""

    steps: list[PlannedStep] = Field(min_length=1, description="the steps, in order")


def capable_planner(ctx: Context) -> str | None:
    """The configured planner model's spec, when there is one and it is not a local model."""
    spec = ctx.settings.router_model
    return spec if spec and not ctx.engine.spec(spec).local else None


def plan_with_model(ctx: Context, model: str, text: str, registered: dict[str, Specialist],
                    available: dict[str, Specialist],
                    *, first: int = 1, earlier: list[BaseMessage] | None = None) -> list[dict[str, Any]]:
    """A validated plan from ``model`` for ``text``; raise :class:`PlanError` when it stays invalid after repairs.

    ``first`` numbers the steps (a replan continues after the steps already run); ``earlier`` adds
    messages that tell the model what happened so far.
    """
    described = "\n".join(f"- {name}: {s.description}" for name, s in registered.items())
    messages: list[BaseMessage] = [SystemMessage(PROMPT.format(specialists=described, max_steps=MAX_STEPS)),
                                   HumanMessage(text), *(earlier or [])]
    only = ctx.using("conductor", model, fallbacks=[])
    problem: PlanError | None = None
    for _ in range(ctx.settings.structured_repairs + 1):
        try:
            reply = call_model(only, "conductor", messages, schema=PlanReply, config={"tags": ["nostream"]})
        except StructuredOutputError as exc:
            raise PlanError(f"the planner model {model} gave no valid plan: {exc.message}",
                            hint="rephrase the request, or configure a stronger PODIUM_ROUTER_MODEL") from exc
        parsed = PlanReply.model_validate(reply.additional_kwargs["parsed"])
        steps = [{"step": first + i, "specialist": s.specialist, "input": s.input.strip(), "status": "pending",
                  "output": "", "uses": list(s.uses), "error": None, "sources": [], "tool_calls": [],
                  "reason": f"planner model {model}"} for i, s in enumerate(parsed.steps)]
        try:
            return validate(steps, available, first=first)
        except PlanError as exc:
            problem = exc
            messages += [AIMessage(reply.text), HumanMessage(f"That plan is invalid: {exc.message}. "
                                                             "Reply with a corrected plan.")]
    assert problem is not None
    raise PlanError(f"the planner model {model} gave no valid plan: {problem.message}", step=problem.step,
                    hint=problem.hint)


def replan(ctx: Context, model: str, text: str, steps: list[dict[str, Any]], failed: dict[str, Any],
           registered: dict[str, Specialist], available: dict[str, Specialist]) -> list[dict[str, Any]]:
    """New steps for the rest of the work after ``failed``, numbered after the existing ones."""
    done = "\n".join(f"step {s['step']} ({s['specialist']}): {s['output']}" for s in steps if s["status"] == "done")
    first = max(s["step"] for s in steps) + 1
    told = HumanMessage(REPLAN.format(step=failed["step"], specialist=failed["specialist"], input=failed["input"],
                                      error=failed["error"], done=done or "(none)", first=first))
    return plan_with_model(ctx, model, text, registered, available, first=first, earlier=[told])
