"""Log-likelihood of continuations on a local GGUF, computed as lm-evaluation-harness computes it.

For one multiple-choice item the context is evaluated once and every choice continues
from it: the context's keys and values stay in sequence 0 and each choice gets its own
sequence sharing those cells (llama.cpp's unified KV cache), so all choices are decoded
in one batch. Consecutive items that share a prefix (few-shot examples) reuse it too.
The scorer opens its own small llama.cpp context on the provider's loaded weights (no
second copy of the model) and takes the provider's lock for each item, so chat turns
interleave with a long evaluation instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from podium.errors import ModelError

_BATCH = 512


@dataclass(frozen=True)
class Choice:
    """The log-likelihood of one continuation and whether greedy decoding would have produced it."""

    logprob: float
    """Sum of the continuation tokens' log-probabilities given the context."""
    greedy: bool
    """Every continuation token was the most likely one."""
    tokens: int
    """Tokens in the continuation."""


def _log_softmax(row: np.ndarray) -> np.ndarray:
    shifted = row - row.max()
    return shifted - np.log(np.exp(shifted).sum())


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LoglikScorer:
    """Scores continuations with a local model; one instance per loaded GGUF."""

    def __init__(self, loaded: Any, n_threads: int, *, n_seq: int = 16, n_ctx: int = 2048) -> None:
        self.loaded = loaded
        """The provider's :class:`models.llamacpp.Loaded`: weights, tokenizer and the lock."""
        self.n_threads = n_threads
        self.n_seq = n_seq
        self.n_ctx = n_ctx
        llm = loaded.llm
        self.max_ctx = int(llm._model.n_ctx_train())  # noqa: SLF001 - the trained context bounds requests
        self.add_bos = str(llm.metadata.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
        self._ctx: Any = None
        self._batch: Any = None
        self._cached: list[int] = []
        self.decoded = 0
        """Tokens decoded so far (what the work cost)."""

    def tokenize(self, text: str) -> list[int]:
        """Tokens of ``text`` as lm-evaluation-harness encodes them (BOS only where the model asks for it)."""
        return self.loaded.llm.tokenize(text.encode("utf-8"), add_bos=self.add_bos, special=False)

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """lm-evaluation-harness's split: trailing spaces move to the continuation, whose tokens are the tail of
        the whole text's tokens (so a word's space is scored with the word)."""
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        if not context:
            llm = self.loaded.llm
            start = llm.token_bos() if llm.token_bos() != -1 else llm.token_eos()
            return [start], self.tokenize(continuation)
        whole = self.tokenize(context + continuation)
        head = self.tokenize(context)
        return head, whole[len(head):]

    def _context(self, need: int) -> Any:
        if self._ctx is not None and need <= self.n_ctx:
            return self._ctx
        import llama_cpp
        from llama_cpp import _internals

        self.close()
        self.n_ctx = max(self.n_ctx, -(-need // 256) * 256)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_ctx
        params.n_batch = params.n_ubatch = _BATCH
        params.n_seq_max = self.n_seq
        params.kv_unified = True  # choices share the context's cells instead of copying them
        params.n_threads = params.n_threads_batch = self.n_threads
        self._ctx = _internals.LlamaContext(model=self.loaded.llm._model, params=params, verbose=False)  # noqa: SLF001
        self._batch = _internals.LlamaBatch(n_tokens=_BATCH, embd=0, n_seq_max=self.n_seq, verbose=False)
        self._cached = []
        return self._ctx

    def close(self) -> None:
        """Free the scorer's llama.cpp context (the model's weights stay loaded)."""
        if self._ctx is not None:
            self._batch.close()
            self._ctx.close()
        self._ctx = self._batch = None
        self._cached = []

    def _decode(self, rows: list[tuple[int, int, int, bool]]) -> None:
        """Decode ``(token, position, sequence, wants_logits)`` rows as one batch."""
        batch = self._batch.batch
        batch.n_tokens = len(rows)
        for i, (token, pos, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
            batch.seq_id[i][0] = seq
        try:
            self._ctx.decode(self._batch)
        except RuntimeError as exc:
            self._cached = []
            raise ModelError(f"llama.cpp could not score: {exc}", provider="llamacpp") from exc
        self.decoded += len(rows)

    def _logprobs(self, row: int) -> np.ndarray:
        import llama_cpp

        n_vocab = self.loaded.llm.n_vocab()
        pointer = llama_cpp.llama_get_logits_ith(self._ctx.ctx, row)
        return _log_softmax(np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64))

    def _memory(self) -> Any:
        import llama_cpp

        return llama_cpp.llama_get_memory(self._ctx.ctx)

    def _prefill(self, context: list[int], keep: int) -> np.ndarray:
        """Bring sequence 0 to ``context`` (its first ``keep`` tokens are cached); log-probs after its last token."""
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._memory(), 0, keep, -1)
        self._cached = context[:keep]
        rest = context[keep:]
        for start in range(0, len(rest), _BATCH):
            chunk = rest[start:start + _BATCH]
            last = start + len(chunk) == len(rest)
            self._decode([(t, keep + start + i, 0, last and i == len(chunk) - 1) for i, t in enumerate(chunk)])
            self._cached = context[:keep + start + len(chunk)]
        return self._logprobs(-1)

    def score(self, context: list[int], continuations: list[list[int]]) -> list[Choice]:
        """Log-likelihood of each continuation after ``context`` (token lists from :meth:`encode_pair`)."""
        if not context or any(not c for c in continuations):
            raise ValueError("context and continuations must not be empty")
        longest = max(len(c) for c in continuations)
        room = self.max_ctx - longest
        context = context[-room:]  # as lm-evaluation-harness does: the oldest context goes first
        need = len(context) + sum(len(c) for c in continuations)
        with self.loaded.lock:
            self._context(need)
            keep = min(_common_prefix(self._cached, context), len(context) - 1)  # the last token gives logits
            first = self._prefill(context, keep)
            out: list[Choice | None] = [None] * len(continuations)
            group: list[int] = []
            for index, cont in enumerate(continuations):
                if group and (len(group) + 1 >= self.n_seq or
                              sum(len(continuations[g]) for g in group) + len(cont) > _BATCH):
                    self._continue(context, continuations, group, first, out)
                    group = []
                group.append(index)
            self._continue(context, continuations, group, first, out)
        return [c for c in out if c is not None]

    def _continue(self, context: list[int], continuations: list[list[int]], group: list[int],
                  first: np.ndarray, out: list[Choice | None]) -> None:
        """Score a group of continuations in one batch, each in its own sequence sharing the context's cells."""
        import llama_cpp

        memory = self._memory()
        rows: list[tuple[int, int, int, bool]] = []
        where: dict[tuple[int, int], int] = {}
        for slot, index in enumerate(group, start=1):
            cont = continuations[index]
            if len(cont) > 1:
                llama_cpp.llama_memory_seq_cp(memory, 0, slot, -1, -1)
            for j, token in enumerate(cont[:-1][:_BATCH]):
                where[(index, j + 1)] = len(rows)
                rows.append((token, len(context) + j, slot, True))
        if rows:
            self._decode(rows)
        for slot, index in enumerate(group, start=1):
            cont, total, greedy = continuations[index], 0.0, True
            for j, token in enumerate(cont):
                probs = first if j == 0 else self._logprobs(where[(index, j)]) if (index, j) in where else None
                if probs is None:  # a continuation longer than one batch: finish it in its own decodes
                    probs = self._tail(context, cont, j, slot)
                total += float(probs[token])
                greedy = greedy and int(np.argmax(probs)) == token
            out[index] = Choice(total, greedy, len(cont))
            llama_cpp.llama_memory_seq_rm(memory, slot, -1, -1)

    def _tail(self, context: list[int], cont: list[int], j: int, slot: int) -> np.ndarray:
        """Log-probs predicting ``cont[j]`` for a continuation longer than a batch (rare: long answers)."""
        self._decode([(cont[j - 1], len(context) + j - 1, slot, True)])
        return self._logprobs(-1)

    def score_naive(self, context: list[int], continuations: list[list[int]]) -> list[Choice]:
        """Baseline for the benchmark: every choice evaluated from scratch, context included, no cache reuse."""
        import llama_cpp

        out = []
        with self.loaded.lock:
            self._context(len(context) + max(len(c) for c in continuations))
            for cont in continuations:
                llama_cpp.llama_memory_clear(self._memory(), True)
                self._cached = []
                whole = context + cont[:-1]
                rows = [(t, i, 0, i >= len(context) - 1) for i, t in enumerate(whole)]
                total, greedy = 0.0, True
                for start in range(0, len(rows), _BATCH):
                    self._decode(rows[start:start + _BATCH])
                    for i in range(len(rows[start:start + _BATCH])):
                        pos = start + i
                        if pos >= len(context) - 1:
                            probs = self._logprobs(i)
                            token = cont[pos - len(context) + 1]
                            total += float(probs[token])
                            greedy = greedy and int(np.argmax(probs)) == token
                out.append(Choice(total, greedy, len(cont)))
            llama_cpp.llama_memory_clear(self._memory(), True)
        return out
