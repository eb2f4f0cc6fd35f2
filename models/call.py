"""The model-call engine: the only door to a model.

:meth:`ModelCaller.call` asks :mod:`models.routing` which models to try, retries
transient failures with backoff, repairs or escalates invalid structured output and
oversize prompts, falls back along the chain, and writes one ledger row per attempt
(inserted as it starts, completed as it ends). Its collaborators are explicit: the
settings, the model pool, the ledger, and where its events (notices, retractions) go.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage

from models import routing, toolcalls
from models.chunks import merge
from models.events import stream_event
from models.failures import DeadlineError, StructuredOutputError, TruncatedStreamError, classify, error_class
from models.fit import fit_to_context
from models.registry import ModelPool, structured_options
from models.repetition import RepetitionGuard, loop_notice
from models.spec import ModelSpec
from models.structured import Schema, repair_prompt, schema_dict, validate
from models.tokens import count_tokens
from models.tool_binding import Tools
from podium.errors import Cancelled, ConfigError, ContextOverflowError, ModelError, PodiumError
from podium.settings import Settings

if TYPE_CHECKING:
    from models.ledger import Ledger

Notify = Callable[..., None]
"""Receives ``(kind, **data)`` events: ``notice`` (text for the user) and ``retract`` (take back streamed text)."""


@dataclass(frozen=True)
class CallSite:
    """Who is calling and with which models: a graph node of one turn of one thread."""

    node: str
    """The graph node calling (the ledger's ``node``)."""
    models: list[str]
    """Specs it may use, primary first; the policy orders them."""
    policy: str = ""
    """Routing policy (default: the settings')."""
    thread: str = ""
    """Thread id (dollar caps per thread, the ledger's ``thread``)."""
    turn: str = ""
    """Turn id (the ledger's ``turn``)."""


@dataclass
class _Attempt:
    """One call in flight: its ledger row and what has streamed so far."""

    call_id: int
    started: float = field(default_factory=time.perf_counter)
    first: float | None = None
    chunks: list[AIMessageChunk] = field(default_factory=list)


class ModelCaller:
    """Calls models for one process: routing, retries, repairs, fallbacks and ledger rows."""

    def __init__(self, settings: Settings, models: ModelPool, ledger: Ledger | None = None,
                 notify: Notify = stream_event) -> None:
        self.settings = settings
        self.models = models
        """Lazily built models, shared across turns."""
        self.ledger = ledger
        """Where every attempt is recorded (``None``: nowhere, for structure tests)."""
        self.notify = notify

    def spec(self, spec: str) -> ModelSpec:
        """The described model (cached by the pool)."""
        return self.models.spec(spec)

    def model(self, spec: str) -> BaseChatModel:
        """The built chat model (cached by the pool)."""
        return self.models.model(spec)

    def check_fit(self, models: list[str], messages: list[BaseMessage]) -> None:
        """Raise only when no model of ``models`` can hold ``messages``: the first overflow, else the first model
        that cannot be used at all (an OpenAI model without a key, when no fallback can answer either)."""
        first: ContextOverflowError | None = None
        unusable: PodiumError | None = None
        for spec_str in models:
            spec = self.spec(spec_str)
            try:
                budget = spec.context_length - self.settings.max_tokens
                fit_to_context(self.model(spec.spec), messages, budget, model_name=spec.spec)
                return
            except ContextOverflowError as exc:
                first = first or exc
            except PodiumError as exc:  # the turn falls back past it (with a notice) when another model can answer
                unusable = unusable or exc
        if first or unusable:
            raise first or unusable  # type: ignore[misc]

    def first_usable(self, models: list[str]) -> tuple[ModelSpec, BaseChatModel]:
        """The first of ``models`` that can be built (an OpenAI model without a key cannot) and its chat model:
        the one a prompt is trimmed for. Raises the first problem when none can."""
        first: PodiumError | None = None
        for spec_str in models:
            try:
                spec = self.spec(spec_str)
                return spec, self.model(spec.spec)
            except PodiumError as exc:
                first = first or exc
        raise first or PodiumError("no model configured", hint="set PODIUM_MODEL or pass --model")

    def call(self, site: CallSite, messages: list[BaseMessage], *, schema: Schema | None = None,
             tools: Tools | Sequence[Any] | None = None, **options: Any) -> AIMessage:
        """Stream one answer for ``site`` from its routed chain, recording every attempt in the ledger.

        Tokens reach LangGraph's ``messages`` stream through the model's callbacks. With
        ``schema`` (a pydantic model or a JSON schema) the answer is constrained where the
        provider can, validated, repaired up to ``PODIUM_STRUCTURED_REPAIRS`` times, and
        escalated to the next model when still invalid; the parsed object is in
        ``reply.additional_kwargs["parsed"]``. With ``tools`` each model gets them through its
        own ``bind_tools``; a reply that ignores a required ``tool_choice`` or holds malformed
        calls is repaired and escalated the same way (a plain list of tools, with an OpenAI-style
        ``tool_choice`` option, is taken as :class:`Tools`). Other ``options`` go to the model.
        """
        if tools is not None and not isinstance(tools, Tools):
            listed = list(tools)
            try:
                picked = toolcalls.choice(options.pop("tool_choice", None), Tools(listed).names())
            except ValueError as exc:
                raise ConfigError(str(exc), setting="tool_choice", hint="name one of the tools sent") from exc
            tools = Tools(listed, choice=picked)

        def prompt_tokens(spec: ModelSpec) -> int:  # only asked when a dollar cap needs a worst-case estimate
            try:
                return self.model(spec.spec).get_num_tokens_from_messages(messages)
            except PodiumError:  # a model that cannot be built fails (and is recorded) when its turn comes
                return sum(count_tokens(m.text if isinstance(m.text, str) else str(m.content)) + 4 for m in messages)

        route = routing.plan(self.settings, self.models, self.ledger, models=site.models,
                             policy=site.policy or self.settings.policy, thread=site.thread,
                             prompt_tokens=prompt_tokens, node=site.node)
        for text in route.notices:
            self.notify("notice", text=text)
        for index, spec in enumerate(route.candidates):
            after = route.candidates[index + 1] if index + 1 < len(route.candidates) else None
            try:
                reply = self._answer(site, spec, messages, options, schema, after, route.notes.get(spec.spec), tools)
            except Cancelled:
                raise
            except PodiumError as error:
                if after is None:
                    raise _final(error) from error
                verb = "escalating" if spec.local and not after.local else "falling back"
                self.notify("notice", text=f"{error.one_line()}; {verb} to {after.spec}")
                continue
            ending = ending_notice(reply, options)
            if ending:
                self.notify("notice", text=ending)
            return reply
        raise PodiumError("no model configured", hint="set PODIUM_MODEL or pass --model")

    def _answer(self, site: CallSite, spec: ModelSpec, messages: list[BaseMessage], options: dict[str, Any],
                schema: Schema | None, after: ModelSpec | None, note: str | None,
                tools: Tools | None = None) -> AIMessage:
        """Answer with one model: retry transient failures with backoff, repair invalid structured output."""
        settings, prompt = self.settings, list(messages)
        failures = repairs = 0
        as_dict = schema_dict(schema)
        call_options = {**options, **structured_options(spec, as_dict, settings)} if as_dict else options
        while True:
            attempt = _Attempt(self._start(site, spec, failures + repairs + 1, note))
            try:
                model = self.model(spec.spec)
                timeout_s = routing.timeout_for(settings, spec.provider)
                runnable = tools.bind(model, spec) if tools else model
                # the repetition guard is for free text: a plan or a record may repeat itself on purpose
                reply = _stream(runnable, spec, prompt, call_options, attempt, timeout_s,
                                free_text=tools is None and schema is None)
            except Cancelled as exc:  # a stop asked for: recorded, then up at once (no retry, fallback, retraction)
                self._finish_failed(spec, prompt, attempt, exc, exc, "failed")
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded
                error = classify(exc, provider=spec.provider, model=spec.spec, base_url=spec.extra.get("base_url"))
                failures += 1
                if spec.local and isinstance(error, ModelError):
                    error.retryable = False  # a local failure is not a network hiccup: retrying redoes the same work
                delay = routing.retry_delay(settings, failures, error)
                self._finish_failed(spec, prompt, attempt, exc, error,
                                    "retried" if delay is not None else "fell_back" if after else "failed")
                if delay is not None or after is not None:  # something follows: its answer replaces this text
                    self._retract(site.node, attempt, options)
                if delay is None:
                    raise error from exc
                self.notify("notice", text=f"{error.message}; retrying {spec.spec} in {delay:.2f}s")
                time.sleep(delay)  # backoff between real network calls, not a test wait
                continue
            problem = validate(reply, schema, as_dict) if as_dict else tools.check(reply) if tools else None
            if problem is None:
                self._finish_ok(spec, model, prompt, attempt, reply)
                return reply
            repairs += 1
            what = "gave no valid tool call" if tools and not as_dict else "structured output invalid"
            error = StructuredOutputError(f"{spec.spec}: {what} after {repairs - 1} repairs: {problem}",
                                          provider=spec.provider, model=spec.spec,
                                          hint="a larger model in the chain (--fallback) follows schemas better")
            repairable = repairs <= settings.structured_repairs
            self._finish_ok(spec, model, prompt, attempt, reply,
                            outcome="retried" if repairable else "fell_back" if after else "failed", error=error)
            if not repairable:
                raise error
            repair = repair_prompt(problem, as_dict) if as_dict else tools.repair_prompt(problem) if tools else problem
            prompt = [*messages, AIMessage(reply.text), HumanMessage(repair)]

    def _retract(self, node: str, attempt: _Attempt, options: dict[str, Any]) -> None:
        """Tell front ends to take back the text a failed attempt already streamed (the retry starts afresh)."""
        if "nostream" in ((options.get("config") or {}).get("tags") or []):
            return
        shown = sum(len(c.content) for c in attempt.chunks if isinstance(c.content, str))
        if shown:
            self.notify("retract", node=node, chars=shown, text=f"discarded {shown} characters of a failed attempt")

    def _start(self, site: CallSite, spec: ModelSpec, attempt: int, note: str | None) -> int:
        if self.ledger is None:
            return 0
        return self.ledger.start(provider=spec.provider, model=spec.spec, turn=site.turn, thread=site.thread,
                                 node=site.node, attempt=attempt, note=note, endpoint=spec.extra.get("base_url"))

    def _finish_ok(self, spec: ModelSpec, model: Any, prompt: list[BaseMessage], attempt: _Attempt,
                   reply: AIMessage, *, outcome: str = "ok", error: PodiumError | None = None) -> None:
        ended = time.perf_counter()
        prompt_tokens, completion, source = _usage(model, prompt, reply)
        if source == "tokenizer":
            reply.usage_metadata = {"input_tokens": prompt_tokens or 0, "output_tokens": completion or 0,
                                    "total_tokens": (prompt_tokens or 0) + (completion or 0)}
        duration = ended - attempt.started
        gpu_s = float(reply.response_metadata.get("gpu_s") or (duration if spec.extra.get("remote_gpu") else 0.0))
        generating = ended - (attempt.first or attempt.started)
        if self.ledger:
            self.ledger.finish(
                attempt.call_id, outcome=outcome, prompt_tokens=prompt_tokens, completion_tokens=completion,
                finish_reason=reply.response_metadata.get("finish_reason"), token_source=source,
                ttft_s=(attempt.first - attempt.started) if attempt.first else None,
                duration_s=duration,
                tokens_per_s=completion / generating if completion and generating > 0 else None,
                cost_usd=_cost(spec, prompt_tokens, completion, gpu_s), gpu_s=gpu_s,
                error_class=type(error).__name__ if error else None, error=error.message if error else None,
            )

    def _finish_failed(self, spec: ModelSpec, prompt: list[BaseMessage], attempt: _Attempt,
                       exc: BaseException, error: PodiumError, outcome: str) -> None:
        if self.ledger is None:
            return
        prompt_tokens: int | None = None
        completion: int | None = None
        source = "unavailable"
        if isinstance(exc, ContextOverflowError):
            prompt_tokens, completion, source = exc.prompt_tokens, 0, "tokenizer"
        elif not isinstance(exc, ConfigError):
            try:
                partial = merge(attempt.chunks) if attempt.chunks else AIMessage(content="")
                prompt_tokens, completion, source = _usage(self.model(spec.spec), prompt, partial)
            except Exception:  # noqa: BLE001 - counting must never hide the original failure
                pass
        duration = time.perf_counter() - attempt.started
        # A serverless GPU bills its container's time whether or not the answer arrived (a cold start included).
        gpu_s = duration if spec.extra.get("remote_gpu") and not isinstance(exc, ConfigError) else 0.0
        # A request refused before any output is not billed; a stream that broke mid-answer may be.
        cost = _cost(spec, prompt_tokens, completion, gpu_s) if attempt.chunks or gpu_s else 0.0
        self.ledger.finish(
            attempt.call_id, outcome=outcome, error_class=error_class(exc), error=error.one_line()[:500],
            status=getattr(error, "status", None), retryable=int(bool(getattr(error, "retryable", False))),
            duration_s=duration, prompt_tokens=prompt_tokens, gpu_s=gpu_s,
            completion_tokens=completion, token_source=source, cost_usd=cost,
            ttft_s=(attempt.first - attempt.started) if attempt.first else None,
        )


def _stream(model: Any, spec: ModelSpec, prompt: list[BaseMessage], options: dict[str, Any],
            attempt: _Attempt, timeout_s: float, *, free_text: bool = True) -> AIMessage:
    # Free text only: constrained output (a grammar, a schema, bound tools) cannot loop past its grammar's end.
    constrained = not free_text or {"grammar", "response_format", "tools"} & set(options)
    guard = None if constrained else RepetitionGuard()
    stream = model.stream(prompt, **options)
    looped = False
    try:
        for chunk in stream:
            if attempt.first is None and (chunk.content or chunk.tool_call_chunks):
                attempt.first = time.perf_counter()
            attempt.chunks.append(chunk)
            if guard and isinstance(chunk.content, str) and guard.feed(chunk.content):
                looped = True
                break
            # The client's own timeout catches a silent server; this catches one that trickles forever.
            # A local model's clock starts at its first token: waiting in line for it is not a failure.
            since = (attempt.first or attempt.started) if spec.local else attempt.started
            if time.perf_counter() - since > timeout_s:
                raise DeadlineError(f"{spec.spec} took longer than {timeout_s:g}s")
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()  # releases a local model's lock at once when we stop early
    reply = merge(attempt.chunks)
    if looped:
        reply.response_metadata = {**reply.response_metadata, "finish_reason": "repetition",
                                   "repetition": list(guard.loop or ()) if guard else []}
    elif not spec.local and not reply.response_metadata.get("finish_reason"):
        raise TruncatedStreamError(f"{spec.spec}: the stream ended without a finish reason")
    reply.response_metadata = {**reply.response_metadata, "model": spec.spec}
    return reply


def ending_notice(reply: AIMessage, options: dict[str, Any]) -> str | None:
    """Say why a streamed answer ended early: cut at the token limit, or stopped in a repetition loop."""
    if "nostream" in ((options.get("config") or {}).get("tags") or []):
        return None  # not an answer the user sees (a tool plan)
    finish = reply.response_metadata.get("finish_reason")
    tokens = reply.usage_metadata.get("output_tokens") if reply.usage_metadata else None
    if finish == "repetition":
        block, copies = (reply.response_metadata.get("repetition") or [0, 0])[:2]
        return loop_notice(block, copies, tokens)
    if finish == "length":
        return (f"answer cut at {tokens} tokens (the token limit): raise PODIUM_MAX_TOKENS"
                if tokens else "answer cut at the token limit: raise PODIUM_MAX_TOKENS")
    return None


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


def _final(error: PodiumError) -> PodiumError:
    """The error the user sees when no model is left; an unreachable configured server is a setting to fix."""
    if isinstance(error, ModelError) and error.retryable and "OPENAI_BASE_URL=" in error.message:
        return ConfigError(error.message, setting="OPENAI_BASE_URL", hint=error.hint)
    return error
