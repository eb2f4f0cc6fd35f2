"""Reading a dataset request written in words: "generate 20 support tickets as JSON with subject, body and priority".

Deterministic on purpose (a 135M model cannot be trusted to pull a schema out of a
sentence): the count, the thing being made, the format, and the fields, each field
typed by its name (``priority`` is a low/medium/high label, ``body`` is a paragraph,
``rating`` is 1 to 5) or by an explicit ``name:type`` spec when the user wrote one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD_TYPES: tuple[tuple[str, str], ...] = (
    (r"priority|urgency|severity", "enum[low,medium,high]"),
    (r"sentiment|tone", "enum[positive,neutral,negative]"),
    (r"difficulty|level", "enum[easy,medium,hard]"),
    (r"rating|score|stars", "int(1..5)"),
    (r"age|quantity|count|number|year", "int(0..)"),
    (r"price|amount|cost|total|salary", "float(0..)"),
    (r"tags|keywords|labels|skills|ingredients|steps", "list[str](1..5)"),
    (r"(is|has|can)_\w+|urgent|resolved|active|spam", "bool"),
    (r"body|description|text|content|message|review|comment|summary|details|answer|explanation|bio|story",
     "str(20..600)"),
    (r"subject|title|name|question|headline|email|city|country|company|product|category|topic|label", "str(2..120)"),
)
"""Field names and the type they most likely mean (first match wins); anything else is free text."""
DEFAULT_ROWS = 20
"""Rows made when a request names no count ("make a dataset of customer complaints")."""
FORMATS = {"json": "jsonl", "jsonl": "jsonl", "json lines": "jsonl", "csv": "csv", "parquet": "parquet"}
_NUMBER_WORDS = {"a dozen": 12, "dozen": 12, "ten": 10, "twenty": 20, "fifty": 50, "hundred": 100, "five": 5}
_VERB = r"(?:generate|create|make|write|produce|synthesi[sz]e|give me|build)"


@dataclass
class DatasetIntent:
    """What a chat request for a dataset asks for."""

    n: int
    description: str
    fields: str | None
    """A ``--fields`` spec, or None when the request names no fields (then: chat conversations or an error)."""
    fmt: str = "jsonl"
    chat: bool = False


def field_type(name: str) -> str:
    """The likely type of a field from its name (``priority`` -> ``enum[low,medium,high]``)."""
    key = name.lower()
    for pattern, kind in WORD_TYPES:
        if re.fullmatch(pattern, key) or re.fullmatch(rf"\w*_({pattern})", key):
            return kind
    return "str(1..300)"


def _field_names(text: str) -> list[str]:
    text = re.sub(r"\s+(?:and|&)\s+", ", ", text.strip().rstrip(".!?"))
    names = []
    for part in text.split(","):
        words = re.findall(r"[A-Za-z][A-Za-z0-9_]*", part.replace(" fields", "").replace(" field", ""))
        words = [w for w in words if w.lower() not in ("a", "an", "the", "fields", "field", "of", "each")]
        if words:
            names.append("_".join(w.lower() for w in words[:3]))
    return list(dict.fromkeys(names))


def parse_request(text: str) -> DatasetIntent | None:
    """A :class:`DatasetIntent` when ``text`` asks for a dataset, else None."""
    lowered = text.lower()
    match = re.search(rf"{_VERB}\s+(?:me\s+)?(?:a\s+dataset\s+of\s+)?(\d+|{'|'.join(_NUMBER_WORDS)})\s+(.+)",
                      lowered) or re.search(r"\bdataset\s+of\s+()(.+)", lowered)
    if not match:
        return None
    count = match.group(1)
    n = int(count) if count.isdigit() else _NUMBER_WORDS[count] if count else DEFAULT_ROWS
    rest = text[match.start(2):]
    fmt = "jsonl"
    for word, name in FORMATS.items():
        if re.search(rf"\b(?:as|in)\s+{word}\b", rest.lower()):
            fmt = name
    spec = re.search(r"(?:fields?|columns?)\s*:?\s*([A-Za-z_]\w*\s*:\s*\w.*)$", rest)
    with_ = re.search(r"\bwith\s+(?:the\s+)?(?:fields?\s+|columns?\s+)?(.+)$", rest, flags=re.IGNORECASE)
    thing = re.split(r"\b(?:as|in)\s+(?:json|jsonl|csv|parquet)\b|\bwith\b|\bfields?\b|[,:]", rest,
                     flags=re.IGNORECASE)[0]
    description = thing.strip(" .") or "rows"
    chat = bool(re.search(r"\b(conversations?|chats?|dialogues?|dialogs?)\b", description.lower()))
    if spec:
        fields: str | None = spec.group(1).strip().rstrip(".")
    elif with_:
        names = _field_names(re.split(r"\b(?:as|in)\s+(?:json|jsonl|csv|parquet)\b", with_.group(1),
                                      flags=re.IGNORECASE)[0])
        fields = ", ".join(f"{name}:{field_type(name)}" for name in names) or None
    else:
        fields = None
    return DatasetIntent(n=n, description=description, fields=None if chat else fields, fmt=fmt, chat=chat)
