"""current_time: the date and time in any time zone, named the way people name them."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import timezone as fixed_offset
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from tools.registry import ToolError, tool

ABBREVIATIONS = {
    "UTC": "UTC", "GMT": "Etc/GMT", "Z": "UTC", "EST": "America/New_York", "EDT": "America/New_York",
    "ET": "America/New_York", "CST": "America/Chicago", "CDT": "America/Chicago", "CT": "America/Chicago",
    "MST": "America/Denver", "MDT": "America/Denver", "MT": "America/Denver", "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles", "PT": "America/Los_Angeles", "BST": "Europe/London", "CET": "Europe/Paris",
    "CEST": "Europe/Paris", "EET": "Europe/Athens", "IST": "Asia/Kolkata", "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul", "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney", "NZST": "Pacific/Auckland",
}
"""Common abbreviations (ambiguous ones resolved to their most common meaning)."""
PLACES = {"new york city": "America/New_York", "nyc": "America/New_York", "san francisco": "America/Los_Angeles",
          "seattle": "America/Los_Angeles", "washington": "America/New_York", "boston": "America/New_York",
          "beijing": "Asia/Shanghai", "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata",
          "bangalore": "Asia/Kolkata", "munich": "Europe/Berlin", "barcelona": "Europe/Madrid", "milan": "Europe/Rome",
          "geneva": "Europe/Zurich", "osaka": "Asia/Tokyo", "beirut": "Asia/Beirut", "dubai": "Asia/Dubai",
          "montreal": "America/Toronto", "rio de janeiro": "America/Sao_Paulo", "london": "Europe/London"}
"""Cities people ask about that are not the name of an IANA zone."""


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """'new york' -> 'America/New_York', 'asia/tokyo' -> 'Asia/Tokyo', for every IANA zone."""
    names: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        names[zone.lower()] = zone
        city = zone.rsplit("/", 1)[-1].replace("_", " ").lower()
        if "/" in zone and not zone.startswith("Etc/"):
            names.setdefault(city, zone)
    return names


LOCAL = "local"
"""The zone name meaning this machine's own time zone (what "What time is it?" asks about)."""


def local_zone() -> tuple[tzinfo, str]:
    """This machine's time zone and its name: ``TZ`` or /etc/localtime's IANA name where known."""
    zone = datetime.now().astimezone().tzinfo or UTC
    name = os.environ.get("TZ", "").lstrip(":")
    if name not in _zone_names().values():
        target = os.path.realpath("/etc/localtime")
        name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
    if name in _zone_names().values():
        return ZoneInfo(name), f"local time, {name}"
    return zone, "local time"


def resolve_zone(name: str) -> tuple[tzinfo, str]:
    """A tzinfo and its display name for an IANA name, a city, an abbreviation, an offset ('UTC+5:30'),
    or ``local`` (this machine's zone)."""
    cleaned = " ".join(name.strip().split())
    if cleaned.lower() in (LOCAL, "local time", "here", ""):
        return local_zone()
    offset = re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", cleaned, re.IGNORECASE)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > timedelta(hours=14):
            raise ToolError(f"{name!r} is not a real UTC offset")
        return fixed_offset(delta if sign == "+" else -delta), f"UTC{sign}{int(hours):02d}:{int(minutes or 0):02d}"
    key = ABBREVIATIONS.get(cleaned.upper()) or PLACES.get(cleaned.lower()) or _zone_names().get(cleaned.lower())
    if not key:
        raise ToolError(f"unknown time zone {name!r}: not a place or zone I recognise; name a big city "
                        "(Chicago), an IANA zone (America/Chicago) or an offset (UTC-6)")
    return ZoneInfo(key), key


_PLACE = re.compile(r"\b(?:in|at|for)\s+((?:the\s+)?[A-Za-z][\w'.-]*(?:\s+[A-Za-z][\w'.-]*){0,3}?)"
                    r"\s*(?:right now|now|today|currently|please)?\s*(?:[?!.,;]|$)", re.IGNORECASE)
"""The place a time question names ('time in Springfield?'), recognised or not."""


def zone_spans(message: str) -> list[str]:
    """Places, zone names and abbreviations mentioned in a message (one to three words long); when none is
    known, the place the question names anyway, so the tool can say it does not recognise it."""
    known = _known_spans(message)
    if known:
        return known
    return [m.group(1) for m in _PLACE.finditer(message) if m.group(1).lower() not in ("it", "the moment")]


def _known_spans(message: str) -> list[str]:
    """Places, zone names and abbreviations the tool knows, mentioned in a message."""
    # An offset's minutes ride along with its hours ('UTC+5:30', 'GMT+5:45', '-03:30').
    words = re.findall(r"[A-Za-z][\w/+-]*(?:(?<=\d):\d{2})?|[+-]\d{1,2}(?::\d{2})?", message)
    found = []
    for size in (3, 2, 1):
        for i in range(len(words) - size + 1):
            phrase = " ".join(words[i:i + size])
            if (size > 1 or phrase[0].isupper() or "/" in phrase) and _known(phrase):
                found.append(phrase)
    return [f for f in dict.fromkeys(found) if not any(f != g and f in g for g in found)]


def _known(phrase: str) -> bool:
    try:
        resolve_zone(phrase)
    except ToolError:
        return False
    return phrase.upper() in ABBREVIATIONS or len(phrase) > 2


def _answer(args: dict[str, Any], result: str) -> str:
    return f"It is {result}."


@tool(
    trigger=r"\bwhat(?:'s| is)? the (?:current )?(?:time|date|day)\b|\bwhat time\b|\btime (?:is it )?in\b|"
            r"\bcurrent (?:time|date)\b|\btoday'?s date\b|\bwhat day is (?:it|today)\b|\btime now\b",
    spans={"timezone": zone_spans},
    examples=[("What time is it in Tokyo?", {"timezone": "Tokyo"}),
              ("What's the date in New York?", {"timezone": "New York"})],
    answer=_answer,
)
def current_time(timezone: str = LOCAL, *, env: Any = None) -> str:
    """The current date and time in a time zone.

    Args:
        timezone: An IANA zone ('Europe/Paris'), a city ('Tokyo', 'New York'), an abbreviation ('PST'),
            a UTC offset ('UTC+5:30') or 'local'. Defaults to this machine's own time zone.
    """
    zone, label = resolve_zone(timezone)
    now = (env.now() if env is not None else datetime.now(UTC)).astimezone(zone)
    offset = now.strftime("%z")
    return f"{now:%A %Y-%m-%d %H:%M:%S} {now.tzname()} (UTC{offset[:3]}:{offset[3:]}, {label})"
