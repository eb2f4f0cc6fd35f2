"""GBNF grammars for llama.cpp: any JSON, a JSON schema with JSON's own string rules, or custom text."""

from __future__ import annotations

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


def schema_gbnf(schema_json: str) -> str:
    """GBNF for a JSON schema, with JSON's own string rules (no raw control characters)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(schema_json).replace(_LOOSE_CHAR, _JSON_CHAR)


@lru_cache(maxsize=64)
def schema_grammar(schema_json: str) -> Any:
    """The compiled grammar of a JSON schema (cached; key order is the order generated)."""
    return compiled(schema_gbnf(schema_json))


def json_grammar() -> Any:
    """The compiled grammar of any JSON value."""
    from llama_cpp.llama_grammar import JSON_GBNF

    return compiled(JSON_GBNF)
