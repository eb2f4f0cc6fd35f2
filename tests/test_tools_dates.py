"""date_calc: calendar arithmetic checked against Python's own date arithmetic, its spans, trigger and errors;
and the calculator's orders ('Divide 1000 by 8.')."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.tools import TOOLS
from tools import REGISTRY, ToolEnv, ToolError, select
from tools.calculator import TRIGGER as CALCULATOR
from tools.calculator import evaluate, format_number, math_spans
from tools.dates import TRIGGER, date_spans
from tools.local import preselect

FIXED = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


def calc_date(expression: str) -> str:
    tool = REGISTRY["date_calc"]
    return tool.func(**tool.validate({"expression": expression}), env=ToolEnv(workspace=None, now=lambda: FIXED))


@pytest.mark.parametrize(("expression", "expected"), [
    ("30 days after 2026-03-01", "2026-03-31 (Tuesday)"),
    ("2 weeks and 3 days before March 3, 2026", "2026-02-14 (Saturday)"),
    ("1 month after 2024-01-31", "2024-02-29 (Thursday)"),  # the calendar's month, clamped to its last day
    ("a year from 29 February 2024", "2025-02-28 (Friday)"),
    ("add 30 days to 2026-02-10", "2026-03-12 (Thursday)"),
    ("subtract 2 weeks from 2026-05-01", "2026-04-17 (Friday)"),
    ("ten days after today", "2026-01-25 (Sunday)"),
    ("between 2025-01-01 and 2025-07-04", "184 days (26 weeks and 2 days)"),
    ("from 2025-07-04 to 2025-01-01", "-184 days (26 weeks and 2 days)"),
    ("day of the week of 2030-12-25", "2030-12-25 is a Wednesday"),
])
def test_known_dates(expression, expected):
    assert calc_date(expression) == expected


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(0, 5000))
def test_day_shifts_match_python_date_arithmetic(start, days):
    later = start + timedelta(days=days)
    assert calc_date(f"{days} days after {start.isoformat()}") == f"{later.isoformat()} ({later:%A})"
    assert calc_date(f"between {start.isoformat()} and {later.isoformat()}").startswith(f"{days} days")


@pytest.mark.parametrize(("expression", "message"), [
    ("30 days after 2026-02-30", "is not a real date"),
    ("9000 years after 2026-01-01", "outside the calendar"),
])
def test_impossible_dates_are_tool_errors(expression, message):
    with pytest.raises(ToolError, match=message):
        calc_date(expression)


def test_a_phrase_that_is_no_date_calculation_is_refused_when_validated():
    with pytest.raises(ValueError, match="not a date calculation"):
        REGISTRY["date_calc"].validate({"expression": "tomorrow morning"})


@pytest.mark.parametrize(("message", "spans"), [
    ("What is the date 30 days after 2026-03-01?", ["30 days after 2026-03-01"]),
    ("subtract 2 weeks from 2026-05-01 please", ["subtract 2 weeks from 2026-05-01"]),
    ("How many days are there between 2025-03-01 and 2025-12-25?", ["between 2025-03-01 and 2025-12-25"]),
    ("What time is it in Tokyo?", []),
])
def test_spans_are_whole_phrases_copied_from_the_message(message, spans):
    assert date_spans(message) == spans


def test_date_questions_trigger_date_calc_alone():
    import re

    trigger = re.compile(TRIGGER, re.I)
    assert trigger.search("compute the date that many days after 2026-03-01")  # a step before its input is known
    assert trigger.search("What day of the week was 2000-01-01?")
    assert not trigger.search("I waited 3 days after the party")
    assert not trigger.search("add 5 to 10")
    # 'what is the date' would also wake current_time: date_calc is exclusive, so only it is offered.
    assert list(preselect("What is the date 30 days after 2026-03-01?", select(TOOLS))[0]) == ["date_calc"]


@pytest.mark.parametrize(("text", "expected"), [
    ("Divide 1000 by 8.", "125"),
    ("Multiply 12 by 34", "408"),
    ("add 45 and 37", "82"),
    ("add 5 to 10", "15"),
    ("Subtract 19 from 100.", "81"),
    ("Take 15 away from 60", "45"),
    ("Sum 1.25, 2.5 and 3.75", "7.5"),
    ("divide 2 to the power of 10 by 4", "256"),
])
def test_orders_are_arithmetic_and_trigger_the_calculator(text, expected):
    import re

    assert format_number(evaluate(text)) == expected
    assert re.search(CALCULATOR, text, re.I)
    assert math_spans(text) == [text.rstrip(".")]


@pytest.mark.parametrize("text", ["add 30 days to 2026-02-10", "divide the class by 3", "add salt to the soup"])
def test_orders_about_other_things_are_not_arithmetic(text):
    import re

    assert not re.search(CALCULATOR, text, re.I)
