"""``--fields`` specs: ``"subject:str, body:str(20..600), priority:enum[low,high], score:int(1..5)"``.

A spec is a comma-separated list of ``name:type``. Types: ``str``, ``int``, ``float``,
``bool``, ``enum[a,b,...]`` and ``list[str]``; ``str``, ``int``, ``float`` and ``list[str]``
take bounds ``(lo..hi)`` (either side may be left out): characters for ``str``, the value
for ``int``/``float``, items for ``list[str]``. The result is a JSON Schema object, which
is all the rest of the engine reads. A mistake names the character it happened at.
"""

from __future__ import annotations

import re
from typing import Any

from podium.errors import ConfigError

TYPES = ("str", "int", "float", "bool", "enum", "list[str]")
"""The field types a spec may use."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class FieldSpecError(ConfigError):
    """A ``--fields`` spec that does not parse; ``position`` is the 0-based character it fails at."""

    def __init__(self, text: str, position: int, problem: str, *, hint: str = "") -> None:
        pointer = f"{text[:position]}⟨here⟩{text[position:]}"
        super().__init__(f"--fields: {problem} at character {position + 1}: {pointer}", setting="--fields",
                         hint=hint or 'write name:type pairs, e.g. "subject:str, body:str(20..600), '
                                      'priority:enum[low,medium,high], score:int(1..5)"')
        self.position = position


class _Reader:
    """A cursor over the spec text that raises :class:`FieldSpecError` where reading fails."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def fail(self, problem: str, at: int | None = None, hint: str = "") -> FieldSpecError:
        return FieldSpecError(self.text, self.pos if at is None else at, problem, hint=hint)

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip_space()
        found = pattern.match(self.text, self.pos)
        if not found:
            got = self.text[self.pos:self.pos + 1] or "the end"
            raise self.fail(f"expected {what}, found {got!r}" if got != "the end" else f"expected {what}")
        self.pos = found.end()
        return found.group(0)

    def take(self, literal: str) -> bool:
        self.skip_space()
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str) -> None:
        if not self.take(literal):
            got = self.text[self.pos:self.pos + 1]
            raise self.fail(f"expected {literal!r}" + (f", found {got!r}" if got else ""))

    def done(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)


def parse_fields(text: str) -> dict[str, Any]:
    """The JSON Schema (an object with required properties, in order) that a ``--fields`` spec describes."""
    reader = _Reader(text)
    if reader.done():
        raise reader.fail("the spec is empty")
    properties: dict[str, Any] = {}
    while True:
        start = reader.pos
        reader.skip_space()
        name_at = reader.pos
        name = reader.match(_NAME, "a field name (letters, digits, _)")
        if name in properties:
            raise reader.fail(f"field {name!r} is defined twice", at=name_at)
        if name == "_meta":
            raise reader.fail("_meta is reserved for provenance", at=name_at, hint="rename the field")
        reader.expect(":")
        properties[name] = _field_type(reader)
        if reader.done():
            break
        if not reader.take(","):
            raise reader.fail(f"expected ',' after field {text[start:reader.pos].strip()!r}")
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def _field_type(reader: _Reader) -> dict[str, Any]:
    reader.skip_space()
    at = reader.pos
    if reader.take("list[str]"):
        low, high = _bounds(reader, "items", integers=True)
        return _drop_none({"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": low,
                           "maxItems": high})
    if reader.take("list"):
        raise reader.fail("only list[str] lists are supported", at=at)
    kind = reader.match(re.compile(r"[A-Za-z]+"), f"a type ({', '.join(TYPES)})")
    if kind == "enum":
        return {"type": "string", "enum": _enum_values(reader, at)}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "str":
        low, high = _bounds(reader, "characters", integers=True)
        return _drop_none({"type": "string", "minLength": low, "maxLength": high})
    if kind in ("int", "float"):
        low, high = _bounds(reader, "values", integers=kind == "int")
        return _drop_none({"type": "integer" if kind == "int" else "number", "minimum": low, "maximum": high})
    raise reader.fail(f"unknown type {kind!r}", at=at, hint=f"use one of {', '.join(TYPES)}")


def _enum_values(reader: _Reader, at: int) -> list[str]:
    reader.expect("[")
    values: list[str] = []
    while True:
        reader.skip_space()
        value_at = reader.pos
        end = min((i for i in (reader.text.find(",", reader.pos), reader.text.find("]", reader.pos)) if i != -1),
                  default=-1)
        if end == -1:
            raise reader.fail("enum is not closed with ']'", at=len(reader.text))
        value = reader.text[reader.pos:end].strip()
        reader.pos = end
        if value:
            if value in values:
                raise reader.fail(f"enum value {value!r} appears twice", at=value_at)
            values.append(value)
        elif reader.text[end] == "," or values:
            raise reader.fail("empty enum value", at=value_at)
        if reader.take("]"):
            break
        reader.expect(",")
    if not values:
        raise reader.fail("the enum has no values", at=at, hint="list the allowed values, e.g. enum[low,medium,high]")
    return values


def _bounds(reader: _Reader, unit: str, *, integers: bool) -> tuple[Any, Any]:
    """``(lo..hi)`` after a type, either side optional; ``(None, None)`` when absent."""
    if not reader.take("("):
        return None, None
    at = reader.pos
    low = _number(reader, integers) if not reader.text.startswith("..", _peek(reader)) else None
    reader.expect("..")
    reader.skip_space()
    high = _number(reader, integers) if not reader.text.startswith(")", reader.pos) else None
    reader.expect(")")
    if low is None and high is None:
        raise reader.fail("bounds need at least one number", at=at, hint="e.g. str(20..600), int(1..), float(..1)")
    if low is not None and high is not None and low > high:
        raise reader.fail(f"impossible bounds: {low} is more than {high}", at=at)
    if unit in ("characters", "items") and ((low is not None and low < 0) or (high is not None and high < 1)):
        raise reader.fail(f"impossible bounds: {unit} cannot be negative and the most must be at least 1", at=at)
    return low, high


def _peek(reader: _Reader) -> int:
    reader.skip_space()
    return reader.pos


def _number(reader: _Reader, integers: bool) -> int | float:
    at = reader.pos
    text = reader.match(_NUMBER, "a number")
    if integers and "." in text:
        raise reader.fail(f"{text} is not a whole number", at=at)
    return int(text) if integers else float(text)


def _drop_none(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if v is not None}


def fields_text(schema: dict[str, Any]) -> str:
    """A schema written back as a ``--fields`` spec where it can be (for messages, the report and the UI)."""
    parts = []
    for name, prop in schema.get("properties", {}).items():
        parts.append(f"{name}:{type_text(prop)}")
    return ", ".join(parts)


def type_text(prop: dict[str, Any]) -> str:
    """One property's type in ``--fields`` notation (``str(20..600)``, ``enum[a,b]``...)."""
    def bounds(low: Any, high: Any) -> str:
        if low is None and high is None:
            return ""
        return f"({'' if low is None else _num(low)}..{'' if high is None else _num(high)})"

    kind = prop.get("type")
    if "enum" in prop:
        return f"enum[{','.join(str(v) for v in prop['enum'])}]"
    if kind == "string":
        return "str" + bounds(prop.get("minLength"), prop.get("maxLength"))
    if kind in ("integer", "number"):
        return ("int" if kind == "integer" else "float") + bounds(prop.get("minimum"), prop.get("maximum"))
    if kind == "boolean":
        return "bool"
    if kind == "array":
        return "list[str]" + bounds(prop.get("minItems"), prop.get("maxItems"))
    return "json"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
