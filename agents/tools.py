"""The tools specialist: chooses tool calls, runs them (after a human's approval where needed), answers.

Models with native tool calling get the allowed tools' schemas and loop until they
answer. Local models choose through a grammar built from the user's message
(:mod:`tools.local`) and the answer is a template around the results, because a 135M
model restating ``7006652`` is one more chance to get it wrong. Calls flagged
``needs_approval`` wait in the ``approval`` node, which pauses the graph with
``interrupt()`` until the user approves, edits or rejects them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents.common import call_model, last_user_text, model_chain, notify, say, this_turn
from agents.contract import Context, Rule, Specialist, State
from podium.errors import ModelError, PodiumError
from tools import select
from tools.approval import approval_request, compose, parse_decision
from tools.local import Plan, PlanFailed, plan, preselect
from tools.registry import Tool, format_args
from tools.runner import ToolEnv, new_call, record, run_calls

if TYPE_CHECKING:
    from models.spec import ModelSpec

SYSTEM = ("You are Podium's tools specialist. Use the tools for anything they can compute or look up; never "
          "guess a result. When the results arrive, answer in one or two sentences that state them.")
MAX_ROUNDS = 4
"""Model/tool round trips per turn before the model must answer (the loop guard's second half)."""
COPY_SPANS_BELOW = 1_000_000_000
"""Local models with fewer parameters (or unknown) may only copy argument values from the message."""
PLAN_TOKENS = 384
"""Room for a local model's JSON list of calls (the grammar ends it; this only bounds a runaway)."""
TOOLS = ("calculator", "convert_units", "current_time", "date_calc", "read_file", "list_files", "python",
         "knowledge_search")
"""The tools this specialist may call, in the order they are offered."""


def tools(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Plan and run this turn's tool calls, or answer from the results once they are in."""
    ctx = runtime.context
    allowed = select(TOOLS)
    spec = ctx.engine.spec(ctx.model_for("tools"))
    records = list(state.get("tool_calls") or [])
    if spec.tool_calling:
        return _native(ctx, state, records, allowed)
    if any(isinstance(m, ToolMessage) for m in this_turn(state["messages"])):
        return _answer(records, allowed)  # back from the approval node
    return _local(ctx, last_user_text(state), state, records, allowed)


def approval(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the user about each pending call (one ``interrupt`` each), then run what they approved."""
    ctx = runtime.context
    allowed = select(TOOLS)
    pending = pending_calls(state["messages"])
    # Every decision is collected before anything runs: a resume re-executes this node from the top.
    decisions = [parse_decision(interrupt(approval_request(call, allowed))) for call in pending]
    records = list(state.get("tool_calls") or [])
    done: dict[str, dict[str, Any]] = {}
    to_run = []
    for call, (action, args) in zip(pending, decisions, strict=True):
        if action == "reject":
            done[call["id"]] = record(call, error="rejected by the user; not run", approved=False)
        else:
            to_run.append({**call, "args": args if action == "edit" else call["args"]})
    for item in run_calls(to_run, allowed, _env(ctx), seen=_seen(records), approved=True):
        done[item["id"]] = item
    for item in done.values():
        notify("tool", node="approval", **item)
    merged = [done.get(r.get("id"), r) for r in records]
    return {"messages": [_tool_message(done[c["id"]]) for c in pending], "tool_calls": merged}


def _env(ctx: Context) -> ToolEnv:
    if ctx.tools is None:
        raise PodiumError("the tools specialist ran without a tool environment",
                          hint="build the run context with PodiumApp, which always has one")
    return ctx.tools


def pending_calls(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Calls of the turn's latest tool-calling message that have no result yet (they await approval)."""
    turn = this_turn(messages)
    answered = {m.tool_call_id for m in turn if isinstance(m, ToolMessage)}
    latest = next((m for m in reversed(turn) if isinstance(m, AIMessage) and m.tool_calls), None)
    return [c for c in (latest.tool_calls if latest else []) if c["id"] not in answered]


def _local(ctx: Context, question: str, state: State, records: list[dict[str, Any]],
           allowed: dict[str, Tool]) -> dict[str, Any]:
    chosen = _plan_with_escalation(ctx, question, allowed)
    if isinstance(chosen, str):  # escalated to a native tool caller; its results come back as a template answer
        return _native(ctx.using("tools", chosen), state, records, allowed)
    if chosen.answer_directly:
        prompt = [SystemMessage(ctx.options.system_prompt or ctx.settings.system_prompt), HumanMessage(question)]
        return {"messages": [call_model(ctx, "tools", prompt)]}
    return _act(ctx, AIMessage(content="", tool_calls=chosen.calls), records, allowed, template=True)


def _plan_with_escalation(ctx: Context, question: str, allowed: dict[str, Tool]) -> Plan | str:
    """A local plan from the first model that manages one, or the spec of a native tool caller to hand over to."""
    chain = model_chain(ctx, "tools")
    for index, spec_str in enumerate(chain):
        spec = ctx.engine.spec(spec_str)
        if spec.tool_calling:
            return spec_str
        try:
            return plan(question, allowed, _generator(ctx, spec), copy_spans=_copies_spans(spec))
        except PlanFailed as exc:
            following = f"; escalating to {chain[index + 1]}" if index + 1 < len(chain) else ""
            notify("notice", text=f"{spec_str} gave no valid tool call in {len(exc.attempts)} tries{following}")
    raise ModelError("no model produced a valid tool call for this request", model=chain[-1],
                     hint="configure a stronger model with --fallback (e.g. openai/gpt-4o-mini)")


def _copies_spans(spec: ModelSpec) -> bool:
    return int(spec.extra.get("parameters") or 0) < COPY_SPANS_BELOW


def _generator(ctx: Context, spec: ModelSpec) -> Any:
    only = ctx.using("tools", spec.spec, fallbacks=[])

    def generate(messages: list[BaseMessage], grammar: str) -> str:
        # The JSON is a means, not the answer: tagged so it never streams to the user as tokens.
        reply = call_model(only, "tools", messages, grammar=grammar, temperature=0.0, max_tokens=PLAN_TOKENS,
                           config={"tags": ["nostream"]})
        return reply.text
    return generate


def _native(ctx: Context, state: State, records: list[dict[str, Any]], allowed: dict[str, Tool]) -> dict[str, Any]:
    turn = this_turn(state["messages"])
    rounds = sum(1 for m in turn if isinstance(m, AIMessage) and (m.tool_calls or m.invalid_tool_calls))
    earlier = [m for m in state["messages"][:len(state["messages"]) - len(turn)]
               if m.type in ("human", "ai") and m.text and not getattr(m, "tool_calls", None)]
    options: dict[str, Any] = {}
    if rounds < MAX_ROUNDS:
        options["tools"] = [t.openai_schema() for t in allowed.values()]
        hits, _ = preselect(last_user_text(state), allowed)
        if rounds == 0 and len(hits) == 1:  # the rules are sure which tool: do not let the model wander
            options["tool_choice"] = {"type": "function", "function": {"name": next(iter(hits))}}
    else:
        notify("notice", text=f"stopped calling tools after {MAX_ROUNDS} rounds; answering from the results")
    reply = call_model(ctx, "tools", [SystemMessage(SYSTEM), *earlier, *turn], **options)
    if not reply.tool_calls and not reply.invalid_tool_calls:
        return {"messages": [reply]}
    return _act(ctx, reply, records, allowed, template=False)


def _act(ctx: Context, ai: AIMessage, records: list[dict[str, Any]], allowed: dict[str, Tool], *,
         template: bool) -> dict[str, Any]:
    """Run the safe calls of ``ai`` now (in parallel); leave the ones needing approval pending."""
    broken = {c["id"]: record(new_call(c.get("name") or "", {}, c.get("id")),
                              error=f"arguments are not valid JSON: {c.get('args')!r}")
              for c in ai.invalid_tool_calls}
    env = _env(ctx)
    # A tool that is off here (the sandbox cannot confine python) fails at once with its reason: nobody is asked.
    waits = {name for name, t in allowed.items() if t.needs_approval and not t.off_reason(env)}
    safe = [c for c in ai.tool_calls if c["name"] not in waits]
    done = {r["id"]: r for r in run_calls(safe, allowed, env, seen=_seen(records))} | broken
    for item in done.values():
        notify("tool", node="tools", **item)
    calls = [*ai.tool_calls, *ai.invalid_tool_calls]
    merged = records + [done.get(c["id"]) or record(c) for c in calls]
    messages: list[BaseMessage] = [ai, *[_tool_message(done[c["id"]]) for c in calls if c["id"] in done]]
    if template and len(done) == len(calls):
        messages.append(say("tools", compose(merged, allowed)))
    return {"messages": messages, "tool_calls": merged}


def _answer(records: list[dict[str, Any]], allowed: dict[str, Tool]) -> dict[str, Any]:
    return {"messages": [say("tools", compose(records, allowed))]}


def _seen(records: list[dict[str, Any]]) -> set[str]:
    """Keys of calls already run this turn (for the loop guard)."""
    return {f"{r['name']}:{format_args(r['args'])}" for r in records if r.get("result") is not None}


def _tool_message(item: dict[str, Any]) -> ToolMessage:
    ok = item.get("error") is None
    return ToolMessage(content=item["result"] if ok else f"Error: {item['error']}", tool_call_id=item["id"],
                       name=item["name"], status="success" if ok else "error")


def after_tools(state: State) -> str:
    """A call awaiting approval pauses; fresh results go back to the model; an answer ends the turn."""
    messages = state.get("messages", [])
    if pending_calls(messages):
        return "approval"
    if messages and isinstance(messages[-1], ToolMessage):
        return "tools"
    return END


SPECIALIST = Specialist(
    name="tools",
    node=tools,
    description="arithmetic, unit conversions, the time, running python, reading workspace files",
    tools=TOOLS,
    examples=(
        "What is 56 times 12?", "calculate 18% of 3200", "Divide 250 by 5", "what's 9 squared",
        "square root of 625", "How much is 3 to the power of 7?", "compute 1200 / 16", "what is 2.5 * 4.8",
        "Work out 15% of 90.", "calculate the tip: 18% on $45", "What's 1000 minus 385?", "increase 80 by 12 percent",
        "Convert 10 kilometers to miles", "how many ounces in 2 kilograms", "What is 350 fahrenheit in celsius?",
        "convert 5 gallons to liters", "How many centimeters are in 6 feet?", "how many hours is 300 minutes",
        "What time is it in Paris?", "what's the current time in Sydney", "What is today's date in UTC?",
        "Which date falls 3 weeks after 2025-05-01?", "how long is it from 2025-01-01 until 2025-07-04 in days",
        "What weekday is 2030-12-25?", "Run this code: print(3 ** 20)", "execute python: print(len('podium'))",
        "List my workspace files", "read the file todo.md", "show me config.yaml", "Open notes/plan.txt",
        "wat is 81 divided by 3", "calc 45*19", "Find the factorial of 9.", "what's 4/7 as a decimal",
    ),
    rules=tuple(Rule(t.trigger, f"asks for {t.name}") for t in select(TOOLS).values() if t.trigger),
    helpers={"approval": approval},
    after=after_tools,
)
"""Computations and actions: each allowed tool's trigger is a routing rule; side effects wait in ``approval``."""
