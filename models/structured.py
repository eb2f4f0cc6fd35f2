"""Structured output: a schema as a dict, the repair prompt, and checking a model's JSON against the schema."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage
from pydantic import BaseModel, ValidationError

Schema = type[BaseModel] | dict[str, Any]
"""What a caller may ask for: a pydantic model or a JSON schema."""

REPAIR_PROMPT = ("Your previous answer is not valid: {problem}. Reply again with only a JSON object "
                 "that matches this JSON schema:\n{schema}")


def schema_dict(schema: Schema | None) -> dict[str, Any] | None:
    """The JSON schema of ``schema`` (``None`` stays ``None``)."""
    if schema is None or isinstance(schema, dict):
        return schema
    return schema.model_json_schema()


def repair_prompt(problem: str, schema: dict[str, Any]) -> str:
    """What a model is told after an invalid structured answer."""
    return REPAIR_PROMPT.format(problem=problem, schema=json.dumps(schema))


def validate(reply: AIMessage, schema: Schema | None, as_dict: dict[str, Any]) -> str | None:
    """Parse and check a structured answer: store it in ``additional_kwargs['parsed']``, or return the problem."""
    text = reply.text.strip()
    if text.startswith("```"):  # a cheap local repair: models like to fence their JSON
        text = text.strip("`").removeprefix("json").strip()
    start, end = text.find("{"), text.rfind("}")
    text = text[start:end + 1] if start != -1 and end > start else text
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            parsed = schema.model_validate_json(text).model_dump(mode="json")
        else:
            import jsonschema

            parsed = json.loads(text)
            jsonschema.validate(parsed, as_dict)
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()[:3])
    except Exception as exc:  # noqa: BLE001 - json and jsonschema errors alike
        return str(exc).splitlines()[0][:200] or type(exc).__name__
    reply.additional_kwargs["parsed"] = parsed
    return None
