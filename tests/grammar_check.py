"""Whether llama.cpp itself accepts a GBNF grammar (a sampler built on a model's vocabulary), for grammar tests."""

from __future__ import annotations

import llama_cpp


def parses(llm: llama_cpp.Llama, text: str) -> bool:
    """Whether llama.cpp builds a grammar sampler from ``text`` (rooted at ``root``) on ``llm``'s vocabulary."""
    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, text.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True
