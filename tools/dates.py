"""date_calc: calendar arithmetic in the user's words ('30 days after 2026-03-01', 'days between A and B').

Like the calculator, it reads a phrase rather than asking a small model to fill several
numeric fields: the phrase is a span copied from the message, and the parsing is
deterministic. Months and years move by calendar (Jan 31 + 1 month is Feb 28/29).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator

from tools.registry import ToolError, tool

MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name}
MONTHS |= {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name}
COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
          "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
DATE = (r"\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}"
        rf"|(?:{_MONTH})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH})\.?,?\s+\d{{4}}|today|tomorrow|yesterday")
"""Dates it reads: ISO (2026-03-01, 2026/3/1), 'March 1, 2026', '1 March 2026', today, tomorrow, yesterday."""
_COUNT = rf"(?:\d+|{'|'.join(COUNTS)})"
_UNIT = r"(?:days?|weeks?|months?|years?)"
_AMOUNT = rf"{_COUNT}\s+{_UNIT}(?:(?:,\s*|\s+and\s+){_COUNT}\s+{_UNIT})*"
SHIFT = re.compile(rf"({_AMOUNT})\s+(after|from|since|before|prior to|until)\s+({DATE})", re.I)
ADD = re.compile(rf"(add|plus|subtract|take|minus)\s+({_AMOUNT})\s+(?:away\s+)?(?:to|from|on)\s+({DATE})", re.I)
BETWEEN = re.compile(rf"(?:between|from)\s+({DATE})\s+(?:and|to|until|till)\s+({DATE})", re.I)
WEEKDAY = re.compile(rf"(?:day of the week|weekday|what day)\b.*?({DATE})", re.I)
_PATTERNS = (ADD, SHIFT, BETWEEN, WEEKDAY)

_SOME = rf"(?:\d+|that many|{'|'.join(COUNTS)})"
TRIGGER = (rf"\b{_SOME}\s+{_UNIT}\s+(?:after|before|from|since|prior to)\b.*?(?:\d{{4}}|today|tomorrow|yesterday"
           rf"|{_MONTH})|\b(?:add|subtract)\s+{_SOME}\s+{_UNIT}\s+(?:to|from)\b"
           rf"|\bdays?\s+(?:are there\s+)?(?:between|from)\s+(?:{DATE})"
           rf"|\b(?:day of the week|weekday|what day)\b.*\d{{4}}")
"""Messages that clearly ask for date arithmetic (routing and pre-selection)."""


def parse_date(text: str, today: date) -> date:
    """A date from one of the :data:`DATE` forms; raise :class:`ToolError`."""
    cleaned = re.sub(r"(?<=\d)(?:st|nd|rd|th)\b|,|\bof\b|\.", " ", text.strip().lower())
    words = cleaned.split()
    relative = {"today": 0, "tomorrow": 1, "yesterday": -1}
    try:
        if len(words) == 1 and words[0] in relative:
            return today + timedelta(days=relative[words[0]])
        if re.fullmatch(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}", cleaned.strip()):
            year, month, day = (int(p) for p in re.split(r"[-/]", cleaned.strip()))
            return date(year, month, day)
        if len(words) == 3 and words[0] in MONTHS:
            return date(int(words[2]), MONTHS[words[0]], int(words[1]))
        if len(words) == 3 and words[1] in MONTHS:
            return date(int(words[2]), MONTHS[words[1]], int(words[0]))
    except ValueError as exc:
        raise ToolError(f"{text!r} is not a real date ({exc})") from None
    raise ToolError(f"could not read {text!r} as a date; write it as 2026-03-01 or March 1, 2026")


def shift(start: date, amount: str, sign: int) -> date:
    """``start`` moved by an amount such as '2 weeks and 3 days' (months and years by the calendar)."""
    result = start
    for count, unit in re.findall(rf"({_COUNT})\s+({_UNIT})", amount, re.I):
        n = sign * (int(count) if count.isdigit() else COUNTS[count.lower()])
        unit = unit.lower().rstrip("s")
        if unit in ("day", "week"):
            result += timedelta(days=n * (7 if unit == "week" else 1))
        else:
            months = result.month - 1 + n * (12 if unit == "year" else 1)
            year, month = result.year + months // 12, months % 12 + 1
            if not 1 <= year <= 9999:
                raise ToolError("that date is outside the calendar (years 1 to 9999)")
            result = result.replace(year=year, month=month, day=min(result.day, calendar.monthrange(year, month)[1]))
    return result


def _readable(text: str) -> str:
    """Pydantic validator: refuse a phrase none of the forms reads (the model may pick another span)."""
    if not any(p.search(text) for p in _PATTERNS):
        raise ValueError(f"not a date calculation: {text!r}; e.g. '30 days after 2026-03-01'")
    return text


def date_spans(message: str) -> list[str]:
    """Candidate phrases in a message: each match of a shift, an interval or a weekday question."""
    found = list(dict.fromkeys(m.group(0).strip() for p in _PATTERNS for m in p.finditer(message)))
    return [f for f in found if not any(f != g and f in g for g in found)]


def _answer(args: dict[str, Any], result: str) -> str:
    return f"{args['expression']}: {result}."


@tool(
    trigger=TRIGGER,
    exclusive=True,
    spans={"expression": date_spans},
    examples=[("What date is 10 days after 2025-12-28?", {"expression": "10 days after 2025-12-28"}),
              ("How many days are there between 2025-01-01 and 2025-03-01?",
               {"expression": "between 2025-01-01 and 2025-03-01"})],
    answer=_answer,
)
def date_calc(expression: Annotated[str, AfterValidator(_readable)], *, env: Any = None) -> str:
    """Calendar arithmetic: a date plus or minus days, weeks, months or years; days between two dates; weekdays.

    Args:
        expression: The calculation in words, e.g. '30 days after 2026-03-01', '2 weeks before March 3, 2026',
            'between 2025-01-01 and 2025-07-04', 'day of the week of 2030-12-25'.
    """
    today = (env.now() if env is not None else datetime.now(UTC)).date()
    if match := ADD.search(expression):
        verb, amount, start = match.groups()
        moved = shift(parse_date(start, today), amount, 1 if verb.lower() in ("add", "plus") else -1)
        return f"{moved.isoformat()} ({moved:%A})"
    if match := SHIFT.search(expression):
        amount, direction, start = match.groups()
        sign = -1 if direction.lower() in ("before", "prior to", "until") else 1
        try:
            moved = shift(parse_date(start, today), amount, sign)
        except OverflowError:
            raise ToolError("that date is outside the calendar (years 1 to 9999)") from None
        return f"{moved.isoformat()} ({moved:%A})"
    if match := BETWEEN.search(expression):
        first, second = (parse_date(d, today) for d in match.groups())
        days = (second - first).days
        return f"{days} days ({abs(days) // 7} weeks and {abs(days) % 7} days)"
    if match := WEEKDAY.search(expression):
        day = parse_date(match.group(1), today)
        return f"{day.isoformat()} is a {day:%A}"
    raise ToolError(f"not a date calculation: {expression!r}")
