"""Row schemas: read ``--schema`` files, infer one from ``--like`` examples, validate rows, derive grammars.

Every mode ends up with one JSON Schema object. Rows are validated against it with
``jsonschema`` (plus a blank-text check that JSON Schema cannot say). The grammar a local
model decodes under is derived from it: the same shape, with long ``maxLength`` limits left to
validation (a 600-character limit unrolls into 600 nested grammar rules) and small integer ranges
turned into enums (llama.cpp grammars cannot express ``minimum``/``maximum``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from podium.errors import ConfigError
from podium.jsonl import records
from tools.datagen.fields import fields_text, type_text

GRAMMAR_MAX_LENGTH = 200
"""Longest ``maxLength`` kept in a decoding grammar; longer limits are checked after generation."""
ENUM_RANGE = 32
"""Integer ranges of at most this many values are decoded as an enum of those values."""
LIKE_MAX_ROWS = 200
"""Most example rows ``--like`` reads."""


def load_schema(path: Path) -> dict[str, Any]:
    """A JSON Schema file describing one row (an object with properties); checked before use."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--schema: no such file {path}", setting="--schema", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--schema: cannot read {path}: {exc}", setting="--schema", hint="check the file") from None
    except ValueError as exc:
        raise ConfigError(f"--schema: {path.name} is not JSON ({exc})", setting="--schema",
                          hint="write a JSON Schema object with \"properties\"") from None
    return check_schema(schema, "--schema")


def check_schema(schema: Any, source: str) -> dict[str, Any]:
    """Refuse schemas that cannot describe a row: not an object, no properties, not valid JSON Schema."""
    import jsonschema

    if not isinstance(schema, dict) or schema.get("type", "object") != "object" or not schema.get("properties"):
        raise ConfigError(f"{source}: the schema must describe an object with \"properties\"", setting=source,
                          hint='e.g. {"type": "object", "properties": {"subject": {"type": "string"}}}')
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"{source}: invalid JSON Schema: {exc.message}", setting=source,
                          hint="fix the schema (see json-schema.org)") from None
    if "_meta" in schema["properties"]:
        raise ConfigError(f"{source}: the field name _meta is reserved for provenance", setting=source,
                          hint="rename the field")
    for name, prop in schema["properties"].items():
        if isinstance(prop, dict) and prop.get("enum") == []:
            raise ConfigError(f"{source}: field {name!r} has an empty enum", setting=source,
                              hint="list at least one allowed value")
    schema = dict(schema, type="object")
    schema.setdefault("required", list(schema["properties"]))
    schema.setdefault("additionalProperties", False)
    return schema


def read_examples(path: Path, source: str = "--like") -> list[dict[str, Any]]:
    """Example rows from a JSONL file (or a JSON array); ``_meta`` fields are dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file {path}", setting=source, hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read {path}: {exc}", setting=source, hint="use a UTF-8 JSONL file") \
            from None
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [row for _, row in records(text)]
    except ValueError as exc:
        raise ConfigError(f"{source}: {path.name} is not JSON lines ({exc})", setting=source,
                          hint="one JSON object per line") from None
    rows = [{k: v for k, v in r.items() if k != "_meta"} for r in rows[:LIKE_MAX_ROWS] if isinstance(r, dict)]
    if not rows or not any(rows):
        raise ConfigError(f"{source}: {path.name} has no example objects", setting=source,
                          hint="one JSON object per line, e.g. {\"subject\": \"...\", \"priority\": \"high\"}")
    return rows


def infer_schema(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A schema that the example rows fit: types, enums for repeated labels, bounds around what is seen."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    properties = {name: _infer(name, [row[name] for row in rows if name in row], len(rows)) for name in names}
    required = [n for n in names if all(n in row for row in rows)]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _infer(name: str, values: list[Any], rows: int) -> dict[str, Any]:
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return {"type": "boolean"}
    if kinds <= {int} and kinds:
        return {"type": "integer", "minimum": min(values), "maximum": max(values)}
    if kinds <= {int, float} and kinds:
        return {"type": "number", "minimum": min(values), "maximum": max(values)}
    if kinds == {list} and all(isinstance(x, str) for v in values for x in v):
        sizes = [len(v) for v in values]
        return {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": min(sizes),
                "maxItems": max(max(sizes) * 2, 1)}
    if kinds == {str}:
        distinct = sorted(set(values))
        short = all(len(v) <= 30 and "\n" not in v for v in values)
        # A label repeats: few distinct short values among several rows reads as a category.
        if short and len(values) >= 4 and len(distinct) <= max(2, len(values) // 2) and len(distinct) <= 20:
            return {"type": "string", "enum": distinct}
        lengths = [len(v) for v in values]
        return {"type": "string", "minLength": max(1, min(lengths) // 2), "maxLength": max(lengths) * 2}
    if not kinds:
        raise ConfigError(f"--like: field {name!r} is null in every example", setting="--like",
                          hint="give it a value in at least one example")
    return {}  # mixed or nested values: any JSON, checked by the examples' shape only


def describe(schema: dict[str, Any]) -> str:
    """The fields as lines a model reads in its prompt: name, type and constraints, description."""
    lines = []
    for name, prop in schema["properties"].items():
        what = _plain(prop)
        note = f" ({prop['description']})" if prop.get("description") else ""
        lines.append(f"- {name}: {what}{note}")
    return "\n".join(lines)


def _plain(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(v) for v in prop["enum"])
    kind = prop.get("type")
    low, high = prop.get("minLength"), prop.get("maxLength")
    if kind == "string":
        return "text" + (f", {low or 0} to {high} characters" if high else f", at least {low} characters"
                         if low else "")
    if kind in ("integer", "number"):
        word = "whole number" if kind == "integer" else "number"
        low, high = prop.get("minimum"), prop.get("maximum")
        return word + (f" from {low} to {high}" if low is not None and high is not None else
                       f" of at least {low}" if low is not None else f" of at most {high}" if high is not None else "")
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        return "a list of short texts"
    return type_text(prop)


def grammar_schema(schema: dict[str, Any], fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schema a local model decodes under: long limits left to validation, small int ranges as enums.

    ``fixed`` pins fields to one value (``{"priority": "high"}``), for label-balanced generation.
    """
    out = copy.deepcopy(schema)
    for name, prop in out.get("properties", {}).items():
        if not isinstance(prop, dict):
            continue
        prop.pop("description", None)
        if fixed and name in fixed:
            out["properties"][name] = {"enum": [fixed[name]]}
            continue
        if prop.get("type") == "string" and prop.get("maxLength", 0) > GRAMMAR_MAX_LENGTH:
            del prop["maxLength"]
        if prop.get("type") == "integer" and "minimum" in prop and "maximum" in prop \
                and prop["maximum"] - prop["minimum"] < ENUM_RANGE:
            out["properties"][name] = {"enum": list(range(int(prop["minimum"]), int(prop["maximum"]) + 1))}
    return out


class Validator:
    """Checks rows against a schema: JSON Schema, then no blank text."""

    def __init__(self, schema: dict[str, Any]) -> None:
        import jsonschema

        self.schema = schema
        self._check = jsonschema.validators.validator_for(schema)(schema)

    def problem(self, row: Any) -> str | None:
        """Why ``row`` is invalid (one short line), or None when it is valid."""
        errors = sorted(self._check.iter_errors(row), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.path) or "row"
            return f"{where}: {first.message[:160]}"
        blank = next(iter(_blank_fields(row)), None)
        return f"{blank}: empty text" if blank else None


def _blank_fields(row: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(row, dict):
        for key, value in row.items():
            yield from _blank_fields(value, f"{prefix}{key}")
    elif isinstance(row, list):
        for i, value in enumerate(row):
            yield from _blank_fields(value, f"{prefix}[{i}]")
    elif isinstance(row, str) and not row.strip():
        yield prefix or "row"


def schema_summary(schema: dict[str, Any]) -> str:
    """One line for terminals and cards: the fields in ``--fields`` notation."""
    return fields_text(schema)
