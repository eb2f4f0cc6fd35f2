"""Batched local generation and scoring: many independent prompts decoded together on one llama.cpp model.

Dataset generation and evaluation send many independent prompts to the local model. One after
another, every weight is read once per token per prompt; here up to ``parallel`` sequences share
each decode step (llama.cpp's multi-sequence batching, each sequence in its own KV cells), and a
finished sequence's place goes to the next prompt at once (continuous batching).

The API (``complete_batch`` and ``loglikelihood`` are also methods of
:class:`models.llamacpp.ChatLlamaCpp`, with the model's own ``max_tokens``/``temperature``/``seed``):

- :func:`complete_batch` ``(model, prompts, *, max_tokens=256, temperature=0.0, stop=None,
  grammar=None, seed=0, parallel=PARALLEL, on_done=None) -> list[Completion]``, one per prompt, in
  order (``text``, ``tokens``, ``finish_reason``, ``prompt_tokens``, ``completion_tokens``, ``usage``).
  A prompt is raw text (completed as it is, like ``create_completion``), a list of chat messages
  ``{"role": ..., "content": ...}`` (rendered with the GGUF's chat template, whose stop strings are
  added), or a list of token ids. ``grammar`` is one value for every prompt or a list with one per
  prompt: GBNF text, a JSON schema (a dict), or ``None``; ``temperature`` and ``seed`` may be lists
  with one per prompt too. At temperature 0 each completion is the one ``create_completion`` gives
  for that prompt alone, token for token.
- :func:`loglikelihood` ``(model, requests, *, parallel=PARALLEL, on_done=None) -> list[list[Score]]``:
  for each ``(context, continuations)`` request, the log-probability of every continuation after the
  context (``logprob``, ``greedy``, ``token_logprobs``, ``tokens``), the shared context decoded once.
  Tokens are split as lm-evaluation-harness splits them.
- :func:`models.registry.local_model` ``(spec, settings)``: the shared instance of a ``llamacpp/...`` spec, base
  models (no chat template) included, to pass as ``model``.

``model`` is a :class:`~models.llamacpp.ChatLlamaCpp` or its :class:`~models.llamacpp.Loaded`.
Both functions hold the model's lock while they decode (so batches and chat turns take turns on the
CPU; pass a few dozen prompts per call where a chat must stay responsive), on a second llama.cpp
context over the same weights: a conversation's KV cache stays as it was.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.batch_engine import PARALLEL, Engine, budget, engine_for, loaded_of, model_name
from models.gbnf import check, compiled, schema_grammar
from models.scoring import Score, loglikelihood
from podium.errors import ConfigError, ContextOverflowError

MIN_SHARED = 16
"""Shared prompt tokens from which copying a sequence's keys and values beats decoding them again."""

__all__ = ["PARALLEL", "Completion", "Score", "complete_batch", "loglikelihood"]

Prompt = str | Sequence[Mapping[str, str]] | Sequence[int]
"""Raw text, chat messages, or token ids."""
Grammar = str | Mapping[str, Any] | None
"""GBNF text, a JSON schema, or no constraint."""


@dataclass
class Completion:
    """One prompt's completion."""

    text: str
    """The generated text (a stop string and what follows it removed)."""
    tokens: list[int]
    """Generated token ids (an end-of-generation token excluded)."""
    finish_reason: str
    """``stop`` (end of text, a stop string, or the grammar complete) or ``length`` (``max_tokens`` reached)."""
    prompt_tokens: int
    """Tokens of the prompt as decoded."""

    @property
    def completion_tokens(self) -> int:
        """Tokens generated."""
        return len(self.tokens)

    @property
    def usage(self) -> dict[str, int]:
        """OpenAI-style usage: ``prompt_tokens``, ``completion_tokens``, ``total_tokens``."""
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


@dataclass
class _Job:
    """One prompt being completed."""

    index: int
    prompt: list[int]
    max_tokens: int
    stop: list[bytes]
    sampler: Any
    tokens: list[int] = field(default_factory=list)
    data: bytes = b""
    text: bytes | None = None
    finish: str = ""
    fed: int = 0
    """Prompt tokens decoded so far."""

    @property
    def cells(self) -> int:
        """KV cells this sequence may need."""
        return len(self.prompt) + self.max_tokens


def _tokens(loaded: Any, prompt: Prompt) -> tuple[list[int], list[str]]:
    """Token ids of a prompt and the stop strings it brings (a chat template's)."""
    if isinstance(prompt, str):
        return loaded.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True), []
    items: list[Any] = list(prompt)
    if not items:
        raise ConfigError("an empty prompt", setting="prompts", hint="give text, chat messages or token ids")
    messages = [m for m in items if isinstance(m, Mapping)]
    if len(messages) == len(items):
        return loaded.render([dict(m) for m in messages])
    ids = [t for t in items if isinstance(t, (int, np.integer))]
    if len(ids) == len(items):
        return [int(t) for t in ids], []
    raise ConfigError("a prompt must be text, a list of chat messages or a list of token ids", setting="prompts",
                      hint='e.g. "Once upon a time" or [{"role": "user", "content": "Hi"}]')


def _grammar(value: Grammar) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return schema_grammar(json.dumps(value))
    return compiled(value)


def _per_prompt(value: Any, n: int, what: str) -> list[Any]:
    if isinstance(value, list):
        if len(value) != n:
            raise ConfigError(f"{len(value)} {what} for {n} prompts", setting=what,
                              hint=f"give one {what} value, or a list with one per prompt")
        return value
    return [value] * n


def complete_batch(model: Any, prompts: Sequence[Prompt], *, max_tokens: int = 256,
                   temperature: float | list[float] = 0.0, stop: str | Sequence[str] | None = None,
                   grammar: Grammar | list[Grammar] = None, seed: int | list[int] = 0, parallel: int = PARALLEL,
                   on_done: Callable[[int, Completion], None] | None = None) -> list[Completion]:
    """Complete every prompt, decoding up to ``parallel`` of them together; results in prompt order.

    ``stop`` strings end a completion (they and what follows are removed). At a temperature
    above 0, prompt ``i`` samples with seed ``seed + i``, so identical prompts still differ (or with
    ``seed[i]`` when ``seed`` is a list); ``temperature`` is one value or one per prompt.
    ``on_done(index, completion)`` hears each completion as it finishes (for progress bars).
    """
    if max_tokens < 1:
        raise ConfigError("max_tokens must be at least 1", setting="max_tokens", hint="ask for 1 or more tokens")
    temperatures = _per_prompt(temperature, len(prompts), "temperature")
    if any(t < 0 for t in temperatures):
        raise ConfigError("temperature must be 0 or more", setting="temperature", hint="0 picks the likeliest token")
    seeds = _per_prompt(seed, len(prompts), "seed") if isinstance(seed, list) else \
        [seed + i for i in range(len(prompts))]
    loaded = loaded_of(model)
    grammars = [None if g is None else check(g, loaded.llm)
                for g in map(_grammar, _per_prompt(grammar, len(prompts), "grammar"))]
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    n_ctx = loaded.llm.n_ctx()
    jobs = []
    for i, prompt in enumerate(prompts):
        tokens, template_stop = _tokens(loaded, prompt)
        if len(tokens) >= n_ctx:
            raise ContextOverflowError(len(tokens), n_ctx, model=model_name(model))
        stop_bytes = [s.encode("utf-8") for s in [*stops, *template_stop] if s]
        jobs.append(_Job(i, tokens, min(max_tokens, n_ctx - len(tokens)), stop_bytes, None))
    if not jobs:
        return []
    seq_cells = max(job.cells for job in jobs)
    with loaded.lock:
        engine = engine_for(loaded, seq_cells=seq_cells, sequences=budget(n_ctx, seq_cells, parallel, len(jobs)))
        for job, gram in zip(jobs, grammars, strict=True):
            job.sampler = engine.sampler(temperatures[job.index], seeds[job.index], gram)
        done = _run(engine, jobs, min(engine.sequences, parallel), on_done)
    return [_completion(job) for job in done]


def _completion(job: _Job) -> Completion:
    text = job.text if job.text is not None else job.data
    return Completion(text.decode("utf-8", errors="ignore"), job.tokens, job.finish, len(job.prompt))


def _run(engine: Engine, jobs: list[_Job], sequences: int,
         on_done: Callable[[int, Completion], None] | None) -> list[_Job]:
    """Continuous batching: a free sequence takes the next prompt, then all generating sequences step together.

    A prompt is decoded on its own, in the chunks ``create_completion`` uses, and a step holds one token
    of each sequence in sequence order (llama.cpp then runs it as one micro-batch): the arithmetic of
    each sequence is then exactly that of the prompt alone.
    """
    pending = deque(jobs)
    active: dict[int, _Job] = {}
    free_ids = list(range(max(sequences, 1)))[::-1]  # lowest first: the active sequences stay contiguous
    shared = _shared_prefix([job.prompt for job in jobs])

    def take(seq: int, job: _Job, row: int) -> None:
        if _step(engine, job, engine.sample(job.sampler, row)):
            engine.forget(seq)
            del active[seq]
            free_ids.append(seq)
            free_ids.sort(reverse=True)
            if on_done:
                on_done(job.index, _completion(job))

    engine.clear()
    try:
        while pending or active:
            while pending and free_ids:
                seq, job = free_ids.pop(), pending.popleft()
                donor = next(iter(active), None)  # any sequence being decoded holds the shared prefix
                active[seq] = job
                take(seq, job, _prefill(engine, seq, job.prompt, donor if shared else None, shared))
            if not active:
                continue
            engine.reset()
            rows = [(seq, job, engine.add(job.tokens[-1], len(job.prompt) + len(job.tokens) - 1, seq, True))
                    for seq, job in sorted(active.items())]
            engine.decode()
            for seq, job, row in rows:
                take(seq, job, row)
    finally:
        engine.clear()
    return jobs


def _shared_prefix(prompts: list[list[int]]) -> int:
    """Tokens every prompt starts with (dataset rows share their instructions), when enough to be worth copying; one
    token of each prompt is always left to decode, for its logits."""
    if len(prompts) < 2:
        return 0
    first, shortest = np.asarray(prompts[0]), min(len(p) for p in prompts) - 1
    common = shortest
    for prompt in prompts[1:]:
        differ = np.flatnonzero(np.asarray(prompt[:common]) != first[:common])
        common = int(differ[0]) if differ.size else common
    return common if common >= MIN_SHARED else 0


def _prefill(engine: Engine, seq: int, prompt: list[int], donor: int | None = None, shared: int = 0) -> int:
    """Decode a prompt into sequence ``seq``; the batch row holding its last token's logits.

    With a ``donor`` sequence, the first ``shared`` tokens' keys and values are copied from it rather than decoded
    again (as ``create_completion`` reuses the prefix a prompt shares with the one before).
    """
    first = 0
    if donor is not None and shared:
        engine.share(donor, seq)
        engine.forget(seq, shared)
        first = shared
    engine.prefilled += len(prompt) - first
    for start in range(first, len(prompt), engine.n_batch):
        engine.reset()
        chunk = prompt[start:start + engine.n_batch]
        for offset, token in enumerate(chunk):
            row = engine.add(token, start + offset, seq, start + offset == len(prompt) - 1)
        engine.decode()
    return row


def _step(engine: Engine, job: _Job, token: int) -> bool:
    """Take a sampled token; whether the job has finished (as ``create_completion`` decides it)."""
    if engine.is_end(token):
        job.finish = "stop"
        return True
    job.tokens.append(token)
    before = len(job.data)
    job.data += engine.piece(token)
    for s in job.stop:
        at = job.data.find(s, max(0, before - len(s) + 1))
        if at != -1:
            job.text, job.finish = job.data[:at], "stop"
            return True
    if len(job.tokens) >= job.max_tokens:
        job.finish = "length"
        return True
    return False
