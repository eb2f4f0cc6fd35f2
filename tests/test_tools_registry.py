"""The tool registry: every schema is described, bad definitions fail when defined, allow-lists are explicit."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, ValidationError

from agents.registry import SPECIALISTS, tool_users
from tests.conftest import run_cli
from tools import REGISTRY, ToolDefinitionError, select, tool
from tools.registry import parse_docstring


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_tool_and_argument_is_described(name):
    t = REGISTRY[name]
    schema = t.schema()
    assert len(t.description) > 20, "a model needs a real description"
    assert schema["type"] == "object" and schema.get("additionalProperties") is False
    assert schema["properties"], "every built-in tool takes arguments"
    for arg, prop in schema["properties"].items():
        assert len(prop.get("description", "")) > 10, f"{name}.{arg} has no useful description"
        assert "title" not in prop
    function = t.openai_schema()["function"]
    assert function["name"] == name and function["parameters"] == schema
    for message, args in t.examples:
        assert t.validate(args) is not None and message


def test_only_python_needs_approval():
    assert {n for n, t in REGISTRY.items() if t.needs_approval} == {"python"}


def test_allow_lists_are_explicit_and_name_real_tools():
    for specialist in SPECIALISTS:
        assert set(specialist.tools) <= set(REGISTRY), f"{specialist.name} allows unknown tools"
        assert list(select(specialist.tools)) == list(specialist.tools)
    allowed = {s.name: s.tools for s in SPECIALISTS}
    assert allowed["chat"] == () and "calculator" in allowed["tools"]
    assert tool_users()["calculator"] == ["tools"]
    with pytest.raises(ToolDefinitionError, match="no tool named 'no-such-tool'"):
        select(["calculator", "no-such-tool"])


def test_a_tool_without_a_description_fails_at_definition():
    with pytest.raises(ToolDefinitionError, match="no description"):
        @tool(register=False)
        def nothing(x: int) -> str:
            return str(x)


def test_an_argument_without_a_description_fails_at_definition():
    with pytest.raises(ToolDefinitionError, match="'y' has no description"):
        @tool(register=False)
        def add(x: int, y: int) -> str:
            """Add two numbers.

            Args:
                x: The first number.
            """
            return str(x + y)


@pytest.mark.parametrize("source, problem", [
    ("def f(x):\n    '''Do it.\n\n    Args:\n        x: A thing.\n    '''", "no type annotation"),
    ("def f(x: int):\n    '''Do it.\n\n    Args:\n        x: A thing.\n        y: Gone.\n    '''",
     "documents arguments"),
    ("def f(*xs: int):\n    '''Do it.\n\n    Args:\n        xs: Things.\n    '''", r"\*args"),
])
def test_other_definition_mistakes_fail_at_definition(source, problem):
    namespace: dict[str, Any] = {}
    exec(source + "\n    return ''", namespace)  # noqa: S102 - building functions with broken signatures
    with pytest.raises(ToolDefinitionError, match=problem):
        tool(register=False)(namespace["f"])


def test_examples_and_span_finders_are_checked_and_names_are_unique():
    def double(x: int) -> str:
        """Double a number.

        Args:
            x: The number to double.
        """
        return str(2 * x)

    with pytest.raises(ToolDefinitionError, match="example"):
        tool(register=False, examples=[("double ten", {"x": "ten"})])(double)
    with pytest.raises(ToolDefinitionError, match="span finders"):
        tool(register=False, spans={"y": lambda m: []})(double)
    double.__name__ = "calculator"
    with pytest.raises(ToolDefinitionError, match="defined twice"):
        tool()(double)
    assert REGISTRY["calculator"].func is not double


def must_be_even(v: int) -> int:
    if v % 2:
        raise ValueError("odd")
    return v


def test_validation_is_pydantic_with_annotated_checks_and_no_extra_arguments():
    @tool(register=False)
    def halve(n: Annotated[int, AfterValidator(must_be_even)], label: str = "half") -> str:
        """Halve an even number.

        Args:
            n: An even number.
            label: What to call the result.
        """
        return f"{label}: {n // 2}"

    assert halve.validate({"n": "4"}) == {"n": 4, "label": "half"}
    for bad in ({"n": 3}, {"n": "four"}, {"n": 4, "extra": 1}, {}):
        with pytest.raises(ValidationError):
            halve.validate(bad)
    assert halve.schema()["required"] == ["n"]


def test_docstring_parser_joins_continuation_lines():
    summary, args = parse_docstring("""Do a thing
    over two lines.

    Args:
        first (int): Starts here
            and continues here.
        second: Short.

    Returns:
        Something.
    """)
    assert summary == "Do a thing over two lines."
    assert args == {"first": "Starts here and continues here.", "second": "Short."}


def test_podium_tools_lists_schemas_as_json_and_as_a_table():
    listed = run_cli("tools", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["tools"]}
    assert set(rows) == set(REGISTRY)
    assert rows["python"]["needs_approval"] is True and rows["python"]["specialists"] == ["tools"]
    assert rows["calculator"]["parameters"]["properties"]["expression"]["description"]
    table = run_cli("tools")
    assert table.returncode == 0 and "convert_units" in table.stdout and "yes" in table.stdout
