"""Log-likelihood of given continuations, batched, each shared context decoded once (multiple choice).

For each ``(context, continuations)`` request the context is decoded once into one sequence,
llama.cpp copies its cells to the other continuations' sequences, and the continuations of many
requests are decoded together. Tokens are split as
lm-evaluation-harness splits them: trailing spaces of the context move to the continuation, and
the continuation's tokens are those of ``context + continuation`` after the context's own tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.batch_engine import PARALLEL, Engine, budget, engine_for, loaded_of, model_name
from podium.errors import ConfigError, ContextOverflowError


@dataclass
class Score:
    """How likely a continuation is after its context."""

    logprob: float
    """Sum of the natural-log probabilities of the continuation's tokens."""
    greedy: bool
    """Whether every continuation token was the most likely one (greedy decoding would produce it)."""
    token_logprobs: list[float] = field(default_factory=list)
    """Log-probability of each continuation token."""
    tokens: list[int] = field(default_factory=list)
    """The continuation's token ids."""
    truncated: int = 0
    """Context tokens dropped from the left to fit the context window."""


@dataclass
class _Request:
    context: list[int]
    continuations: list[list[int]]
    truncated: int
    scores: list[Score] = field(default_factory=list)

    @property
    def cells(self) -> int:
        """KV cells of each of its sequences: the context, then a continuation but its last token."""
        return len(self.context) + max(len(c) for c in self.continuations) - 1


def _plan(loaded: Any, context: str, continuations: Sequence[str], n_ctx: int, name: str) -> _Request:
    llm = loaded.llm
    if not continuations:
        raise ConfigError("a request without continuations", setting="continuations", hint="give at least one choice")
    spaces = len(context) - len(context.rstrip())
    ctx, moved = (context[:-spaces], context[-spaces:]) if spaces else (context, "")
    ctx_tokens = llm.tokenize(ctx.encode("utf-8"), add_bos=True, special=False)
    conts = []
    for text in continuations:
        whole = llm.tokenize((ctx + moved + text).encode("utf-8"), add_bos=True, special=False)
        tokens = whole[len(ctx_tokens):]
        if not tokens:
            raise ConfigError(f"the continuation {text!r} has no tokens", setting="continuations",
                              hint="every choice needs some text")
        conts.append(tokens)
    if not ctx_tokens:  # an empty context: condition on the start token, as the harness does
        ctx_tokens = [llm.token_bos() if llm.token_bos() != -1 else llm.token_eos()]
    longest = max(len(c) for c in conts)
    if longest >= n_ctx:
        raise ContextOverflowError(longest, n_ctx, model=name)
    keep = min(len(ctx_tokens), n_ctx + 1 - longest)  # every continuation but its last token must fit
    return _Request(ctx_tokens[len(ctx_tokens) - keep:], conts, len(ctx_tokens) - keep)


def loglikelihood(model: Any, requests: Sequence[tuple[str, Sequence[str]]], *, parallel: int = PARALLEL,
                  on_done: Callable[[int, list[Score]], None] | None = None) -> list[list[Score]]:
    """Score every continuation of every ``(context, continuations)`` request; one list of scores per request.

    Requests are decoded together up to ``parallel`` sequences (at least one request's
    continuations) and the model's context in cells. ``on_done(index, scores)`` hears each
    request as it is scored.
    """
    loaded = loaded_of(model)
    n_ctx = loaded.llm.n_ctx()
    plans = [_plan(loaded, context, list(conts), n_ctx, model_name(model)) for context, conts in requests]
    if not plans:
        return []
    widest = max(len(p.continuations) for p in plans)
    if widest > 256:
        raise ConfigError(f"a request with {widest} continuations", setting="continuations",
                          hint="llama.cpp decodes at most 256 sequences together: split the choices")
    seq_cells = max(p.cells for p in plans)
    wanted = sum(len(p.continuations) for p in plans)
    with loaded.lock:
        engine = engine_for(loaded, seq_cells=seq_cells,
                            sequences=max(widest, budget(n_ctx, seq_cells, parallel, wanted)))
        engine.clear()
        try:
            for wave in _waves(list(enumerate(plans)), min(engine.sequences, max(widest, parallel))):
                _score(engine, [p for _, p in wave])
                for index, plan in wave:
                    if on_done:
                        on_done(index, plan.scores)
        finally:
            engine.clear()
    return [p.scores for p in plans]


def _waves(plans: list[tuple[int, _Request]], sequences: int) -> Iterable[list[tuple[int, _Request]]]:
    """Consecutive requests whose continuations together fit the engine's sequences."""
    wave: list[tuple[int, _Request]] = []
    used = 0
    for item in plans:
        width = len(item[1].continuations)
        if wave and used + width > sequences:
            yield wave
            wave, used = [], 0
        wave.append(item)
        used += width
    if wave:
        yield wave


def _score(engine: Engine, wave: list[_Request]) -> None:
    """Decode the wave's contexts, copy them to their other continuations' sequences, decode those."""
    seq = 0
    continuations = []
    engine.clear()
    for plan in wave:
        plan.scores = [Score(0.0, True, tokens=cont, truncated=plan.truncated) for cont in plan.continuations]
        last = len(plan.context) - 1
        _feed(engine, [(token, pos, seq, _taker(plan.scores, 0) if pos == last else None)
                       for pos, token in enumerate(plan.context)])
        for j, cont in enumerate(plan.continuations):
            if j:
                engine.share(seq, seq + j)
            for i, token in enumerate(cont[:-1]):
                continuations.append((i, seq + j, (token, len(plan.context) + i, seq + j,
                                                   _taker([plan.scores[j]], i + 1))))
        seq += len(plan.continuations)
    continuations.sort(key=lambda item: item[:2])  # offset-major: llama.cpp steps consecutive sequences together
    _feed(engine, [item for _, _, item in continuations])
    for plan in wave:
        for score in plan.scores:
            score.logprob = float(sum(score.token_logprobs))


def _taker(scores: list[Score], index: int) -> Callable[[np.ndarray], None]:
    """Record, from a row's log-probabilities, token ``index`` of each score's continuation."""
    def take(logprobs: np.ndarray) -> None:
        best = int(np.argmax(logprobs))
        for score in scores:
            token = score.tokens[index]
            score.token_logprobs.append(float(logprobs[token]))
            score.greedy = score.greedy and best == token
    return take


def _feed(engine: Engine, items: list[tuple[int, int, int, Callable[[np.ndarray], None] | None]]) -> None:
    """Decode ``(token, pos, seq, take)`` items in full batches; ``take`` reads the logits of its row."""
    takers: list[tuple[int, Callable[[np.ndarray], None]]] = []
    engine.reset()
    for token, pos, seq, take in items:
        if not engine.room():
            _flush(engine, takers)
        row = engine.add(token, pos, seq, take is not None)
        if take is not None:
            takers.append((row, take))
    _flush(engine, takers)


def _flush(engine: Engine, takers: list[tuple[int, Callable[[np.ndarray], None]]]) -> None:
    engine.decode()
    for row, take in takers:
        take(engine.logprobs(row))
    takers.clear()
    engine.reset()
