"""How the engine reaches a model: structured rows, free text, and raw completions on local models.

Every call goes through the routing layer's one door (``call_model``): the fallback
chain, retries with backoff, structured-output repair, and one ledger row per attempt.
The dataset run is its own ledger thread (``datagen-<id>``), so its cost is one query
and ``podium usage --thread`` shows it. Raw completions (Magpie) go straight to the
shared local llama.cpp instance, which chat-only servers cannot offer.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from models.spec import ModelSpec
from podium.errors import ConfigError

NODE = "datasets"
"""The specialist name dataset calls are recorded under."""


@dataclass
class BatchCall:
    """One structured call of a batch: its messages, JSON schema and sampling."""

    messages: list[BaseMessage]
    schema: dict[str, Any]
    temperature: float
    seed: int


Answer = tuple[dict[str, Any] | None, AIMessage, str | None]
"""A batched structured answer: ``(parsed, reply, problem)``, ``parsed`` None when the JSON broke its schema."""


class Backend:
    """One model chain for one dataset run (built by the CLI, the app or the datasets specialist)."""

    def __init__(self, ctx: Any, call: Any, node: str = NODE) -> None:
        """``ctx`` is the run context (engine, ledger, settings, options); ``call`` is ``call_model``."""
        self.ctx, self._call, self.node = ctx, call, node
        if not ctx.thread_id:
            ctx.thread_id = f"datagen-{uuid.uuid4().hex[:12]}"
        self.spec: ModelSpec = ctx.engine.spec(ctx.model_for(node))

    @property
    def thread_id(self) -> str:
        """The ledger thread the run's calls are recorded under."""
        return str(self.ctx.thread_id)

    def structured(self, messages: list[BaseMessage], schema: dict[str, Any], **options: Any) -> tuple[dict, Any]:
        """One JSON object matching ``schema`` (grammar-constrained locally, ``response_format`` remotely)."""
        reply = self._call(self.ctx, self.node, messages, schema=schema, config={"tags": ["nostream"]}, **options)
        return reply.additional_kwargs["parsed"], reply

    def text(self, messages: list[BaseMessage], **options: Any) -> tuple[str, Any]:
        """A free-text answer."""
        reply = self._call(self.ctx, self.node, messages, config={"tags": ["nostream"]}, **options)
        return reply.text.strip(), reply

    def cost(self, reply: Any) -> float | None:
        """USD a reply cost at its model's prices (None when the model has no price)."""
        usage = getattr(reply, "usage_metadata", None) or {}
        spec_name = (getattr(reply, "response_metadata", None) or {}).get("model") or self.spec.spec
        spec = self.ctx.engine.spec(spec_name)
        if not spec.local and spec.extra.get("priced") is False:
            return None
        return spec.cost(usage.get("input_tokens") or 0, usage.get("output_tokens") or 0)

    def spent(self) -> float:
        """USD every call of this run has cost so far, failed attempts included (from the ledger)."""
        ledger = self.ctx.ledger
        return ledger.spent(thread=self.thread_id) if ledger is not None else 0.0

    def worst_cost(self, prompt_tokens: int, max_tokens: int) -> float:
        """The most one call can cost (for ``--max-cost``)."""
        return self.spec.cost(prompt_tokens, max_tokens)

    # -- local models: batches and raw completions ---------------------------------------------

    def batchable(self) -> bool:
        """Whether rows may be decoded together (llama.cpp's multi-sequence batching): the chain's first model is a
        local llama.cpp one (with fallbacks, only under the local-first policy, which tries it first)."""
        if self.spec.provider != "llamacpp":
            return False
        return not self.ctx.fallbacks or (self.ctx.options.policy or self.ctx.settings.policy) == "local-first"

    def structured_batch(self, calls: list[BatchCall], *, max_tokens: int) -> list[Answer]:
        """Structured answers to many calls decoded together on the local model (:func:`models.batch.complete_batch`
        with one grammar per call), one ledger row each. At temperature 0 each answer is the one :meth:`structured`
        gives first; an answer that breaks its schema comes back with the problem, for the caller to repair."""
        from models.batch import complete_batch
        from models.structured import validate
        from models.toolcalls import to_chat

        loaded, ledger = self._local(), self.ctx.ledger
        ids = [ledger.start(provider="llamacpp", model=self.spec.spec, turn=self.ctx.turn_id, thread=self.thread_id,
                            node=self.node, attempt=1, note=f"batch of {len(calls)}") if ledger else 0
               for _ in calls]
        started = time.perf_counter()
        try:
            done = complete_batch(loaded, [to_chat(c.messages) for c in calls], max_tokens=max_tokens,
                                  temperature=[c.temperature for c in calls], seed=[c.seed for c in calls],
                                  grammar=[c.schema for c in calls])
        except Exception as exc:
            for call_id in ids if ledger else ():
                ledger.finish(call_id, outcome="failed", error_class=type(exc).__name__, error=str(exc)[:500],
                              duration_s=time.perf_counter() - started)
            raise
        duration = time.perf_counter() - started
        answers: list[Answer] = []
        for call, completion, call_id in zip(calls, done, ids, strict=True):
            reply = AIMessage(completion.text, usage_metadata={
                "input_tokens": completion.prompt_tokens, "output_tokens": completion.completion_tokens,
                "total_tokens": completion.prompt_tokens + completion.completion_tokens},
                response_metadata={"model": self.spec.spec, "finish_reason": completion.finish_reason})
            problem = validate(reply, None, call.schema)
            answers.append((reply.additional_kwargs.get("parsed"), reply, problem))
            if ledger:
                ledger.finish(call_id, outcome="retried" if problem else "ok", prompt_tokens=completion.prompt_tokens,
                              completion_tokens=completion.completion_tokens, token_source="provider",
                              finish_reason=completion.finish_reason, duration_s=duration, cost_usd=0.0,
                              tokens_per_s=completion.completion_tokens / duration if duration else None,
                              error_class="StructuredOutputError" if problem else None, error=problem)
        return answers

    def _local(self) -> Any:
        if self.spec.provider != "llamacpp":
            raise ConfigError(f"--magpie needs raw completions from a local model; {self.spec.spec} only chats",
                              setting="--magpie", hint="use a llamacpp/... chat model, e.g. llamacpp/smollm2-135m")
        return self.ctx.engine.model(self.spec.spec).loaded()

    def render(self, messages: list[dict[str, str]]) -> str:
        """A chat rendered with the local model's own template, as text."""
        loaded = self._local()
        tokens, _ = loaded.render(messages)
        return loaded.llm.detokenize(tokens, special=True).decode("utf-8", errors="replace")

    def raw(self, prompt: str, *, max_tokens: int, temperature: float, seed: int) -> str:
        """Continue ``prompt`` verbatim (no template) until the model ends its turn; recorded in the ledger."""
        loaded = self._local()
        llm = loaded.llm
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        _, stop = loaded.render([{"role": "user", "content": "x"}])
        ledger, started = self.ctx.ledger, time.perf_counter()
        call_id = ledger.start(provider="llamacpp", model=self.spec.spec, turn=self.ctx.turn_id,
                               thread=self.thread_id, node=self.node, attempt=1, note="raw completion") \
            if ledger else 0
        with loaded.lock:
            loaded.states.prepare(llm, tokens)
            out = llm.create_completion(tokens, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                        stop=stop or None)
        usage = out.get("usage", {})
        if ledger:
            duration = time.perf_counter() - started
            ledger.finish(call_id, outcome="ok", prompt_tokens=usage.get("prompt_tokens"),
                          completion_tokens=usage.get("completion_tokens"), token_source="provider",
                          duration_s=duration, cost_usd=0.0,
                          tokens_per_s=(usage.get("completion_tokens") or 0) / duration if duration else None)
        return str(out["choices"][0]["text"])
