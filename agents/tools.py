"""The tools specialist: chooses tool calls, runs them (after a human's approval where needed), answers.

Every model gets the allowed tools through its own ``bind_tools`` (the engine binds them
to whichever model of the chain answers). Deterministic rules pick the candidates and the
``tool_choice`` (:mod:`tools.local`); models that take Podium's constrained-decoding
options (llama.cpp) also get few-shot examples and, under a billion parameters, a grammar
whose string arguments are spans of the user's message. Models without native tool
calling answer with a template around the results, because a 135M model restating
``7006652`` is one more chance to get it wrong; the others write the answer. Calls flagged
``needs_approval`` wait in the ``approval`` node, which pauses the graph with
``interrupt()`` until the user approves, edits or rejects them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolCall, ToolMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents.common import call_model, last_user_text, notify, say, this_turn
from agents.contract import Context, Rule, Specialist, State
from models.tool_binding import Tools
from podium.errors import PodiumError
from tools import select
from tools.approval import approval_request, compose, parse_decision
from tools.local import culprits, options_for, preselect, select_for
from tools.python_exec import beside_code, explicit_code
from tools.registry import Tool, format_args
from tools.runner import ToolEnv, invalid, new_call, record, run_calls

if TYPE_CHECKING:
    from models.spec import ModelSpec

SYSTEM = ("You are Podium's tools specialist. Use the tools for anything they can compute or look up; never "
          "guess a result. Copy arguments exactly from the user's message. When the results arrive, answer in "
          "one or two sentences that state them.")
MAX_ROUNDS = 4
"""Model/tool round trips per turn before the model must answer (the loop guard's second half)."""
REPAIRS = 2
"""Rounds a template-answered model gets after calls that failed validation (the bad value left out)."""
COPY_SPANS_BELOW = 1_000_000_000
"""Constrained models with fewer parameters (or unknown) may only copy argument values from the message."""
TOOLS = ("calculator", "convert_units", "current_time", "date_calc", "read_file", "list_files", "python",
         "knowledge_search")
"""The tools this specialist may call, in the order they are offered."""


def tools(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the model for this turn's tool calls and run them, or answer from the results once they are in."""
    ctx = runtime.context
    allowed = select(TOOLS)
    records = list(state.get("tool_calls") or [])
    turn = this_turn(state["messages"])
    code = explicit_code(last_user_text(state)) if "python" in allowed else None
    if code and not any(isinstance(m, (ToolMessage, AIMessage)) for m in turn):
        # "Run this python code: ..." is a rule, not a choice: the code goes to approval verbatim, on every model;
        # what else the message asks for ("What is 3*7? Then run this python code: ...") is planned beside it.
        call = _with_others(ctx, last_user_text(state), new_call("python", {"code": code}), allowed)
        return _act(ctx, call, records, allowed, template=_by_template(ctx, call))
    caller = next((m for m in reversed(turn) if isinstance(m, AIMessage) and m.tool_calls), None)
    if caller is not None and _by_template(ctx, caller):
        latest = [r for r in records if r.get("id") in {c["id"] for c in caller.tool_calls}]
        if not (any(invalid(r) for r in latest) and _rounds(turn) <= REPAIRS):
            return _answer(latest, allowed)  # back from running (or approving) the calls
    return _ask(ctx, state, turn, records, allowed)


def approval(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the user about each pending call (one ``interrupt`` each), then run what they approved."""
    ctx = runtime.context
    allowed = select(TOOLS)
    pending = pending_calls(state["messages"])
    # Every decision is collected before anything runs: a resume re-executes this node from the top.
    decisions = [parse_decision(interrupt(approval_request(call, allowed))) for call in pending]
    records = list(state.get("tool_calls") or [])
    done: dict[str | None, dict[str, Any]] = {}  # by call id, which LangChain's ToolCall allows to be None
    to_run: list[dict[str, Any]] = []
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


def pending_calls(messages: Sequence[BaseMessage]) -> list[ToolCall]:
    """Calls of the turn's latest tool-calling message that have no result yet (they await approval)."""
    turn = this_turn(messages)
    answered = {m.tool_call_id for m in turn if isinstance(m, ToolMessage)}
    latest = next((m for m in reversed(turn) if isinstance(m, AIMessage) and m.tool_calls), None)
    return [c for c in (latest.tool_calls if latest else []) if c["id"] not in answered]


def _rounds(turn: list[BaseMessage]) -> int:
    return sum(1 for m in turn if isinstance(m, AIMessage) and (m.tool_calls or m.invalid_tool_calls))


def _by_template(ctx: Context, reply: AIMessage) -> bool:
    """Whether the model that made ``reply``'s calls has its answer written by a template (no native tool calling)."""
    spec = ctx.engine.spec(reply.response_metadata.get("model") or ctx.model_for("tools"))
    return not spec.tool_calling


def _small(spec: ModelSpec) -> bool:
    return int(spec.extra.get("parameters") or 0) < COPY_SPANS_BELOW


def _ask(ctx: Context, state: State, turn: list[BaseMessage], records: list[dict[str, Any]],
         allowed: dict[str, Tool]) -> dict[str, Any]:
    """One model call with the tools bound: the calls it makes are run, its text is the answer."""
    question = last_user_text(state)
    rounds = _rounds(turn)
    earlier = [m for m in state["messages"][:len(state["messages"]) - len(turn)]
               if m.type in ("human", "ai") and m.text and not getattr(m, "tool_calls", None)]
    options: dict[str, Any] = {}
    if rounds < MAX_ROUNDS:
        selection = select_for(question, allowed)
        choice = selection.choice if rounds == 0 else "auto"  # the rules are sure only about the first call
        per_model = options_for(question, selection, _small, culprits(records, allowed))
        options["tools"] = Tools([t.openai_schema() for t in selection.tools.values()], choice, per_model)
    else:
        notify("notice", text=f"stopped calling tools after {MAX_ROUNDS} rounds; answering from the results")
    # Once every call so far failed, the model's next words are held back: an answer without a result
    # would state the model's own figure (a rejected "12% of 250 = 7.8%"), not a computed one.
    unverified = bool(records) and all(r.get("result") is None for r in records)
    if unverified:
        options["config"] = {"tags": ["nostream"]}
    reply = call_model(ctx, "tools", [SystemMessage(SYSTEM), *earlier, *turn], **options)
    if reply.response_metadata.get("finish_reason") == "length" and (reply.tool_calls or reply.invalid_tool_calls):
        return {"messages": [say("tools", _cut_call(reply))]}  # a call cut mid-arguments never runs
    if not reply.tool_calls and not reply.invalid_tool_calls:
        if unverified:
            notify("notice", text=f"{reply.response_metadata.get('model', 'the model')} answered without a tool "
                                  "result; showing what the tools said instead")
            return _answer(records, allowed)
        return {"messages": [reply]}
    return _act(ctx, reply, records, allowed, template=_by_template(ctx, reply), rounds=rounds)


def _with_others(ctx: Context, message: str, code_call: dict[str, Any], allowed: dict[str, Tool]) -> AIMessage:
    """The code's call, after the calls the message's other requests need (none asked for: no model call)."""
    rest = beside_code(message)
    others = {name: t for name, t in allowed.items() if name != "python"}
    if preselect(rest, others)[1]:  # no other tool's trigger in what the message says besides the code
        return AIMessage(content="", tool_calls=[code_call])
    selection = select_for(rest, others)
    bound = Tools([t.openai_schema() for t in selection.tools.values()], selection.choice,
                  options_for(rest, selection, _small))
    plan = call_model(ctx, "tools", [SystemMessage(SYSTEM), HumanMessage(rest)], tools=bound)
    if plan.response_metadata.get("finish_reason") == "length" and (plan.tool_calls or plan.invalid_tool_calls):
        notify("notice", text=_cut_call(plan))
        return AIMessage(content="", tool_calls=[code_call])
    return AIMessage(content="", tool_calls=[*plan.tool_calls, code_call], invalid_tool_calls=plan.invalid_tool_calls,
                     response_metadata=plan.response_metadata)


def _act(ctx: Context, ai: AIMessage, records: list[dict[str, Any]], allowed: dict[str, Tool], *,
         template: bool, rounds: int = 0) -> dict[str, Any]:
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
    repair = any(invalid(r) for r in done.values()) and rounds + 1 <= REPAIRS
    if template and len(done) == len(calls) and not repair:
        messages.append(say("tools", compose([done[c["id"]] for c in calls], allowed)))
    return {"messages": messages, "tool_calls": merged}


def _cut_call(reply: AIMessage) -> str:
    """The answer when the token limit cut a tool call short: its arguments are incomplete, so it did not run."""
    tokens = reply.usage_metadata["output_tokens"] if reply.usage_metadata else None
    at = f"at {tokens} tokens" if tokens else "at the token limit"
    called = [c["name"] for c in reply.tool_calls] + [c.get("name") or "a tool" for c in reply.invalid_tool_calls]
    names = ", ".join(dict.fromkeys(called))
    return (f"The call of {names} was cut {at} (the answer limit) before its arguments were complete, so it was "
            "not run. Raise the limit (PODIUM_MAX_TOKENS, or Max tokens in the app's settings) and ask again.")


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
