"""What every specialist shares: one guarded way to call a model, and context fitting.

:func:`call_model` is the only door to a model. It asks :mod:`models.routing` which
models to try, retries transient failures with backoff, repairs or escalates
invalid structured output and oversize prompts, falls back along the chain, and
writes one ledger row per attempt (inserted as it starts, completed as it ends).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langgraph.config import get_stream_writer
from pydantic import BaseModel, ValidationError

from models import routing
from models.failures import DeadlineError, StructuredOutputError, TruncatedStreamError, classify, error_class
from models.spec import ModelSpec
from podium.errors import ConfigError, ContextOverflowError, ModelError, PodiumError

if TYPE_CHECKING:
    from graph.context import Context

REPAIR_PROMPT = ("Your previous answer is not valid: {problem}. Reply again with only a JSON object "
                 "that matches this JSON schema:\n{schema}")


def notify(kind: str, **data: Any) -> None:
    """Send an event on the graph's custom stream (shown live in the CLI, the UI and traces)."""
    try:
        get_stream_writer()({"kind": kind, **data})
    except RuntimeError:  # called outside a graph run (unit tests of a helper)
        pass


def fit_to_context(model: Any, messages: list[BaseMessage], budget: int, *,
                   model_name: str = "") -> tuple[list[BaseMessage], int]:
    """Drop the oldest conversation turns until ``messages`` fit ``budget`` tokens.

    System messages and the last message always stay; returns the fitted list and
    how many messages were dropped. Raises :class:`ContextOverflowError` when even
    that minimum does not fit.
    """
    def count(msgs: list[BaseMessage]) -> int:
        return model.get_num_tokens_from_messages(msgs)

    if count(messages) <= budget:
        return messages, 0
    pinned = [m for m in messages[:-1] if isinstance(m, SystemMessage)]
    history = [m for m in messages[:-1] if not isinstance(m, SystemMessage)]
    last = messages[-1]
    dropped = 0
    while history and count([*pinned, *history, last]) > budget:
        history.pop(0)
        dropped += 1
        while history and history[0].type != "human":  # never start on an orphaned answer
            history.pop(0)
            dropped += 1
    fitted = [*pinned, *history, last]
    tokens = count(fitted)
    if tokens > budget:
        raise ContextOverflowError(tokens, budget, model=model_name)
    return fitted, dropped


def model_chain(ctx: Context, node: str) -> list[str]:
    """The specs a node may use this turn, primary first (before the policy orders them)."""
    return routing.chain(ctx.model_for(node), ctx.fallbacks)


def check_fit(ctx: Context, node: str, messages: list[BaseMessage]) -> None:
    """Raise :class:`ContextOverflowError` only when no model in the node's chain can hold ``messages``."""
    first: ContextOverflowError | None = None
    for spec_str in model_chain(ctx, node):
        spec = ctx.models.spec(spec_str)
        try:
            budget = spec.context_length - ctx.settings.max_tokens
            fit_to_context(ctx.models.model(spec.spec), messages, budget, model_name=spec.spec)
            return
        except ContextOverflowError as exc:
            first = first or exc
    if first:
        raise first


@dataclass
class _Attempt:
    """One call in flight: its ledger row and what has streamed so far."""

    call_id: int
    started: float = field(default_factory=time.perf_counter)
    first: float | None = None
    chunks: list[AIMessageChunk] = field(default_factory=list)


def call_model(ctx: Context, node: str, messages: list[BaseMessage], *,
               schema: type[BaseModel] | dict | None = None, **options: Any) -> AIMessage:
    """Stream one answer for ``node`` from its routed model chain, recording every attempt in the ledger.

    Tokens reach LangGraph's ``messages`` stream through the model's callbacks. With
    ``schema`` (a pydantic model or a JSON schema) the answer is constrained where the
    provider can, validated, repaired up to ``PODIUM_STRUCTURED_REPAIRS`` times, and
    escalated to the next model when still invalid; the parsed object is in
    ``reply.additional_kwargs["parsed"]``. Other ``options`` go to the model.
    """
    settings = ctx.settings

    def prompt_tokens(spec: ModelSpec) -> int:  # only asked when a dollar cap needs a worst-case estimate
        try:
            return ctx.models.model(spec.spec).get_num_tokens_from_messages(messages)
        except PodiumError:  # a model that cannot be built fails (and is recorded) when its turn comes
            from models.openai import count_tokens

            return sum(count_tokens(m.text if isinstance(m.text, str) else str(m.content)) + 4 for m in messages)

    route = routing.plan(settings, ctx.models, ctx.ledger, models=model_chain(ctx, node),
                         policy=ctx.policy or settings.policy, thread=ctx.thread_id, prompt_tokens=prompt_tokens,
                         node=node)
    for text in route.notices:
        notify("notice", text=text)
    for index, spec in enumerate(route.candidates):
        after = route.candidates[index + 1] if index + 1 < len(route.candidates) else None
        try:
            return _answer(ctx, node, spec, messages, options, schema, after, route.notes.get(spec.spec))
        except PodiumError as error:
            if after is None:
                raise _final(error) from error
            verb = "escalating" if spec.local and not after.local else "falling back"
            notify("notice", text=f"{error.one_line()}; {verb} to {after.spec}")
    raise PodiumError("no model configured", hint="set PODIUM_MODEL or pass --model")


def _answer(ctx: Context, node: str, spec: ModelSpec, messages: list[BaseMessage], options: dict[str, Any],
            schema: type[BaseModel] | dict | None, after: ModelSpec | None, note: str | None) -> AIMessage:
    """Answer with one model: retry transient failures with backoff, repair invalid structured output."""
    settings, prompt = ctx.settings, list(messages)
    failures = repairs = 0
    schema_dict = _schema_dict(schema)
    call_options = {**options, **_constrain(spec, schema_dict, settings)} if schema_dict else options
    while True:
        attempt = _Attempt(_start(ctx, node, spec, failures + repairs + 1, note))
        try:
            model = ctx.models.model(spec.spec)
            timeout_s = routing.timeout_for(settings, spec.provider)
            reply = _stream(model, spec, prompt, call_options, attempt, timeout_s)
        except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded
            base_url = spec.extra.get("base_url")
            error = classify(exc, provider=spec.provider, model=spec.spec, base_url=base_url)
            failures += 1
            if spec.local and isinstance(error, ModelError):
                error.retryable = False  # a local failure is not a network hiccup: retrying redoes the same work
            delay = routing.retry_delay(settings, failures, error)
            _finish_failed(ctx, spec, prompt, attempt, exc, error,
                           "retried" if delay is not None else "fell_back" if after else "failed")
            if delay is not None or after is not None:  # something follows: its answer replaces this text
                _retract(node, attempt, options)
            if delay is None:
                raise error from exc
            notify("notice", text=f"{error.message}; retrying {spec.spec} in {delay:.2f}s")
            time.sleep(delay)  # backoff between real network calls, not a test wait
            continue
        problem = _validate(reply, schema, schema_dict) if schema_dict else None
        if problem is None:
            _finish_ok(ctx, spec, model, prompt, attempt, reply)
            return reply
        repairs += 1
        error = StructuredOutputError(f"{spec.spec}: structured output invalid after {repairs - 1} repairs: "
                                      f"{problem}", provider=spec.provider, model=spec.spec,
                                      hint="a larger model in the chain (--fallback) follows schemas better")
        repairable = repairs <= settings.structured_repairs
        _finish_ok(ctx, spec, model, prompt, attempt, reply,
                   outcome="retried" if repairable else "fell_back" if after else "failed", error=error)
        if not repairable:
            raise error
        prompt = [*messages, AIMessage(reply.text), HumanMessage(REPAIR_PROMPT.format(
            problem=problem, schema=json.dumps(schema_dict)))]


def _retract(node: str, attempt: _Attempt, options: dict[str, Any]) -> None:
    """Tell front ends to take back the text a failed attempt already streamed (the retry starts afresh)."""
    if "nostream" in ((options.get("config") or {}).get("tags") or []):
        return
    shown = sum(len(c.content) for c in attempt.chunks if isinstance(c.content, str))
    if shown:
        notify("retract", node=node, chars=shown, text=f"discarded {shown} characters of a failed attempt")


def _stream(model: Any, spec: ModelSpec, prompt: list[BaseMessage], options: dict[str, Any],
            attempt: _Attempt, timeout_s: float) -> AIMessage:
    stream = model.stream(prompt, **options)
    try:
        for chunk in stream:
            if attempt.first is None and (chunk.content or chunk.tool_call_chunks):
                attempt.first = time.perf_counter()
            attempt.chunks.append(chunk)
            # The client's own timeout catches a silent server; this catches one that trickles forever.
            # A local model's clock starts at its first token: waiting in line for it is not a failure.
            since = (attempt.first or attempt.started) if spec.local else attempt.started
            if time.perf_counter() - since > timeout_s:
                raise DeadlineError(f"{spec.spec} took longer than {timeout_s:g}s")
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()  # releases a local model's lock at once when we stop early
    reply = _merge(attempt.chunks)
    if not spec.local and not reply.response_metadata.get("finish_reason"):
        raise TruncatedStreamError(f"{spec.spec}: the stream ended without a finish reason")
    reply.response_metadata = {**reply.response_metadata, "model": spec.spec}
    return reply


def _start(ctx: Context, node: str, spec: ModelSpec, attempt: int, note: str | None) -> int:
    if ctx.ledger is None:
        return 0
    return ctx.ledger.start(provider=spec.provider, model=spec.spec, turn=ctx.turn_id, thread=ctx.thread_id,
                            node=node, attempt=attempt, note=note)


def _usage(model: Any, prompt: list[BaseMessage], reply: AIMessage) -> tuple[int | None, int | None, str]:
    """Token counts: the provider's when it reported them, else the model's tokenizer; never a silent zero."""
    usage = reply.usage_metadata
    if usage and (usage.get("input_tokens") or usage.get("output_tokens")):
        return usage.get("input_tokens", 0), usage.get("output_tokens", 0), "provider"
    try:
        text = reply.text + (json.dumps([c["args"] for c in reply.tool_calls]) if reply.tool_calls else "")
        completion = model.get_num_tokens(text) if text else 0
        return model.get_num_tokens_from_messages(prompt), completion, "tokenizer"
    except Exception:  # noqa: BLE001 - a model without a tokenizer: record "unknown", not zero
        return None, None, "unavailable"


def _cost(spec: ModelSpec, prompt: int | None, completion: int | None, gpu_s: float) -> float | None:
    if not spec.local and spec.extra.get("priced") is False and not spec.extra.get("price_gpu_second"):
        return None  # a remote model missing from the price table: unknown, not free
    return spec.cost(prompt or 0, completion or 0) + gpu_s * spec.extra.get("price_gpu_second", 0.0)


def _finish_ok(ctx: Context, spec: ModelSpec, model: Any, prompt: list[BaseMessage], attempt: _Attempt,
               reply: AIMessage, *, outcome: str = "ok", error: PodiumError | None = None) -> None:
    ended = time.perf_counter()
    prompt_tokens, completion, source = _usage(model, prompt, reply)
    if source == "tokenizer":
        reply.usage_metadata = {"input_tokens": prompt_tokens, "output_tokens": completion,  # type: ignore[typeddict-item]
                                "total_tokens": (prompt_tokens or 0) + (completion or 0)}
    duration = ended - attempt.started
    gpu_s = float(reply.response_metadata.get("gpu_s") or (duration if spec.extra.get("remote_gpu") else 0.0))
    generating = ended - (attempt.first or attempt.started)
    if ctx.ledger:
        ctx.ledger.finish(
            attempt.call_id, outcome=outcome, prompt_tokens=prompt_tokens, completion_tokens=completion,
            token_source=source, ttft_s=(attempt.first - attempt.started) if attempt.first else None,
            duration_s=duration,
            tokens_per_s=completion / generating if completion and generating > 0 else None,
            cost_usd=_cost(spec, prompt_tokens, completion, gpu_s), gpu_s=gpu_s,
            error_class=type(error).__name__ if error else None, error=error.message if error else None,
        )


def _finish_failed(ctx: Context, spec: ModelSpec, prompt: list[BaseMessage], attempt: _Attempt,
                   exc: BaseException, error: PodiumError, outcome: str) -> None:
    if ctx.ledger is None:
        return
    prompt_tokens, completion, source = None, None, "unavailable"
    if isinstance(exc, ContextOverflowError):
        prompt_tokens, completion, source = exc.prompt_tokens, 0, "tokenizer"
    elif not isinstance(exc, ConfigError):
        try:
            model = ctx.models.model(spec.spec)
            partial = _merge(attempt.chunks) if attempt.chunks else AIMessage(content="")
            prompt_tokens, completion, source = _usage(model, prompt, partial)
        except Exception:  # noqa: BLE001 - counting must never hide the original failure
            pass
    # A request refused before any output is not billed; a stream that broke mid-answer may be.
    cost = _cost(spec, prompt_tokens, completion, 0.0) if attempt.chunks else 0.0
    ctx.ledger.finish(
        attempt.call_id, outcome=outcome, error_class=error_class(exc), error=error.one_line()[:500],
        status=getattr(error, "status", None), retryable=int(bool(getattr(error, "retryable", False))),
        duration_s=time.perf_counter() - attempt.started, prompt_tokens=prompt_tokens,
        completion_tokens=completion, token_source=source, cost_usd=cost,
        ttft_s=(attempt.first - attempt.started) if attempt.first else None,
    )


def _final(error: PodiumError) -> PodiumError:
    """The error the user sees when no model is left; an unreachable configured server is a setting to fix."""
    if isinstance(error, ModelError) and error.retryable and "OPENAI_BASE_URL=" in error.message:
        return ConfigError(error.message, setting="OPENAI_BASE_URL", hint=error.hint)
    return error


def _schema_dict(schema: type[BaseModel] | dict | None) -> dict[str, Any] | None:
    if schema is None or isinstance(schema, dict):
        return schema
    return schema.model_json_schema()


def _constrain(spec: ModelSpec, schema: dict[str, Any], settings: Any) -> dict[str, Any]:
    """Provider options that make a model emit JSON matching ``schema``, where it can."""
    if not spec.json_schema:
        return {}
    if spec.provider == "openai":
        from models.openai import response_format

        return {"response_format": response_format(schema, settings)}
    return {"response_format": {"type": "json_object", "schema": schema}}


def _validate(reply: AIMessage, schema: type[BaseModel] | dict | None,
              schema_dict: dict[str, Any]) -> str | None:
    """Parse and check a structured answer: store it in ``additional_kwargs['parsed']``, or return the problem."""
    text = reply.text.strip()
    if text.startswith("```"):  # a cheap local repair: models like to fence their JSON
        text = text.strip("`").removeprefix("json").strip()
    start, end = text.find("{"), text.rfind("}")
    text = text[start:end + 1] if start != -1 and end > start else text
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            parsed = schema.model_validate_json(text).model_dump(mode="json")
        else:
            import jsonschema

            parsed = json.loads(text)
            jsonschema.validate(parsed, schema_dict)
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()[:3])
    except Exception as exc:  # noqa: BLE001 - json and jsonschema errors alike
        return str(exc).splitlines()[0][:200] or type(exc).__name__
    reply.additional_kwargs["parsed"] = parsed
    return None


def _merge(chunks: list[AIMessageChunk]) -> AIMessage:
    if not chunks:
        return AIMessage(content="")
    fixed = _dedupe_tool_names(chunks)
    total = fixed[0]
    for chunk in fixed[1:]:
        total = total + chunk
    return AIMessage(content=total.content, usage_metadata=total.usage_metadata,
                     response_metadata=total.response_metadata, tool_calls=total.tool_calls,
                     invalid_tool_calls=total.invalid_tool_calls, id=total.id)


def _dedupe_tool_names(chunks: list[AIMessageChunk]) -> list[AIMessageChunk]:
    """Keep each streamed tool call's name and id from its first chunk only.

    OpenAI sends them once; llama-cpp-python's server repeats them in every chunk,
    which LangChain's chunk addition would concatenate into ``get_weatherget_weather``.
    """
    named: set[Any] = set()
    out = []
    for chunk in chunks:
        if not chunk.tool_call_chunks:
            out.append(chunk)
            continue
        fixed = []
        for part in chunk.tool_call_chunks:
            key = part.get("index")
            if key in named:
                part = {**part, "name": None, "id": None}
            elif part.get("name"):
                named.add(key)
            fixed.append(part)
        out.append(AIMessageChunk(content=chunk.content, tool_call_chunks=fixed, id=chunk.id,
                                  usage_metadata=chunk.usage_metadata,
                                  response_metadata=chunk.response_metadata))
    return out
