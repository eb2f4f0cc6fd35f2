"""A second llama.cpp context over a loaded model's weights, decoding several sequences per step.

The chat path's ``Llama`` keeps one sequence in its KV cache (and :mod:`models.kv_states` parks
others). Batched work gets its own context on the same weights, with a KV stream per sequence,
so it never disturbs a conversation's cache. Use under the model's lock.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from podium.errors import ModelError

PARALLEL = 16
"""Sequences decoded together by default; more only add memory once the CPU is saturated."""
N_BATCH = 512
"""Most tokens decoded in one call, as ``Llama`` chunks a prompt."""


class Engine:
    """A multi-sequence llama.cpp context, its token batch, and the helpers the batch loops need.

    Each sequence has its own stream of ``seq_cells`` KV cells (llama.cpp's non-unified cache):
    its keys and values lie exactly as they would for that prompt alone, so at temperature 0 a
    batched completion is the one a lone ``create_completion`` gives (a unified cache interleaves
    other sequences' cells, which reorders the attention sums and flips near-ties).
    """

    def __init__(self, llm: Any, seq_cells: int, sequences: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.llm = llm
        seq_cells = -(-seq_cells // 256) * 256  # llama.cpp pads each stream to 256 cells
        params = type(llm.context_params).from_buffer_copy(llm.context_params)  # threads, rope, KV types...
        params.n_ctx = seq_cells * sequences
        params.n_batch = params.n_ubatch = min(N_BATCH, params.n_ctx)
        params.n_seq_max = sequences
        params.kv_unified = False
        params.embeddings = False
        self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)  # noqa: SLF001
        _same_adapter(llm, self._ctx.ctx)
        self.sequences = sequences
        self.seq_cells = llama_cpp.llama_n_ctx_seq(self._ctx.ctx)
        self.n_batch = llama_cpp.llama_n_batch(self._ctx.ctx)
        self._batch = _internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)
        self._raw = self._batch.batch
        self._vocab = llm._model.vocab  # noqa: SLF001
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._lib = llama_cpp
        self.prefilled = 0
        """Prompt tokens decoded so far (a prompt's shared prefix, copied from another sequence, is not)."""

    def close(self) -> None:
        """Free the context and its batch."""
        self._batch.close()
        self._ctx.close()

    # -- the batch --------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the batch."""
        self._raw.n_tokens = 0

    def room(self) -> bool:
        """Whether another token fits in the batch."""
        return self._raw.n_tokens < self.n_batch

    def add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        """Append ``token`` at ``pos`` of sequence ``seq``; its row in the batch."""
        b, i = self._raw, self._raw.n_tokens
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
        b.seq_id[i][0] = seq
        b.n_tokens = i + 1
        return i

    def decode(self) -> None:
        """Run the batch through the model."""
        if self._raw.n_tokens == 0:
            return
        code = self._lib.llama_decode(self._ctx.ctx, self._raw)
        if code != 0:
            raise ModelError(f"llama.cpp could not decode a batch (code {code})", provider="llamacpp",
                             hint="the KV cache may be full: use fewer parallel sequences")

    # -- sequences --------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every sequence."""
        self._lib.llama_memory_clear(self._ctx.memory, True)

    def forget(self, seq: int, start: int = -1) -> None:
        """Free the cells of one sequence (from position ``start`` on, when given)."""
        self._lib.llama_memory_seq_rm(self._ctx.memory, seq, start, -1)

    def share(self, src: int, dst: int) -> None:
        """Let ``dst`` start from everything ``src`` holds (llama.cpp copies the stream at the next decode)."""
        self._lib.llama_memory_seq_cp(self._ctx.memory, src, dst, -1, -1)

    # -- tokens -----------------------------------------------------------------------

    def sampler(self, temperature: float, seed: int, grammar: Any = None) -> Any:
        """A sampler chain as ``Llama.create_completion`` builds it for these settings (default knobs)."""
        from llama_cpp import _internals

        chain = _internals.LlamaSampler()
        if grammar is not None:
            chain.add_grammar(self.llm._model, grammar)  # noqa: SLF001
        if temperature == 0:
            chain.add_greedy()
        else:
            chain.add_top_k(40)
            chain.add_typical(1.0, 1)
            chain.add_top_p(0.95, 1)
            chain.add_min_p(0.05, 1)
            chain.add_temp(temperature)
            chain.add_dist(seed)
        return chain

    def sample(self, chain: Any, row: int) -> int:
        """Sample (and accept) the next token from the logits of batch row ``row``."""
        return self._lib.llama_sampler_sample(chain.sampler, self._ctx.ctx, row)

    def logprobs(self, row: int) -> np.ndarray:
        """Natural-log probabilities over the vocabulary from the logits of batch row ``row``."""
        pointer = self._lib.llama_get_logits_ith(self._ctx.ctx, row)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)
        top = logits.max()
        return logits - top - np.log(np.exp(logits - top).sum())

    def is_end(self, token: int) -> bool:
        """Whether ``token`` ends generation (end of text, end of turn)."""
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    def piece(self, token: int) -> bytes:
        """The bytes of one token, as ``Llama.detokenize`` gives them."""
        return self.llm.detokenize([token])


def _same_adapter(llm: Any, ctx: Any) -> None:
    """Apply the ``Llama``'s LoRA adapter (a fine-tune) to another context: adapters belong to contexts."""
    import ctypes

    import llama_cpp

    adapter = getattr(llm, "_lora_adapter", None)
    if adapter is None:
        return
    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
    scales = (ctypes.c_float * 1)(llm.lora_scale)
    if llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales):
        raise ModelError("llama.cpp could not apply the fine-tune's LoRA adapter to the batch context",
                         provider="llamacpp", hint="run the prompts one by one, or re-export the fine-tune")


def loaded_of(model: Any) -> Any:
    """The shared :class:`~models.llamacpp.Loaded` of a ``ChatLlamaCpp`` (or the ``Loaded`` itself)."""
    return model.loaded() if hasattr(model, "loaded") else model


def model_name(model: Any) -> str:
    """A model's spec for messages."""
    return getattr(model, "spec_name", "") or "the local model"


def engine_for(loaded: Any, *, seq_cells: int, sequences: int) -> Engine:
    """The loaded model's batch engine, (re)made when it is smaller than asked; use under ``loaded.lock``.

    It grows and never shrinks: the next batch most likely looks like this one, and making a
    context costs more than keeping its cells.
    """
    engine = loaded.engine
    if engine is None or engine.seq_cells < seq_cells or engine.sequences < sequences:
        if engine is not None:
            seq_cells, sequences = max(seq_cells, engine.seq_cells), max(sequences, engine.sequences)
            engine.close()
        loaded.engine = None
        loaded.engine = Engine(loaded.llm, seq_cells, sequences)
    return loaded.engine


def budget(n_ctx: int, seq_cells: int, parallel: int, wanted: int) -> int:
    """Sequences to decode together: ``parallel`` at most, only as many as there is work for, and no more
    cells in all than the model's own context (at least one sequence)."""
    return max(1, min(parallel, wanted, n_ctx // max(seq_cells, 1)))


def free_engine(loaded: Any) -> None:
    """Release a loaded model's batch engine (its KV cache memory)."""
    if getattr(loaded, "engine", None) is not None:
        loaded.engine.close()
        loaded.engine = None
