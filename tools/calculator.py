"""calculator: arithmetic on an AST walker (never ``eval``), exact where it matters.

Integers stay exact integers of any size (up to :data:`MAX_DIGITS`), decimals are
:class:`~decimal.Decimal` so ``0.1 + 0.2`` is ``0.3`` and money adds up, and only
trigonometry and friends fall back to floats. Division by zero, overflow and
domain errors are :class:`CalculatorError` with a plain message.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from decimal import ROUND_FLOOR, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from typing import Annotated, Any

from pydantic import AfterValidator

from tools.mathwords import TOKEN, NotArithmetic, to_expression
from tools.registry import ToolError, tool

Number = int | Decimal | float

MAX_DIGITS = 1000
"""Results longer than this are refused (and computing them is never attempted)."""
MAX_LENGTH = 500
"""Longest expression accepted, in characters."""
DECIMALS = Context(prec=60, Emax=MAX_DIGITS, Emin=-MAX_DIGITS, traps=[DivisionByZero, InvalidOperation, Overflow])
SHOWN_DIGITS = 16
"""Significant digits shown for results that are not exact."""

CONSTANTS: dict[str, Number] = {
    "pi": Decimal("3.14159265358979323846264338327950288419716939937510582097494459"),
    "e": Decimal("2.71828182845904523536028747135266249775724709369995957496696763"),
    "tau": Decimal("6.28318530717958647692528676655900576839433879875021164194988918"),
}


class CalculatorError(ToolError):
    """The expression cannot be computed: not arithmetic, division by zero, too large..."""


def evaluate(text: str) -> Number:
    """Evaluate arithmetic written as an expression or in words; raise :class:`CalculatorError`."""
    if len(text) > MAX_LENGTH:
        raise CalculatorError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(to_expression(text), mode="eval")
    except NotArithmetic as exc:
        raise CalculatorError(f"could not read {text!r} as arithmetic: {exc}") from None
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        raise CalculatorError(f"could not read {text!r} as arithmetic") from None
    try:
        with localcontext(DECIMALS):
            return _eval(tree.body)
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except InvalidOperation:
        raise CalculatorError("the result is not a real number") from None
    except (Overflow, OverflowError):
        raise CalculatorError(f"the result is too large (more than {MAX_DIGITS} digits)") from None
    except RecursionError:
        raise CalculatorError("the expression is nested too deeply") from None


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value if isinstance(node.value, int) else Decimal(repr(node.value))
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        return _check(BINARY[type(node.op)](_eval(node.left), _eval(node.right)))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        if node.keywords:
            raise CalculatorError(f"{node.func.id}() takes no keyword arguments")
        args = [_eval(a) for a in node.args]
        try:
            return _check(FUNCTIONS[node.func.id](*args))
        except TypeError:
            raise CalculatorError(f"wrong number of arguments for {node.func.id}()") from None
    what = node.id if isinstance(node, ast.Name) else type(node).__name__
    raise CalculatorError(f"{what!r} is not allowed in a calculation")


def _check(value: Number) -> Number:
    """Refuse results that are too large or not finite; integral decimals become exact integers."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CalculatorError("the result is too large or not a number")
        return 0.0 if abs(value) < 1e-15 else value
    if isinstance(value, int) and value.bit_length() > MAX_DIGITS * 3.33:
        raise CalculatorError(f"the result is too large (more than {MAX_DIGITS} digits)")
    if isinstance(value, Decimal) and value == value.to_integral_value() and value.adjusted() < 60:
        return int(value)
    return value


def _pair(a: Number, b: Number) -> tuple[int, int] | tuple[Decimal, Decimal] | tuple[float, float]:
    """Bring two numbers to a common type: float if either is, else Decimal if either is."""
    if isinstance(a, float) or isinstance(b, float):
        return float(a), float(b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(a), Decimal(b)
    return a, b


def _div(a: Number, b: Number) -> Number:
    match _pair(a, b):
        case int() as x, int() as y:
            if y == 0:
                raise ZeroDivisionError
            return x // y if x % y == 0 else Decimal(x) / Decimal(y)
        case Decimal() as x, Decimal() as y:
            return x / y
        case float() as x, float() as y:
            return x / y
    raise AssertionError("_pair returns two numbers of one type")


def _floordiv(a: Number, b: Number) -> Number:
    match _pair(a, b):
        case Decimal() as x, Decimal() as y:  # Decimal's // truncates toward zero; Python floors
            return (x / y).to_integral_value(ROUND_FLOOR)
        case int() as x, int() as y:
            return x // y
        case float() as x, float() as y:
            return x // y
    raise AssertionError("_pair returns two numbers of one type")


def _mod(a: Number, b: Number) -> Number:
    match _pair(a, b):
        case Decimal() as x, Decimal() as y:  # same sign convention as Python's ints
            return x - y * (x / y).to_integral_value(ROUND_FLOOR)
        case int() as x, int() as y:
            return x % y
        case float() as x, float() as y:
            return x % y
    raise AssertionError("_pair returns two numbers of one type")


def _pow(a: Number, b: Number) -> Number:
    pair = _pair(a, b)
    if isinstance(pair[1], int) and abs(pair[0]) > 1 and abs(pair[1]) * math.log10(abs(pair[0])) > MAX_DIGITS:
        raise CalculatorError(f"the result is too large (more than {MAX_DIGITS} digits)")
    match pair:
        case int() as x, int() as y:
            return Decimal(x) ** y if y < 0 else x**y
        case Decimal() as x, Decimal() as y:
            if x < 0 and y != y.to_integral_value():
                raise CalculatorError("a negative number to a fractional power is not a real number")
            return x**y
        case float() as x, float() as y:
            return math.pow(x, y)
    raise AssertionError("_pair returns two numbers of one type")


BINARY: dict[type[ast.operator], Any] = {
    ast.Add: lambda a, b: operator.add(*_pair(a, b)),
    ast.Sub: lambda a, b: operator.sub(*_pair(a, b)),
    ast.Mult: lambda a, b: operator.mul(*_pair(a, b)),
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise CalculatorError("the square root of a negative number is not a real number")
    if isinstance(x, int):
        root = math.isqrt(x)
        return root if root * root == x else Decimal(x).sqrt()
    return Decimal(x).sqrt() if isinstance(x, Decimal) else math.sqrt(x)


def _root(x: Number, n: Number = 2) -> Number:
    if n == 0 or n != int(n):
        raise CalculatorError("a root's degree must be a non-zero whole number")
    n = int(n)
    if x < 0 and n % 2 == 0:
        raise CalculatorError("an even root of a negative number is not a real number")
    if isinstance(x, int):  # exact integer roots stay exact (cube root of 27 is 3, not 3.0000000001)
        guess = round(abs(x) ** (1 / n)) if abs(x) < 2**1000 else None
        if guess is not None and guess**n == abs(x):
            return guess if x >= 0 else -guess
    magnitude = Decimal(x).copy_abs() ** (Decimal(1) / n)
    return magnitude if x >= 0 else -magnitude


def _factorial(x: Number) -> int:
    if x != int(x) or x < 0:
        raise CalculatorError("factorial is defined for whole numbers 0 and up")
    if x > 450:
        raise CalculatorError(f"the result is too large (more than {MAX_DIGITS} digits)")
    return math.factorial(int(x))


def _log(x: Number, base: Number = 10) -> Number:
    if x <= 0 or base <= 0 or base == 1:
        raise CalculatorError("logarithms need a positive number (and a positive base other than 1)")
    if isinstance(x, float) or isinstance(base, float):
        return math.log(x, base)
    return Decimal(x).ln() / Decimal(base).ln() if base != 10 else Decimal(x).log10()


def _ln(x: Number) -> Number:
    if x <= 0:
        raise CalculatorError("logarithms need a positive number")
    return math.log(x) if isinstance(x, float) else Decimal(x).ln()


def _float_fn(fn: Any) -> Any:
    def call(*args: Number) -> float:
        try:
            return fn(*(float(a) for a in args))
        except ValueError:
            raise CalculatorError(f"{fn.__name__}() is not defined there") from None
    return call


FUNCTIONS: dict[str, Any] = {
    "sqrt": _sqrt, "cbrt": lambda x: _root(x, 3), "root": _root, "abs": abs,
    "round": lambda x, n=0: _check(round(Decimal(x) if isinstance(x, int) else x, int(n))),
    "floor": math.floor, "ceil": math.ceil, "factorial": _factorial,
    "log": _log, "log10": _log, "log2": lambda x: _log(x, 2), "ln": _ln,
    "exp": lambda x: Decimal(x).exp() if not isinstance(x, float) else math.exp(x),
    "min": min, "max": max, "gcd": math.gcd, "lcm": math.lcm,
    **{name: _float_fn(getattr(math, name)) for name in
       ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "hypot", "degrees", "radians")},
}


def format_number(value: Number) -> str:
    """Exact results in full; inexact ones to :data:`SHOWN_DIGITS` significant digits."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        value = Decimal(repr(value))
    with localcontext(Context(prec=SHOWN_DIGITS)):
        shown = (+value).normalize()
    if shown == shown.to_integral_value() and abs(shown) < Decimal(10) ** SHOWN_DIGITS:
        return str(int(shown))
    text = format(shown, "f") if -7 <= shown.adjusted() < SHOWN_DIGITS else format(shown, "E")
    return text


def _parses(text: str) -> str:
    """Pydantic validator: refuse an expression that cannot even be read (the model may pick again)."""
    try:
        ast.parse(to_expression(text), mode="eval")
    except (NotArithmetic, SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        raise ValueError(f"not an arithmetic expression: {text!r}") from exc
    return text


def math_spans(message: str) -> list[str]:
    """Candidate expressions in a message: the longest spans that read as arithmetic.

    Spans are cut at token boundaries and trimmed of framing words ('what is') and end
    punctuation, so '(48 + 52) * 3 - 7' keeps its parentheses and '15% tip on a $86.40
    bill' keeps its words.
    """
    bounds = [(m.start(), m.end()) for m in TOKEN.finditer(message)]
    if len(bounds) > 80:
        return []
    found: list[tuple[int, int]] = []
    for i in range(len(bounds)):
        for j in range(len(bounds) - 1, i - 1, -1):
            if any(a <= i and j <= b for a, b in found):
                break
            text = message[bounds[i][0]:bounds[j][1]]
            try:
                _parses(text)
            except ValueError:
                continue
            found.append((i, j))
            break
    spans = [_trim(message[bounds[i][0]:bounds[j][1]]) for i, j in found]
    return list(dict.fromkeys(s for s in spans if s))


_FRAMING = re.compile(r"^(?:(?:what|whats|is|are|the|a|an|calculate|compute|evaluate|solve|how|much|please|"
                      r"tell|me|find|get|work|out|of|do|you|can)(?:'s)?(?:\s+|$))+", re.IGNORECASE)


def _trim(span: str) -> str:
    return _FRAMING.sub("", span).rstrip(" ?=.,:;!").strip()


def _answer(args: dict[str, Any], result: str) -> str:
    return f"{args['expression']} = {result}"


_NUMBER = r"\(*-?\d[\d,]*(?:\.\d+)?"
_AFTER = r"(?![\w/.-]*\d)"  # not a date, version or phone number: 2024-11-28, 11/28/2024, 1.2.3, 1-800-555-0100
TRIGGER = (
    # two numbers around an operator other than a bare dash
    rf"(?<![\w/.-]){_NUMBER}\)*\s*(?:\*\*|//|[+*/^×÷%x])\s*{_NUMBER}{_AFTER}|"
    # a minus with a space beside it ('12 - 5'); a dash between digits ('3-1') is a score, a range or a page span
    # ('the match ended 3-1', 'pages 10-20') unless it is the whole message, asked about or next to an operator
    rf"(?<![\w/.-]){_NUMBER}\)*(?:\s+-\s*|\s*-\s+){_NUMBER}{_AFTER}|"
    rf"^\s*{_NUMBER}\)*-{_NUMBER}\)*\s*[?=]?\s*$|"
    rf"(?:\b(?:what(?:'s|s| is)?|how much is|calculate|compute|evaluate|solve|work out)\s+|[=+*/^×÷]\s*)"
    rf"{_NUMBER}\)*-{_NUMBER}{_AFTER}|(?<![\w/.-]){_NUMBER}\)*-{_NUMBER}\)*(?=\s*[=+*/^×÷]){_AFTER}|"
    r"\b(?:square|cube) root\b|\bto the power\b|\b(?:sqrt|factorial)\s*\(|\bfactorial of\b|"
    # '5!' asked about ('what is 5!', '10!/8!', '7! = ?'), not an exclamation ('turn 1!', 'round 2!')
    r"\b(?:what(?:'s| is)|compute|calculate|evaluate|how much is|work out)\s+\d+!|"
    r"\d!\s*(?:[-+*/^=?(]|\d)|^\s*\d+!\s*[?=]?\s*$|"
    r"\d\s*(?:%|percent)\s+(?:tip\s+)?(?:of|on|off)\b|\d\s+(?:plus|minus|times|divided by|multiplied by|mod)\s+\(?\d|"
    r"\b\d+(?:\.\d+)?\s+(?:squared|cubed)\b|"
    # orders: 'divide 1000 by 8', 'multiply 12 by 34', 'add 45 and 37', 'subtract 19 from 100', 'sum 1, 2 and 3'
    r"\b(?:divide|multiply|times)\s+-?\d[\d,.]*\s+by\s+\(?-?\d|\bsubtract\s+-?\d[\d,.]*\s+from\s+-?\d|"
    r"\btake\s+-?\d[\d,.]*\s+(?:away\s+)?from\s+-?\d|"
    r"\b(?:add|sum)\s+(?:up\s+|together\s+)?-?\d[\d.]*(?:\s*,\s*-?\d[\d.]*)*,?\s+(?:and|to|plus)\s+-?\d[\d.]*(?![\w-])"
)
"""Messages that clearly ask for arithmetic (routing and pre-selection)."""


@tool(
    trigger=TRIGGER,
    spans={"expression": math_spans},
    examples=[("What is 12 + 7?", {"expression": "12 + 7"}),
              ("How much is 3% of 250?", {"expression": "3% of 250"}),
              ("Compute the cube root of 27 please", {"expression": "cube root of 27"})],
    answer=_answer,
)
def calculator(expression: Annotated[str, AfterValidator(_parses)]) -> str:
    """Evaluate arithmetic exactly: + - * / // % **, percentages, roots, powers and common functions.

    Args:
        expression: The arithmetic to compute, as an expression ('(48 + 52) * 3 - 7', 'sqrt(2)') or in
            words ('17.5% of 2340', 'square root of 1764', '2 to the power of 20', '15% tip on a $86.40 bill').
    """
    return format_number(evaluate(expression))
