"""GBNF grammars for llama.cpp: any JSON, a JSON schema (JSON's own string rules), spans of a message, custom text."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=64)
def compiled(text: str) -> Any:
    """A GBNF text compiled for llama.cpp (cached)."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


# llama-cpp-python's JSON-schema converter lets strings hold raw newlines and control
# characters; a tiny model then never closes its string. JSON forbids them, so do we.
_LOOSE_CHAR = 'char ::= [^"\\\\]'
_JSON_CHAR = 'char ::= [^"\\\\\\x00-\\x1F\\x7F]'


def json_strings(gbnf: str) -> str:
    """``gbnf`` (from llama-cpp-python's schema converter) with JSON's own string rules."""
    return gbnf.replace(_LOOSE_CHAR, _JSON_CHAR)


def schema_gbnf(schema_json: str) -> str:
    """GBNF for a JSON schema, with JSON's own string rules (no raw control characters)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_strings(json_schema_to_gbnf(schema_json))


@lru_cache(maxsize=64)
def schema_grammar(schema_json: str) -> Any:
    """The compiled grammar of a JSON schema (cached; key order is the order generated)."""
    return compiled(schema_gbnf(schema_json))


def json_grammar() -> Any:
    """The compiled grammar of any JSON value."""
    from llama_cpp.llama_grammar import JSON_GBNF

    return compiled(JSON_GBNF)


_CHECKED: set[tuple[int, str]] = set()


def check(grammar: Any, llm: Any) -> Any:
    """``grammar`` once llama.cpp has parsed it for ``llm``'s vocabulary (a bad one is a :class:`ConfigError`).

    llama-cpp-python does not parse a grammar until sampling, where a bad one crashes the process.
    """
    import llama_cpp

    from podium.errors import ConfigError

    key = (id(llm), grammar._grammar)  # noqa: SLF001 - the text and root are only kept there
    if key in _CHECKED:
        return grammar
    vocab = llm._model.vocab  # noqa: SLF001
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar._grammar.encode(), grammar._root.encode())  # noqa: SLF001
    if not sampler:
        first = grammar._grammar.strip().splitlines()[0][:80] if grammar._grammar.strip() else ""  # noqa: SLF001
        raise ConfigError(f"invalid GBNF grammar (llama.cpp could not parse it): {first}", setting="grammar",
                          hint="check the grammar's rules; a 'root' rule is required")
    llama_cpp.llama_sampler_free(sampler)
    _CHECKED.add(key)
    return grammar


SPAN_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z_]+|\s+|\S")
"""Units a free span is built from: numbers, words, whitespace runs, single symbols."""


def gbnf(text: str) -> str:
    """A GBNF string literal that produces exactly ``text``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def literal(text: str) -> str:
    """A GBNF literal producing ``text`` as it appears inside a JSON string (escaped, no quotes)."""
    return gbnf(json.dumps(text, ensure_ascii=False)[1:-1])


def free_span(message: str, name: str) -> list[str]:
    """Rules for ``name``: any contiguous run of the message's tokens (not starting or ending in space)."""
    pieces = SPAN_TOKEN.findall(message)
    starts = [i for i, p in enumerate(pieces) if not p.isspace()]
    if not starts:
        return [f'{name} ::= "?"']
    rules, alternatives = [], []
    for i in starts:
        following = [j for j in starts if j > i]
        step = f"{name}-{i}"
        if following:
            gap = "".join(pieces[i + 1:following[0]])
            rules.append(f"{step} ::= {literal(pieces[i])} ({literal(gap) + ' ' if gap else ''}{name}-{following[0]})?")
        else:
            rules.append(f"{step} ::= {literal(pieces[i])}")
        alternatives.append(step)
    return [f"{name} ::= " + " | ".join(alternatives), *rules]
