"""The calculator's words front end: the user's own phrasing to a Python-syntax expression.

'17.5% of 2340', 'square root of 1764', '2 to the power of 20', '15% tip on a $86.40 bill'
and '99 divided by 3' all become expressions the AST walker evaluates. Rewriting works on
tokens, not with ``eval`` or loose regexes: every word must be an operator word, a
function, a constant or filler, so 'three apples' is refused instead of guessed at.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+(?![\w.]))?|[A-Za-z_]+|\*\*|//|\S")
"""Numbers, words, ``**`` and ``//``, and single symbols."""

FUNCTIONS = {
    "sqrt", "cbrt", "root", "abs", "round", "floor", "ceil", "ln", "log", "log10", "log2", "exp",
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "factorial", "min", "max",
    "gcd", "lcm", "hypot", "degrees", "radians",
}
CONSTANTS = {"pi", "e", "tau"}

# Multi-word phrases first (longest match wins); values are replacement tokens.
PHRASES: dict[tuple[str, ...], list[str]] = {
    ("raised", "to", "the", "power", "of"): ["**"],
    ("to", "the", "power", "of"): ["**"],
    ("to", "the", "power"): ["**"],
    ("raised", "to"): ["**"],
    ("multiplied", "by"): ["*"],
    ("divided", "by"): ["/"],
    ("square", "root", "of"): ["sqrt"],
    ("square", "root"): ["sqrt"],
    ("cube", "root", "of"): ["cbrt"],
    ("cube", "root"): ["cbrt"],
    ("factorial", "of"): ["factorial"],
    ("absolute", "value", "of"): ["abs"],
    ("natural", "log", "of"): ["ln"],
    ("log", "of"): ["log"],
    ("half", "of"): ["0.5", "*"],
    ("twice",): ["2", "*"],
    ("double",): ["2", "*"],
    ("triple",): ["3", "*"],
    ("percent", "of"): ["%of"],
    ("percent", "off"): ["%off"],
    ("%", "of"): ["%of"],
    ("%", "off"): ["%off"],
    ("%", "tip", "on"): ["%of"],
    ("%", "tip", "for"): ["%of"],
    ("%", "tip", "of"): ["%of"],
    ("%", "discount", "on"): ["%off"],
    ("percent", "tip", "on"): ["%of"],
    ("percent",): ["%"],
    ("per", "cent"): ["%"],
}
WORDS = {
    "plus": "+", "minus": "-", "times": "*", "over": "/",
    "mod": "%", "modulo": "%", "squared": "**2", "cubed": "**3", "×": "*", "÷": "/", "−": "-", "–": "-",
    "^": "**", "·": "*", "sqrt": "sqrt",
}
FILLER = {
    "what", "whats", "s", "is", "are", "was", "the", "a", "an", "of", "calculate", "compute", "evaluate",
    "solve", "how", "much", "please", "equals", "equal", "to", "me", "tell", "value", "result", "bill",
    "total", "amount", "answer", "give", "find", "work", "out", "exactly", "precisely", "approximately",
    "get", "do", "you", "can", "could", "would", "be", "it", "on", "for", "dollars", "dollar", "usd",
    "eur", "euros", "euro", "cost", "price", "number",
}
"""Words dropped: question framing and units of money that do not change the arithmetic."""
EDGE_PUNCTUATION = {"?", "=", ".", ",", ":", ";", "'", '"'}
CURRENCY = {"$", "€", "£", "¥"}


class NotArithmetic(ValueError):
    """The text contains words or symbols that are not arithmetic."""


def tokenize(text: str) -> list[str]:
    """Tokens of ``text`` after removing thousands separators (``1,234`` is one number)."""
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    return TOKEN.findall(text)


_VERB = re.compile(r"^\s*(?:please\s+|can you\s+|could you\s+)*(divide|multiply|times|add|sum|subtract|take)\s+(.+?)"
                   r"[\s?.!]*$", re.IGNORECASE)
_LIST = re.compile(r"\s*,\s*(?:and\s+)?|\s+(?:and|plus)\s+", re.IGNORECASE)


def imperative(text: str) -> str:
    """An order such as 'divide 1000 by 8', 'subtract 19 from 100' or 'sum 1, 2 and 3' as operands and operators.

    Operands keep their own words ('divide 2 to the power of 10 by 4'); other text is returned unchanged.
    """
    match = _VERB.match(text)
    if not match:
        return text
    verb, rest = match.group(1).lower(), match.group(2)
    if verb in ("divide", "multiply", "times") and " by " in rest:
        left, right = rest.rsplit(" by ", 1)
        return f"({left}) {'/' if verb == 'divide' else '*'} ({right})"
    if verb in ("subtract", "take") and " from " in rest:
        left, right = rest.rsplit(" from ", 1)
        left = re.sub(r"\s+away$", "", left)
        return f"({right}) - ({left})"
    if verb in ("add", "sum"):
        rest = re.sub(r"^(?:up|together|of)\s+", "", rest)
        parts = rest.split(" to ") if " to " in rest else _LIST.split(rest)
        if len(parts) > 1:
            return " + ".join(f"({p})" for p in parts)
    return text


def to_expression(text: str) -> str:
    """Rewrite the user's words as a Python-syntax arithmetic expression; raise :class:`NotArithmetic`."""
    tokens = [t for t in tokenize(imperative(text)) if t not in CURRENCY and t != "'"]
    while tokens and tokens[-1] in EDGE_PUNCTUATION:
        tokens.pop()
    tokens = _phrases([t.lower() for t in tokens])
    out: list[str] = []
    for i, tok in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in FILLER:
            continue
        if tok == "!" and out and _is_number(out[-1]):  # 5! -> factorial(5)
            out[-1] = f"factorial({out[-1]})"
        elif tok == "x":  # '3 x 4' multiplies; any other x is an unknown
            if not (out and _ends_operand(out[-1])):
                raise NotArithmetic("'x' is not a number")
            out.append("*")
        elif tok in ("%of", "%off"):
            _percent(out, tok)
        elif tok == "%":
            if _starts_operand(following):
                out.append("%")  # 17 % 5: modulo
            else:
                _percent(out, "")  # 15%: a fraction
        elif tok in WORDS:
            out.append(WORDS[tok])
        elif _starts_operand(tok) or tok in FUNCTIONS or tok in ("+", "-", "*", "/", ")", ",", "**", "//"):
            if out and _ends_operand(out[-1]) and (_starts_operand(tok) or tok in FUNCTIONS) and tok != "e":
                out.append("*")  # implicit multiplication: 2(3+4), 2 pi
            out.append(tok)
        else:
            raise NotArithmetic(f"{tok!r} is not part of an arithmetic expression")
    if not any(re.search(r"\d", t) or t in CONSTANTS for t in out):
        raise NotArithmetic("there is no number in it")
    return _apply_functions(" ".join(out))


def _phrases(tokens: list[str]) -> list[str]:
    out, i = [], 0
    longest = max(len(p) for p in PHRASES)
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            key = tuple(tokens[i:i + size])
            if key in PHRASES:
                out += PHRASES[key]
                i += size
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def _percent(out: list[str], kind: str) -> None:
    """Turn the number just emitted into a fraction: ``15 %of`` -> ``(15/100)*``, ``15 %off`` -> ``(1-15/100)*``."""
    if not out or not _is_number(out[-1]):
        raise NotArithmetic("a percentage needs a number before it")
    number = out.pop()
    if kind == "%off":
        out += [f"(1-{number}/100)", "*"]
    else:
        out.append(f"({number}/100)")
        if kind == "%of":
            out.append("*")


def _apply_functions(expression: str) -> str:
    """``sqrt 1764`` -> ``sqrt(1764)``: functions applied to a bare number or constant."""
    names = "|".join(sorted(FUNCTIONS, key=len, reverse=True))
    return re.sub(rf"\b({names}) (-?\d+(?:\.\d+)?|pi|e|tau)\b", r"\1(\2)", expression)


def _is_number(tok: str) -> bool:
    return bool(re.fullmatch(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?", tok))


def _ends_operand(tok: str) -> bool:
    return _is_number(tok) or tok.endswith(")") or tok in CONSTANTS


def _starts_operand(tok: str) -> bool:
    return _is_number(tok) or tok == "(" or tok in FUNCTIONS or tok in CONSTANTS
