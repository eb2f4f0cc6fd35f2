"""Grammars built from the message, pre-selection, few-shot examples and the values left out after a failure."""

from __future__ import annotations

import llama_cpp
import pytest

from agents.tools import TOOLS as ALLOWED
from models.gbnf import free_span, literal
from models.llamacpp import locate
from models.toolcalls import grammar
from podium.settings import Settings
from tests.grammar_check import parses
from tools import select
from tools.grammar import build, clauses
from tools.local import bind_options, culprits, examples, preselect, select_for

TOOLS = select(ALLOWED)


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    """SmolLM2's vocabulary only (no weights): enough for llama.cpp to parse a grammar against it."""
    path = locate("smollm2-135m", Settings(home=tmp_path_factory.mktemp("home")))[0]
    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


def test_the_parse_check_can_fail(vocab):
    assert parses(vocab, 'root ::= "a"') and not parses(vocab, 'root ::= "a" missing-rule')


@pytest.mark.parametrize("message", [
    "What is 1234 * 5678?",
    "Calculate (48 + 52) * 3 - 7",
    'Run this python code: print("a\\\\b" + \'c\')',
    "Run this python code:\n```python\nfor i in range(3):\n    print(i)\n```",
    "What time is it in New York?",
    "Convert 5 miles to km",
    "Tell me a joke",
    "ünïcödé 😀 and \t tabs",
])
def test_grammars_parse_in_llama_cpp(vocab, message):
    hits, may_answer = preselect(message, TOOLS)
    for copy_spans in (True, False):
        for choice in ("auto", "any"):
            assert parses(vocab, grammar(build(message, hits, copy_spans=copy_spans), choice))


def test_string_arguments_are_limited_to_spans_of_the_message():
    text = build("What is 1234 * 5678?", {"calculator": TOOLS["calculator"]})
    assert literal("1234 * 5678") in text and "1234**5678" not in text
    assert text.count("|") == 0, "one candidate span: the model can only copy it"
    units = build("Convert 5 miles to km", {"convert_units": TOOLS["convert_units"]})
    assert '("5")' in units and '("miles")' in units and '("km")' in units


def test_free_spans_are_every_contiguous_run_of_tokens():
    rules = free_span("say hi", "s")
    assert rules[0] == "s ::= s-0 | s-2"
    assert 's-0 ::= "say" (" " s-2)?' in rules and 's-2 ::= "hi"' in rules


def test_examples_come_from_the_tools_and_a_two_question_message_gets_a_two_call_one():
    shots = examples({"calculator": TOOLS["calculator"]})
    assert shots[0] == ("What is 12 + 7?", [{"name": "calculator", "args": {"expression": "12 + 7"}}])
    several = examples({"calculator": TOOLS["calculator"]}, several=True)
    assert len(several) == len(shots) + 1 and len(several[-1][1]) == 2


def test_the_rules_choose_the_tool_when_they_are_sure():
    assert select_for("What is 1234 * 5678?", TOOLS).choice == "calculator"
    assert select_for("What is 2 ** 16 and the time in Tokyo?", TOOLS).choice == "any"
    assert select_for("hello there", TOOLS).choice == "auto"
    one = build("What is 1234 * 5678?", {"calculator": TOOLS["calculator"]}, single=True)
    assert one.splitlines()[0] == 'calls ::= "[" call "]"'


def test_preselection_is_deterministic():
    assert list(preselect("What is 1234 * 5678?", TOOLS)[0]) == ["calculator"]
    assert preselect("What is 1234 * 5678?", TOOLS)[1] is False
    assert list(preselect("Run this python code: print(1)", TOOLS)[0]) == ["python"]
    assert list(preselect("Run this python code: print(6 * 7)", TOOLS)[0]) == ["python"], "exclusive: not arithmetic"
    assert list(preselect("Execute `print(2 ** 16)`", TOOLS)[0]) == ["python"]
    assert list(preselect("What is 2 ** 16 and the time in Tokyo?", TOOLS)[0]) == ["calculator", "current_time"]
    assert preselect("hello there", TOOLS) == (TOOLS, True)


def test_a_value_that_failed_validation_is_left_out_of_the_next_grammar():
    records = [{"id": "a", "name": "calculator", "args": {"expression": "banana split"}, "error": "invalid"},
               {"id": "b", "name": "calculator", "args": {"expression": "6 * 7"}, "result": "42", "error": None}]
    left_out = culprits(records, TOOLS)
    assert left_out == {("calculator", "expression"): {"banana split"}}
    message = "What is 6 * 7?"
    selection = select_for(message, TOOLS)
    before = bind_options(message, selection, copy_spans=True)["grammar"]
    after = bind_options(message, selection, copy_spans=True, excluded={("calculator", "expression"): {"6 * 7"}})
    assert literal("6 * 7") in before and literal("6 * 7") not in after["grammar"]
    assert "grammar" not in bind_options(message, selection, copy_spans=False), "bigger models: the schemas' grammar"


@pytest.mark.parametrize("message, expected", [
    ("What is 12*3 and what is the square root of 81?",
     [("What is 12*3 and", ["calculator"]), ("what is the square root of 81?", ["calculator"])]),
    ("Convert 5 miles to km and 3 kg to pounds",
     [("Convert 5 miles to km and", ["convert_units"]), ("3 kg to pounds", ["convert_units"])]),
    ("What is 2 ** 16 and the time in Tokyo?",
     [("What is 2 ** 16 and", ["calculator"]), ("the time in Tokyo?", ["current_time"])]),
    ("Calculate (48 + 52) * 3 - 7 and explain it", [("Calculate (48 + 52) * 3 - 7 and explain it", ["calculator"])]),
    ("I have 3 apples and 4 more. What is 3 + 4?", [("I have 3 apples and 4 more. What is 3 + 4?", ["calculator"])]),
    ("Run this python code: print(1 + 2) and print(3)", [("Run this python code: print(1 + 2) and print(3)",
                                                          ["python"])]),
])
def test_a_message_is_cut_into_its_separate_requests(message, expected):
    found = clauses(message, TOOLS)
    assert [(text, list(hits)) for text, hits in found] == expected
    assert all(text in message for text, _ in found), "each request is an exact piece of the message"


def test_two_requests_get_exactly_two_calls_with_values_from_their_own_words(vocab):
    message = "Convert 5 miles to km and 3 kg to pounds"
    text = build(message, TOOLS, clauses=clauses(message, TOOLS))
    assert parses(vocab, grammar(text, "any"))
    assert text.splitlines()[0] == 'calls ::= "[" (q0-convert-units) ", " (q1-convert-units) "]"'
    first = next(line for line in text.splitlines() if line.startswith("q0-convert-units ::="))
    second = next(line for line in text.splitlines() if line.startswith("q1-convert-units ::="))
    assert '("5")' in first and '("miles")' in first and "kg" not in first
    assert '("3")' in second and '("kg")' in second and '("pounds")' in second and "miles" not in second
