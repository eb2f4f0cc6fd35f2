"""convert_units: length, mass, volume, area, time, speed, data, energy and temperature.

Factors are exact decimals (an inch is 0.0254 m by definition), so 12 in -> 1 ft exactly.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal, localcontext
from typing import Any

from tools.calculator import DECIMALS, format_number
from tools.registry import ToolError, tool

D = Decimal

# dimension -> {canonical unit: (factor to the base unit, aliases)}
TABLE: dict[str, dict[str, tuple[Decimal, tuple[str, ...]]]] = {
    "length": {
        "m": (D(1), ("meter", "meters", "metre", "metres")),
        "km": (D(1000), ("kilometer", "kilometers", "kilometre", "kilometres", "kms")),
        "cm": (D("0.01"), ("centimeter", "centimeters", "centimetre", "centimetres")),
        "mm": (D("0.001"), ("millimeter", "millimeters", "millimetre", "millimetres")),
        "um": (D("0.000001"), ("µm", "micrometer", "micrometers", "micron", "microns")),
        "nm": (D("1e-9"), ("nanometer", "nanometers")),
        "mi": (D("1609.344"), ("mile", "miles")),
        "yd": (D("0.9144"), ("yard", "yards")),
        "ft": (D("0.3048"), ("foot", "feet", "'")),
        "in": (D("0.0254"), ("inch", "inches", '"')),
        "nmi": (D(1852), ("nautical mile", "nautical miles")),
    },
    "mass": {
        "kg": (D(1), ("kilogram", "kilograms", "kilo", "kilos", "kgs")),
        "g": (D("0.001"), ("gram", "grams", "gr")),
        "mg": (D("0.000001"), ("milligram", "milligrams")),
        "t": (D(1000), ("tonne", "tonnes", "metric ton", "metric tons")),
        "lb": (D("0.45359237"), ("lbs", "pound", "pounds")),
        "oz": (D("0.028349523125"), ("ounce", "ounces")),
        "st": (D("6.35029318"), ("stone", "stones")),
    },
    "volume": {
        "l": (D("0.001"), ("L", "liter", "liters", "litre", "litres")),
        "ml": (D("0.000001"), ("mL", "milliliter", "milliliters", "millilitre", "millilitres")),
        "m3": (D(1), ("m³", "cubic meter", "cubic meters", "cubic metre", "cubic metres")),
        "gal": (D("0.003785411784"), ("gallon", "gallons", "us gallon", "us gallons")),
        "qt": (D("0.000946352946"), ("quart", "quarts")),
        "pt": (D("0.000473176473"), ("pint", "pints")),
        "cup": (D("0.0002365882365"), ("cups",)),
        "floz": (D("0.0000295735295625"), ("fl oz", "fluid ounce", "fluid ounces")),
        "tbsp": (D("0.00001478676478125"), ("tablespoon", "tablespoons")),
        "tsp": (D("0.00000492892159375"), ("teaspoon", "teaspoons")),
    },
    "area": {
        "m2": (D(1), ("m²", "sq m", "square meter", "square meters", "square metre", "square metres")),
        "km2": (D(1000000), ("km²", "sq km", "square kilometer", "square kilometers")),
        "ft2": (D("0.09290304"), ("ft²", "sq ft", "square foot", "square feet")),
        "acre": (D("4046.8564224"), ("acres",)),
        "ha": (D(10000), ("hectare", "hectares")),
    },
    "time": {
        "s": (D(1), ("sec", "secs", "second", "seconds")),
        "ms": (D("0.001"), ("millisecond", "milliseconds")),
        "min": (D(60), ("mins", "minute", "minutes")),
        "h": (D(3600), ("hr", "hrs", "hour", "hours")),
        "day": (D(86400), ("days", "d")),
        "week": (D(604800), ("weeks", "wk")),
        "year": (D(31557600), ("years", "yr", "yrs")),  # Julian year: 365.25 days
    },
    "speed": {
        "m/s": (D(1), ("mps", "meters per second", "metres per second")),
        "km/h": (D(1000) / D(3600), ("kph", "kmh", "kmph", "kilometers per hour", "kilometres per hour")),
        "mph": (D("1609.344") / D(3600), ("mi/h", "miles per hour")),
        "kn": (D(1852) / D(3600), ("knot", "knots", "kt")),
        "ft/s": (D("0.3048"), ("fps", "feet per second")),
    },
    "data": {
        "B": (D(1), ("byte", "bytes")),
        "bit": (D("0.125"), ("bits", "b")),
        "KB": (D(1000), ("kB", "kilobyte", "kilobytes")),
        "MB": (D(10**6), ("megabyte", "megabytes")),
        "GB": (D(10**9), ("gigabyte", "gigabytes")),
        "TB": (D(10**12), ("terabyte", "terabytes")),
        "KiB": (D(1024), ("kibibyte", "kibibytes")),
        "MiB": (D(1024**2), ("mebibyte", "mebibytes")),
        "GiB": (D(1024**3), ("gibibyte", "gibibytes")),
        "TiB": (D(1024**4), ("tebibyte", "tebibytes")),
    },
    "energy": {
        "J": (D(1), ("joule", "joules")),
        "kJ": (D(1000), ("kilojoule", "kilojoules")),
        "cal": (D("4.184"), ("calorie", "calories")),
        "kcal": (D(4184), ("kilocalorie", "kilocalories", "Cal")),
        "Wh": (D(3600), ("watt hour", "watt hours")),
        "kWh": (D(3600000), ("kilowatt hour", "kilowatt hours")),
    },
    "temperature": {"C": (D(1), ("°C", "celsius", "centigrade", "degrees celsius", "degC")),
                    "F": (D(1), ("°F", "fahrenheit", "degrees fahrenheit", "degF")),
                    "K": (D(1), ("kelvin", "kelvins"))},
}

EXACT: dict[str, tuple[str, str]] = {}
"""Exact spelling -> (dimension, canonical unit); case matters for 'MB' vs 'mb' style symbols."""
FOLDED: dict[str, tuple[str, str]] = {}
"""Lower-cased spelling -> (dimension, canonical unit), used when the exact spelling is unknown."""
for _dim, _units in TABLE.items():
    for _unit, (_factor, _aliases) in _units.items():
        for _name in (_unit, *_aliases):
            EXACT[_name] = (_dim, _unit)
            FOLDED.setdefault(_name.lower(), (_dim, _unit))


def lookup(name: str) -> tuple[str, str]:
    """``(dimension, canonical unit)`` for a spelling; raise :class:`ToolError` with suggestions."""
    cleaned = " ".join(name.strip().split())
    found = EXACT.get(cleaned) or FOLDED.get(cleaned.lower())
    if found:
        return found
    close = difflib.get_close_matches(cleaned.lower(), list(FOLDED), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ToolError(f"unknown unit {name!r}{hint}")


def _to_kelvin(value: Decimal, unit: str) -> Decimal:
    return {"K": value, "C": value + D("273.15"), "F": (value - 32) * 5 / 9 + D("273.15")}[unit]


def _from_kelvin(value: Decimal, unit: str) -> Decimal:
    return {"K": value, "C": value - D("273.15"), "F": (value - D("273.15")) * 9 / 5 + 32}[unit]


def convert(value: Decimal, from_unit: str, to_unit: str) -> tuple[Decimal, str, str]:
    """Convert ``value``; returns (result, canonical from unit, canonical to unit)."""
    (dim_a, a), (dim_b, b) = lookup(from_unit), lookup(to_unit)
    if dim_a != dim_b:
        raise ToolError(f"cannot convert {dim_a} ({from_unit}) to {dim_b} ({to_unit})")
    with localcontext(DECIMALS):
        if dim_a == "temperature":
            if _to_kelvin(value, a) < 0:
                raise ToolError("that temperature is below absolute zero")
            return _from_kelvin(_to_kelvin(value, a), b), a, b
        return value * TABLE[dim_a][a][0] / TABLE[dim_b][b][0], a, b


_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?|-?\.\d+")
_UNIT_WORDS = sorted(FOLDED, key=len, reverse=True)
_UNIT_RE = re.compile(r"(?<![\w°])(" + "|".join(re.escape(u) for u in _UNIT_WORDS) + r")(?![\w²³])", re.IGNORECASE)


def number_spans(message: str) -> list[str]:
    """Numbers written in the message (thousands separators dropped)."""
    return list(dict.fromkeys(m.group().replace(",", "") for m in _NUMBER.finditer(message)))


def unit_spans(message: str) -> list[str]:
    """Unit names written in the message, in order of appearance."""
    found = [m.group() for m in _UNIT_RE.finditer(message)]
    return list(dict.fromkeys(u for u in found if u.lower() not in ("in", "b", "d", "t", "'", '"') or
                              _looks_like_unit(message, u)))


_UNIT_GROUP = "(" + "|".join(re.escape(u) for u in _UNIT_WORDS) + r")(?![\w²³])"
_AFTER_NUMBER = re.compile(r"\d(?:[\d,]*\d)?(?:\.\d+)?\s*" + _UNIT_GROUP, re.IGNORECASE)
_TARGET = re.compile(r"(?:\b(?:to|into|in|as)\s+(?:an?\s+)?|\bhow many\s+)" + _UNIT_GROUP, re.IGNORECASE)


_ONE = re.compile(r"\b(?:a|an|one|per)\s+" + _UNIT_GROUP, re.IGNORECASE)
"""'in a pound', 'in one hour': a quantity of one, written without a number."""


def value_spans(message: str) -> list[str]:
    """The numbers written in the message; '1' when there is none but 'a pound' ('how many ounces in a pound')."""
    return number_spans(message) or (["1"] if _ONE.search(message) else [])


def _given(message: str) -> list[str]:
    """Units of a quantity the message gives: after a number ('5 miles'), else after 'a'/'one' ('in a pound')."""
    found = [m.group(1) for m in _AFTER_NUMBER.finditer(message)] or [m.group(1) for m in _ONE.finditer(message)]
    return list(dict.fromkeys(found))


def from_unit_spans(message: str) -> list[str]:
    """Units of the quantity given ('5 miles', 'a pound'): what the value is in. All units when there are none."""
    return _given(message) or unit_spans(message)


def to_unit_spans(message: str) -> list[str]:
    """Units after 'to', 'in', 'into', 'as' or 'how many' that are not the quantity given: what is wanted.
    All units when there are none."""
    given = {u.lower() for u in _given(message)}
    found = [m.group(1) for m in _TARGET.finditer(message)
             if m.group(1).lower() not in ("in", "t") and m.group(1).lower() not in given]
    return list(dict.fromkeys(found)) or unit_spans(message)


def _looks_like_unit(message: str, unit: str) -> bool:
    """Short, ambiguous spellings ('in', 't') count only right after a number: '12 in'."""
    return bool(re.search(rf"\d\s*{re.escape(unit)}(?!\w)", message))


_ANY_UNIT = "|".join(re.escape(u) for u in _UNIT_WORDS if len(u) > 1)
UNIT_QUESTION = (
    rf"\d[\d,.]*\s*(?:{_ANY_UNIT})\s+(?:to|in|into|as)\s+(?:{_ANY_UNIT})\b|"  # 5 km in miles
    rf"\bhow many\s+(?:{_ANY_UNIT})\s+(?:is|are|in|make|per)\b.*?(?:\d|\ba\b|\ban\b|\bone\b)"  # how many lb is 3 kg
)
"""Messages that clearly ask for a unit conversion."""


def _answer(args: dict[str, Any], result: str) -> str:
    return result


@tool(
    trigger=r"\bconvert\b.*\bto\b|" + UNIT_QUESTION,
    spans={"value": value_spans, "from_unit": from_unit_spans, "to_unit": to_unit_spans},
    examples=[("Convert 3 feet to meters", {"value": 3, "from_unit": "feet", "to_unit": "meters"}),
              ("How many pounds is 2 kg?", {"value": 2, "from_unit": "kg", "to_unit": "pounds"})],
    answer=_answer,
)
def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a quantity between units of length, mass, volume, area, time, speed, data, energy or temperature.

    Args:
        value: The quantity to convert, e.g. 5.
        from_unit: The unit the value is in, e.g. 'miles', 'kg', '°F', 'GiB'.
        to_unit: The unit wanted, e.g. 'km', 'pounds', 'celsius', 'MB'.
    """
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    result, a, b = convert(exact, from_unit, to_unit)
    return f"{format_number(exact)} {a} = {_short(result)} {b}"


def _short(value: Decimal) -> str:
    """Ten significant digits: conversions rarely mean more, and 0.6213711922373339696 reads badly."""
    with localcontext(DECIMALS) as ctx:
        ctx.prec = 10
        return format_number(+value)
