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
from typing import Any

from langchain_core.messages import BaseMessage

from models.spec import ModelSpec
from podium.errors import ConfigError

NODE = "datasets"
"""The specialist name dataset calls are recorded under."""


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

    # -- raw completions (local models) --------------------------------------------------------

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
