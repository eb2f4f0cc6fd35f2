"""Saved KV states of conversations that take turns on one shared llama.cpp model.

A ``Llama`` keeps one KV cache; :class:`KVStates` parks the part a prompt is about to
overwrite and brings back the saved state that shares the longest prefix with it.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if differ.size else n


@dataclass
class _Saved:
    tokens: np.ndarray
    """The tokens whose keys and values the state holds."""
    data: Any
    """llama.cpp's serialized sequence state (a ctypes byte array, handed back to it as it is)."""
    size: int
    """Bytes of ``data`` in use."""


class KVStates:
    """KV states of conversations that take turns on one ``Llama``, so each resumes its own prefix.

    A ``Llama`` keeps one KV cache and reuses only the prefix it shares with the next
    prompt. When sessions interleave, each turn would otherwise re-read its whole
    conversation. Before a completion overwrites the cache, the part it would lose is
    saved (llama.cpp's per-sequence state: only the used cells, about 23 KB a token on
    SmolLM2); the saved state sharing the longest prefix with the prompt is then put
    back. Saving happens only on a switch, so one conversation at a time pays nothing.
    Bounded by ``capacity`` bytes, least recently used first out. Use under the model's lock.
    """

    MIN_GAIN = 32
    """Tokens below which re-reading the prompt is cheaper than saving or restoring a state."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._saved: OrderedDict[int, _Saved] = OrderedDict()
        self._next = 0
        self.saves = self.restores = self.restored_tokens = 0

    @property
    def size(self) -> int:
        """Bytes held."""
        return sum(s.size for s in self._saved.values())

    def __len__(self) -> int:
        return len(self._saved)

    def clear(self) -> None:
        """Forget every saved state."""
        self._saved.clear()

    def prepare(self, llm: Any, prompt: list[int]) -> int:
        """Park what ``prompt`` would overwrite and restore its best saved prefix; tokens restored.

        Never fails a call: on any error the saved states are dropped and the model starts
        from an empty cache, which only costs re-reading the prompt.
        """
        try:
            return self._prepare(llm, prompt)
        except Exception:  # noqa: BLE001 - a cache must not break answers
            self._saved.clear()
            _clear(llm)
            return 0

    def _prepare(self, llm: Any, prompt: list[int]) -> int:
        self._evict()  # the limit may have been lowered since the last call
        if self.capacity <= 0:
            return 0
        wanted = np.asarray(prompt, dtype=np.intc)
        current = llm.input_ids[: llm.n_tokens]
        keep = _common_prefix(current, wanted)
        best_key, best = None, keep
        for key, saved in self._saved.items():
            shared = _common_prefix(saved.tokens, wanted)
            if shared > best:
                best_key, best = key, shared
        # Taken out before parking the current state, whose room may evict it: it is saved again,
        # grown, when another session takes over.
        chosen = self._saved.pop(best_key) if best_key is not None and best - keep >= self.MIN_GAIN else None
        if len(current) - keep >= self.MIN_GAIN:
            self._save(llm, current.copy())
        if chosen is None:
            return 0
        return best if self._restore(llm, chosen) else 0

    def _evict(self) -> None:
        while self._saved and self.size > max(self.capacity, 0):
            self._saved.popitem(last=False)

    def _save(self, llm: Any, tokens: np.ndarray) -> None:
        import llama_cpp

        ctx = llm._ctx.ctx  # noqa: SLF001 - the per-sequence state API needs the raw context
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if not size or size > self.capacity:
            return
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if not written:
            return
        for key in [k for k, s in self._saved.items() if _common_prefix(s.tokens, tokens) == len(s.tokens)]:
            del self._saved[key]  # a shorter state of the same conversation is superseded
        self._saved[self._next] = _Saved(tokens, buffer, written)
        self._next += 1
        self.saves += 1
        self._evict()

    def _restore(self, llm: Any, saved: _Saved) -> bool:
        import llama_cpp

        ctx = llm._ctx.ctx  # noqa: SLF001
        _clear(llm)
        if llama_cpp.llama_state_seq_set_data(ctx, saved.data, saved.size, 0) != saved.size:
            _clear(llm)
            return False
        n = len(saved.tokens)
        llm.input_ids[:n] = saved.tokens
        llm.n_tokens = n
        llm._requires_eval = True  # noqa: SLF001 - logits are not part of the state: decode before sampling
        self.restores += 1
        self.restored_tokens += n
        return True


def _clear(llm: Any) -> None:
    """Empty a ``Llama``'s KV cache and its record of what the cache holds."""
    import llama_cpp

    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm._ctx.ctx), True)  # noqa: SLF001
    llm.n_tokens = 0
    llm._requires_eval = True  # noqa: SLF001
