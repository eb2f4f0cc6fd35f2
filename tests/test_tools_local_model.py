"""Tool calling on the embedded SmolLM2-135M (temperature 0), through the whole graph and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.scripted import register_script
from podium.settings import Settings
from tests.conftest import run_cli

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def podium(tmp_path_factory: pytest.TempPathFactory) -> PodiumApp:
    home = tmp_path_factory.mktemp("podium-tools")
    app = PodiumApp(Settings(home=home, temperature=0.0, max_tokens=64))
    notes = app.settings.workspace_dir / "notes"
    notes.mkdir()
    (notes / "todo.md").write_text("- buy milk\n- call Ada\n")
    return app


@pytest.mark.parametrize("question, tool, args, answer", [
    ("What is 1234 * 5678?", "calculator", {"expression": "1234 * 5678"}, "7006652"),
    ("What is the square root of 1764?", "calculator", {"expression": "square root of 1764"}, "42"),
    ("Calculate (48 + 52) * 3 - 7", "calculator", {"expression": "(48 + 52) * 3 - 7"}, "293"),
    ("What is a 15% tip on a $86.40 bill?", "calculator", {"expression": "15% tip on a $86.40 bill"}, "12.96"),
    ("What's 17.5% of 2340?", "calculator", {"expression": "17.5% of 2340"}, "409.5"),
    ("what is 2 to the power of 20", "calculator", {"expression": "2 to the power of 20"}, "1048576"),
    ("Convert 5 miles to km", "convert_units", {"value": 5.0, "from_unit": "miles", "to_unit": "km"}, "8.04672 km"),
    ("What time is it in Tokyo?", "current_time", {"timezone": "Tokyo"}, "Asia/Tokyo"),
    ("Read the file notes/todo.md", "read_file", {"path": "notes/todo.md"}, "- call Ada"),
    ("List the files in the workspace", "list_files", {"path": "."}, "notes/"),
])
def test_the_tiny_model_calls_the_right_tool_with_the_users_own_words(podium, question, tool, args, answer):
    events = list(podium.stream_turn(question))
    result = events[-1].data["result"]
    assert result.route == ["conductor", "tools"]
    (call,) = result.tool_calls
    assert (call["name"], call["args"], call["error"], call["approved"]) == (tool, args, None, None)
    assert answer in call["result"] and answer in result.answer
    streamed = "".join(e.data["text"] for e in events if e.kind == "token")
    assert streamed == result.answer, "the answer streams; the tool-choice JSON does not"
    assert result.model == "llamacpp/smollm2-135m"


def test_two_questions_get_two_calls_each_from_its_own_words(podium):
    result = podium.ask("What is 12*3 and what is the square root of 81?")
    assert [(c["args"]["expression"], c["result"]) for c in result.tool_calls] == [("12*3", "36"),
                                                                                  ("square root of 81", "9")]
    assert result.answer == "12*3 = 36\nsquare root of 81 = 9"


def test_arguments_with_quotes_and_newlines_are_copied_exactly(podium):
    code = 'print("a" + \'b\')\nprint(1)'
    result = podium.ask(f"Run this python code:\n```python\n{code}\n```")
    (pending,) = result.pending
    assert pending["name"] == "python" and pending["args"] == {"code": code}
    assert result.paused_before == ["approval"] and result.answer == ""


def test_a_failing_model_escalates_to_the_next_in_the_chain(podium):
    bad = register_script("bad-planner", ["not json at all"] * 3)
    result = podium.ask("What is 1234 * 5678?", options=TurnOptions(model=bad, fallbacks=["llamacpp/smollm2-135m"]))
    assert result.tool_calls[0]["result"] == "7006652" and "7006652" in result.answer
    assert any("bad-planner: gave no valid tool call" in n and n.endswith("falling back to llamacpp/smollm2-135m")
               for n in result.notices), result.notices


def test_cli_ask_json_calls_the_calculator(tmp_path: Path):
    done = run_cli("ask", "--json", "What is 1234 * 5678?")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [c["name"] for c in data["tool_calls"]] == ["calculator"] and "7006652" in data["answer"]
    assert data["tool_calls"][0]["args"] == {"expression": "1234 * 5678"}
