"""How an evaluation gets text out of a model: raw completion on a local GGUF, or one chat turn.

Local GGUFs complete the benchmark's prompt as it is, like lm-evaluation-harness does by
default (base models have no chat template at all); ``--chat`` wraps it in the model's chat
template instead. Remote models answer one user message. Remote calls are recorded in the
cost ledger (node ``eval``) and retried on transient failures like any other call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import HumanMessage

from models import routing
from models.failures import classify
from models.spec import ModelSpec
from podium.settings import Settings

OPENAI_STOPS = 4
"""OpenAI's API takes at most four stop strings; the rest are applied to the text afterwards."""


@dataclass
class Generation:
    """One generated answer and what it cost."""

    text: str
    """The answer, cut at the first stop string."""
    prompt_tokens: int = 0
    """Tokens read."""
    completion_tokens: int = 0
    """Tokens written."""
    cost_usd: float | None = 0.0
    """Dollars (``None``: a remote model missing from the price table)."""


def cut_at_stops(text: str, stop: list[str]) -> str:
    """``text`` up to the earliest stop string."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


class LocalCompletion:
    """Raw completion on the provider's shared ``Llama`` (under its lock), greedy."""

    parallel = 1

    def __init__(self, loaded: Any, add_bos: bool) -> None:
        self.loaded = loaded
        self.add_bos = add_bos

    def generate(self, prompt: str, *, stop: list[str], max_tokens: int) -> Generation:
        """Complete ``prompt``; the oldest prompt tokens go first when it does not fit the context."""
        llm = self.loaded.llm
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=self.add_bos, special=False)
        room = llm.n_ctx() - max_tokens - 1
        tokens = tokens[-room:] if len(tokens) > room > 0 else tokens
        with self.loaded.lock:
            self.loaded.states.prepare(llm, tokens)
            out = llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0, stop=stop or None, seed=0)
        usage = out.get("usage") or {}
        return Generation(out["choices"][0]["text"], usage.get("prompt_tokens", len(tokens)),
                          usage.get("completion_tokens", 0), 0.0)


class ChatGeneration:
    """One user message to a chat model from the registry; remote calls are retried and recorded in the ledger."""

    def __init__(self, model: Any, spec: ModelSpec, settings: Settings, ledger: Any, label: str) -> None:
        self.model = model
        self.spec = spec
        self.settings = settings
        self.ledger = ledger
        self.label = label
        self.parallel = 1 if spec.local else 4

    def generate(self, prompt: str, *, stop: list[str], max_tokens: int) -> Generation:
        """Ask once (retrying transient failures with backoff) and cut the answer at the stop strings."""
        attempt = 0
        while True:
            attempt += 1
            call_id = self._start(attempt)
            started = time.perf_counter()
            try:
                sent = stop[:OPENAI_STOPS] if self.spec.provider == "openai" else stop
                reply = self.model.invoke([HumanMessage(prompt)], stop=sent or None, max_tokens=max_tokens,
                                          temperature=0.0)
            except Exception as exc:  # noqa: BLE001 - classified: retried, or raised as a one-line error
                error = classify(exc, provider=self.spec.provider, model=self.spec.spec,
                                 base_url=self.spec.extra.get("base_url"))
                delay = None if self.spec.local else routing.retry_delay(self.settings, attempt, error)
                self._finish(call_id, started, outcome="retried" if delay is not None else "failed",
                             error_class=type(exc).__name__, error=error.one_line()[:500])
                if delay is None:
                    raise error from exc
                time.sleep(delay)  # backoff between real network calls
                continue
            usage = reply.usage_metadata or {}
            prompt_tokens, completion = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
            cost = None if self.spec.extra.get("priced") is False else self.spec.cost(prompt_tokens, completion)
            self._finish(call_id, started, outcome="ok", prompt_tokens=prompt_tokens, completion_tokens=completion,
                         token_source="provider" if usage else "unavailable", cost_usd=cost)
            return Generation(cut_at_stops(reply.text, stop), prompt_tokens, completion, cost)

    def _start(self, attempt: int) -> int:
        if self.ledger is None:
            return 0
        return self.ledger.start(provider=self.spec.provider, model=self.spec.spec, turn=None,
                                 thread=f"eval:{self.label}", node="eval", attempt=attempt)

    def _finish(self, call_id: int, started: float, **fields: Any) -> None:
        if self.ledger is not None:
            self.ledger.finish(call_id, duration_s=time.perf_counter() - started, **fields)


def no_logprobs_notice(spec: ModelSpec, benchmark: str) -> str:
    """What the user is told when a multiple-choice benchmark has to be asked generatively."""
    return (f"{spec.spec} returns no log-probabilities: {benchmark} is asked generatively (answer with the letter "
            "of the option), labelled generative-mc; not comparable with log-likelihood scores")

