"""--fields specs, --schema files and --like inference: pure units, no model."""

from __future__ import annotations

import json

import pytest

from podium.errors import ConfigError
from tools.datagen.fields import FieldSpecError, fields_text, parse_fields
from tools.datagen.schema import Validator, check_schema, grammar_schema, infer_schema, load_schema, read_examples

TICKETS = "subject:str, body:str(20..600), priority:enum[low,medium,high], category:enum[billing,bug,feature,account]"


def test_the_ticket_spec_becomes_a_json_schema_in_field_order():
    schema = parse_fields(TICKETS)
    assert list(schema["properties"]) == ["subject", "body", "priority", "category"]
    assert schema["required"] == ["subject", "body", "priority", "category"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["body"] == {"type": "string", "minLength": 20, "maxLength": 600}
    assert schema["properties"]["priority"] == {"type": "string", "enum": ["low", "medium", "high"]}


def test_every_type_and_bound_form():
    schema = parse_fields("a:int(1..5), b:float(..1.5), c:bool, d:list[str](1..3), e:str(3..), f:int(-2..)")
    props = schema["properties"]
    assert props["a"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert props["b"] == {"type": "number", "maximum": 1.5}
    assert props["c"] == {"type": "boolean"}
    assert props["d"]["type"] == "array" and props["d"]["minItems"] == 1 and props["d"]["maxItems"] == 3
    assert props["e"] == {"type": "string", "minLength": 3}
    assert props["f"] == {"type": "integer", "minimum": -2}
    assert fields_text(schema) == "a:int(1..5), b:float(..1.5), c:bool, d:list[str](1..3), e:str(3..), f:int(-2..)"


@pytest.mark.parametrize(("spec", "position", "words"), [
    ("subject:strng", 9, "unknown type 'strng'"),
    ("subject str", 9, "expected ':'"),
    ("subject:str body:str", 13, "expected ','"),
    ("priority:enum[]", 10, "the enum has no values"),
    ("priority:enum[low,,high]", 19, "empty enum value"),
    ("priority:enum[low,high", 23, "not closed"),
    ("body:str(600..20)", 10, "impossible bounds: 600 is more than 20"),
    ("body:str(..0)", 10, "impossible bounds"),
    ("n:int(1.5..3)", 7, "not a whole number"),
    ("a:str, a:int", 8, "defined twice"),
    ("", 1, "the spec is empty"),
    ("x:list[int]", 3, "only list[str]"),
    ("_meta:str", 1, "reserved"),
    ("a:str,", 7, "expected a field name"),
])
def test_a_bad_spec_points_at_the_character(spec, position, words):
    with pytest.raises(FieldSpecError) as caught:
        parse_fields(spec)
    error = caught.value
    assert words in error.message
    assert f"at character {position}" in error.message
    assert "⟨here⟩" in error.message and "\n" not in error.message
    assert error.message.split(f"at character {position}: ", 1)[1].replace("⟨here⟩", "") == spec
    assert error.hint


def test_grammar_schema_pins_labels_and_leaves_long_limits_to_validation():
    schema = parse_fields("body:str(20..600), title:str(5..80), score:int(1..5), big:int(0..1000), p:enum[a,b]")
    grammar = grammar_schema(schema, {"p": "b"})
    assert "maxLength" not in grammar["properties"]["body"] and grammar["properties"]["body"]["minLength"] == 20
    assert grammar["properties"]["title"]["maxLength"] == 80
    assert grammar["properties"]["score"] == {"enum": [1, 2, 3, 4, 5]}
    assert grammar["properties"]["big"] == {"type": "integer", "minimum": 0, "maximum": 1000}
    assert grammar["properties"]["p"] == {"enum": ["b"]}
    assert schema["properties"]["body"]["maxLength"] == 600, "the real schema is untouched"


def test_validator_checks_the_schema_and_blank_text():
    check = Validator(parse_fields("subject:str, body:str(5..20), score:int(1..5)"))
    assert check.problem({"subject": "Hi", "body": "a long enough", "score": 3}) is None
    assert "body" in check.problem({"subject": "Hi", "body": "x" * 30, "score": 3})
    assert "score" in check.problem({"subject": "Hi", "body": "hello there", "score": 9})
    assert check.problem({"subject": "   ", "body": "hello there", "score": 1}) == "subject: empty text"
    assert "required" in check.problem({"subject": "Hi", "score": 1})


def test_schema_files_are_checked(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"properties": {"q": {"type": "string", "description": "a question"}}}))
    schema = load_schema(good)
    assert schema["type"] == "object" and schema["required"] == ["q"]
    for bad, words in ([1, 2], "must describe an object"), ({"type": "object", "properties": {}}, "must describe"), \
            ({"properties": {"a": {"type": "strung"}}}, "invalid JSON Schema"), \
            ({"properties": {"a": {"enum": []}}}, "empty enum"):
        with pytest.raises(ConfigError, match=words):
            check_schema(bad, "--schema")
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(ConfigError, match="is not JSON"):
        load_schema(tmp_path / "broken.json")
    with pytest.raises(ConfigError, match="no such file"):
        load_schema(tmp_path / "missing.json")


def test_like_infers_types_labels_and_bounds(tmp_path):
    rows = [{"subject": f"Cannot log in {i}", "priority": p, "score": i, "urgent": i % 2 == 0, "tags": ["a"]}
            for i, p in enumerate(["low", "high", "low", "high", "medium", "low"])]
    path = tmp_path / "examples.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    schema = infer_schema(read_examples(path))
    props = schema["properties"]
    assert props["priority"] == {"type": "string", "enum": ["high", "low", "medium"]}
    assert props["subject"]["type"] == "string" and "enum" not in props["subject"]
    assert props["score"] == {"type": "integer", "minimum": 0, "maximum": 5}
    assert props["urgent"] == {"type": "boolean"}
    assert props["tags"]["type"] == "array"
    assert all(Validator(schema).problem(r) is None for r in rows), "the examples fit what was inferred"
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ConfigError, match="no example objects"):
        read_examples(tmp_path / "empty.jsonl")


def test_chat_requests_for_datasets_are_read_deterministically():
    from tools.datagen.intent import parse_request

    intent = parse_request("generate 20 support tickets as JSON with subject, body and priority")
    assert (intent.n, intent.description, intent.fmt, intent.chat) == (20, "support tickets", "jsonl", False)
    assert intent.fields == "subject:str(2..120), body:str(20..600), priority:enum[low,medium,high]"
    parse_fields(intent.fields)
    review = parse_request("Create 50 product reviews with title, review text, rating and sentiment as CSV")
    assert review.fmt == "csv" and review.fields.endswith("rating:int(1..5), sentiment:enum[positive,neutral,negative]")
    assert "review_text:str(20..600)" in review.fields
    explicit = parse_request("make 5 recipes with fields: name:str, minutes:int(5..120)")
    assert explicit.fields == "name:str, minutes:int(5..120)"
    chat = parse_request("write a dozen chat conversations about cooking")
    assert chat.chat and chat.n == 12 and chat.fields is None
    assert parse_request("What is 2 + 2?") is None
    assert parse_request("Generate a haiku about the sea") is None
