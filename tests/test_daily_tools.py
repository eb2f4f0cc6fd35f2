"""Daily-use fixes in the tools: 'how many X in a Y', unknown places and the local zone, code taken verbatim."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.scripted import register_script
from podium.settings import Settings
from tools.clock import zone_spans
from tools.python_exec import beside_code, explicit_code
from tools.runner import ToolEnv
from tools.units import from_unit_spans, to_unit_spans, value_spans

URL_CODE = "import urllib.request; print(urllib.request.urlopen('http://example.com').read()[:50])"


@pytest.mark.parametrize("message, value, from_unit, to_unit", [
    ("how many ounces in a pound", ["1"], ["pound"], ["ounces"]),
    ("How many grams in a kilogram?", ["1"], ["kilogram"], ["grams"]),
    ("How many minutes in an hour?", ["1"], ["hour"], ["minutes"]),
    ("How many pounds is 3.5 kg?", ["3.5"], ["kg"], ["pounds"]),
    ("Convert 5 miles to km", ["5"], ["miles"], ["km"]),
])
def test_how_many_x_in_a_y_means_one_y(message, value, from_unit, to_unit):
    assert (value_spans(message), from_unit_spans(message), to_unit_spans(message)) == (value, from_unit, to_unit)


@pytest.mark.parametrize("message, code", [
    (f"Run this python code: {URL_CODE}", URL_CODE),
    ("Run this python code:\nimport math\nprint(math.pi)  # and; more", "import math\nprint(math.pi)  # and; more"),
    ("Please run this:\n```python\nfor i in range(3):\n    print(i)\n```\nthanks", "for i in range(3):\n    print(i)"),
    ("Execute `import math; print(math.tau)`", "import math; print(math.tau)"),
    ("What does python code do?", None),
])
def test_code_to_run_is_the_whole_rest_of_the_message_or_the_fenced_block(message, code):
    assert explicit_code(message) == code


def test_unknown_places_are_offered_so_the_tool_can_say_so_and_no_place_means_local_time(monkeypatch):
    assert zone_spans("What's the time in Springfield?") == ["Springfield"]
    assert zone_spans("What time is it in Tokyo right now?") == ["Tokyo"]
    assert zone_spans("What time is it?") == []
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        from tools import REGISTRY

        env = ToolEnv(workspace=Settings().workspace_dir, now=lambda: datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
        tool = REGISTRY["current_time"]
        said = tool.func(**tool.validate({}), env=env)
        assert said == "Thursday 2026-01-15 17:30:00 IST (UTC+05:30, local time, Asia/Kolkata)"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.fixture(scope="module")
def podium(tmp_path_factory: pytest.TempPathFactory) -> PodiumApp:
    return PodiumApp(Settings(home=tmp_path_factory.mktemp("daily-tools"), temperature=0.0, max_tokens=64))


@pytest.mark.model
@pytest.mark.parametrize("question, args, answer", [
    ("how many ounces in a pound", {"value": 1.0, "from_unit": "pound", "to_unit": "ounces"}, "1 lb = 16 oz"),
    ("How many grams in a kilogram?", {"value": 1.0, "from_unit": "kilogram", "to_unit": "grams"}, "1 kg = 1000 g"),
])
def test_the_tiny_model_converts_one_unit_and_nothing_else(podium, question, args, answer):
    result = podium.ask(question)
    assert [(c["name"], c["args"]) for c in result.tool_calls] == [("convert_units", args)]
    assert result.answer == answer


@pytest.mark.model
def test_an_unknown_city_is_said_to_be_unknown_not_answered_in_utc(podium):
    result = podium.ask("What's the time in Springfield?")
    (call,) = result.tool_calls
    assert call["args"] == {"timezone": "Springfield"} and call["result"] is None
    assert "unknown time zone 'Springfield'" in result.answer and "UTC+00:00" not in result.answer


@pytest.mark.model
def test_code_goes_to_approval_verbatim_on_the_local_model(podium):
    result = podium.ask(f"Run this python code: {URL_CODE}")
    assert [c["name"] for c in result.tool_calls] == ["python"], "no read_file on the URL first"
    assert result.pending[0]["args"] == {"code": URL_CODE}


@pytest.mark.parametrize("message, rest", [
    ("What is 3*7? Then run this python code: print(6*7)", "What is 3*7? Then"),
    ("Convert 5 km to miles, and run ```print(1)``` after", "Convert 5 km to miles, and run after"),
    ("Run this python code: print(1)", ""),
])
def test_what_a_message_asks_besides_its_code(message, rest):
    assert beside_code(message) == rest


def test_code_to_run_does_not_drop_the_other_request_in_the_message(tmp_path):
    plan = register_script("calc-beside-code", ['[{"tool": "calculator", "args": {"expression": "3*7"}}]'])
    app = PodiumApp(Settings(home=tmp_path / "home"))
    result = app.ask("What is 3*7? Then run this python code: print(6*7)", options=TurnOptions(model=plan))
    assert [(c["name"], c["args"]) for c in result.tool_calls] == [
        ("calculator", {"expression": "3*7"}), ("python", {"code": "print(6*7)"})]
    assert result.tool_calls[0]["result"] == "21", "the calculation ran; the code waits for approval (or is off)"
    assert result.pending == [] or [p["name"] for p in result.pending] == ["python"]


def test_code_goes_to_approval_verbatim_on_a_native_tool_caller_without_asking_it(tmp_path):
    # Nothing listens on port 9: the code must reach approval without any model call.
    settings = Settings(home=tmp_path / "home", openai_base_url="http://127.0.0.1:9/v1")
    app = PodiumApp(settings)
    code = "print('a; b')\nprint(2 ** 10)"
    result = app.ask(f"Run this python code: {code}", options=TurnOptions(model="openai/gpt-4o-mini"))
    assert result.pending[0]["args"] == {"code": code} and result.usage["calls"] == []
