"""The calculator: known answers, the user's own phrasing, clear errors, and properties checked with hypothesis.

The reference for the properties is :class:`fractions.Fraction` arithmetic on the same
tree, computed independently of the calculator's AST walker.
"""

from __future__ import annotations

import operator
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.calculator import CalculatorError, calculator, evaluate, format_number, math_spans


def calc(text: str) -> str:
    return format_number(evaluate(text))


@pytest.mark.parametrize("text, expected", [
    ("1234 * 5678", "7006652"),
    ("square root of 1764", "42"),
    ("(48 + 52) * 3 - 7", "293"),
    ("15% tip on a $86.40 bill", "12.96"),
    ("17.5% of 2340", "409.5"),
    ("2 to the power of 20", "1048576"),
    ("What's 7 times 6?", "42"),
    ("99 divided by 3", "33"),
    ("20% off 50", "40"),
    ("cube root of 27", "3"),
    ("5!", "120"),
    ("factorial of 20", "2432902008176640000"),
    ("1,234,567 + 1", "1234568"),
    ("0.1 + 0.2", "0.3"),
    ("1/3", "0.3333333333333333"),
    ("2 pi", "6.283185307179586"),
    ("2(3+4)", "14"),
    ("-7 % 3", "2"),
    ("7 // -2", "-4"),
    ("10**-3", "0.001"),
    ("sqrt(2)", "1.414213562373095"),
    ("sin(pi)", "0"),
    ("log(1000)", "3"),
    ("ln(e)", "1"),
    ("round(2.675, 2)", "2.68"),
    ("50%", "0.5"),
    ("3 x 4", "12"),
    ("half of 86", "43"),
    ("2**100", "1267650600228229401496703205376"),
])
def test_known_answers(text, expected):
    assert calc(text) == expected


@pytest.mark.parametrize("text, message", [
    ("1/0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("2**100000", "too large"),
    ("9**9**9", "too large"),
    ("factorial(5000)", "too large"),
    ("sqrt(-1)", "not a real number"),
    ("(-8)**(1/3)", "not a real number"),
    ("log(0)", "positive number"),
    ("three apples", "not part of an arithmetic expression"),
    ("__import__('os').system('id')", "arithmetic"),
    ("().__class__.__bases__", "arithmetic"),
    ("(lambda: 1)()", "arithmetic"),
    ("open('/etc/passwd')", "arithmetic"),
    ("abs(y=1)", "arithmetic"),
    ("1" * 600, "longer than"),
    ("(" * 249 + "1" + ")" * 249, "could not read"),
    ("", "no number|arithmetic"),
])
def test_errors_are_clear_calculator_errors(text, message):
    with pytest.raises(CalculatorError, match=message):
        evaluate(text)


def test_the_tool_validates_its_argument_before_running():
    assert calculator.func(expression="1234 * 5678") == "7006652"
    with pytest.raises(Exception, match="not an arithmetic expression"):
        calculator.validate({"expression": "please be nice"})


@pytest.mark.parametrize("message, span", [
    ("What is 1234 * 5678?", "1234 * 5678"),
    ("What is the square root of 1764?", "square root of 1764"),
    ("Calculate (48 + 52) * 3 - 7", "(48 + 52) * 3 - 7"),
    ("What is a 15% tip on a $86.40 bill?", "15% tip on a $86.40 bill"),
    ("What's 17.5% of 2340?", "17.5% of 2340"),
])
def test_math_spans_are_whole_copied_expressions(message, span):
    spans = math_spans(message)
    assert span in spans and all(s in message for s in spans)


# --- properties -------------------------------------------------------------------------------------

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


@st.composite
def int_trees(draw, depth=3):
    """(expression text, exact value) for a random tree of + - * // % ** over integers."""
    if depth == 0 or draw(st.booleans()):
        n = draw(st.integers(-10**6, 10**6))
        return (f"({n})" if n < 0 else str(n)), Fraction(n)
    left_text, left = draw(int_trees(depth - 1))
    right_text, right = draw(int_trees(depth - 1))
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "**"]))
    if op in ("//", "%") and right == 0:
        op = "+"
    if op == "**":
        right_text, right = str(draw(st.integers(0, 3))), None
        right = Fraction(int(right_text))
        value = left ** int(right)
    elif op == "//":
        value = Fraction(left.numerator // right.numerator)
    elif op == "%":
        value = Fraction(left.numerator % right.numerator)
    else:
        value = OPS[op](left, right)
    return f"({left_text} {op} {right_text})", value


@settings(max_examples=300, deadline=None)
@given(int_trees())
def test_integer_arithmetic_is_exact(tree):
    text, value = tree
    assert evaluate(text) == value.numerator


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**12, 10**12), st.integers(-10**6, 10**6).filter(bool))
def test_division_matches_exact_fractions(a, b):
    shown = Decimal(calc(f"{a} / {b}"))
    exact = Fraction(a, b)
    if exact.denominator == 1:
        assert shown == exact.numerator
    else:
        assert abs(Fraction(shown) - exact) <= abs(exact) * Fraction(1, 10**15)


decimals = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(decimals, min_size=1, max_size=8))
def test_money_sums_are_exact(amounts):
    text = " + ".join(f"({a})" for a in amounts)
    assert Fraction(calc(text)) == sum((Fraction(a) for a in amounts), Fraction(0))


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=1000, places=1), st.decimals(min_value=0, max_value=10**6, places=2))
def test_percent_of_in_words_is_exact(percent, amount):
    expected = Fraction(percent) * Fraction(amount) / 100
    assert Fraction(calc(f"{percent}% of {amount}")) == expected
    assert Fraction(calc(f"{percent} percent of ${amount}")) == expected


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.integers(0, 30))
def test_powers_and_roots_in_words(base, exponent):
    assert evaluate(f"{base} to the power of {exponent}") == base**exponent
    assert evaluate(f"square root of {base * base}") == base


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_number_or_a_calculator_error(text):
    try:
        evaluate(text)
    except CalculatorError:
        pass


@settings(max_examples=100, deadline=None)
@given(int_trees(depth=2))
def test_an_expression_in_a_question_is_found_whole(tree):
    text, _ = tree
    assert text in math_spans(f"What is {text}?")


@pytest.mark.parametrize(("text", "arithmetic"), [
    ("What is 5!", True), ("what's 12!?", True), ("compute 7!", True), ("10!/8!", True), ("7! = ?", True),
    ("3! + 4", True), ("5!", True),
    ("Good morning from session 3, turn 1!", False), ("Hey, round 2!", False), ("We came 3rd, then 2nd!", False),
    ("Round 2! Tell me another joke.", False), ("Chat message 1 of session 0", False),
])
def test_a_factorial_is_asked_about_an_exclamation_after_a_number_is_not(text, arithmetic):
    """'turn 1!' once sent a greeting to the calculator: '!' is a factorial only where a calculation is asked."""
    import re

    from tools.calculator import TRIGGER

    assert bool(re.search(TRIGGER, text, re.I)) is arithmetic


@pytest.mark.parametrize(("text", "arithmetic"), [
    ("what is 3-1?", True), ("3-1", True), ("12 - 5", True), ("12-5=", True), ("whats 100-37", True),
    ("(5-2)*3", True), ("the total is 10-3+2", True), ("calculate 10-4", True), ("8 -3", True),
    ("the match ended 3-1", False), ("Arsenal beat Chelsea 3-1 on Sunday", False), ("it finished 1-1", False),
    ("the score was 21-14 at half time", False), ("read pages 10-20 tonight", False), ("ages 3-5 welcome", False),
    ("3-1 to Arsenal at half time", False), ("10-20 people came", False), ("  20-7  ", True), ("3-1?", True),
    ("call 1-800-555-0100", False),
])
def test_a_dash_between_numbers_is_subtraction_only_where_arithmetic_is_asked(text, arithmetic):
    """'the match ended 3-1' once went to the calculator: a bare dash between digits is a score, range or span
    unless the message is the expression, asks for it, or puts it beside another operator."""
    import re

    from tools.calculator import TRIGGER

    assert bool(re.search(TRIGGER, text, re.I)) is arithmetic
