"""Grammars built from the message, and the plan/validate/repair loop (with a scripted generator; no model)."""

from __future__ import annotations

import json

import llama_cpp
import pytest

from agents.tools import TOOLS as ALLOWED
from models.llamacpp import locate
from podium.settings import Settings
from tools import select
from tools.grammar import build, clauses, free_span, literal
from tools.local import PlanFailed, parse, plan, preselect, prompt

TOOLS = select(ALLOWED)


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    """SmolLM2's vocabulary only (no weights): enough for llama.cpp to parse a grammar against it."""
    path = locate("smollm2-135m", Settings(home=tmp_path_factory.mktemp("home")))[0]
    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


def parses(llm, grammar: str) -> bool:
    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


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
        assert parses(vocab, build(message, hits, answer=may_answer, copy_spans=copy_spans))


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


def test_prompt_lists_the_tools_and_shows_examples():
    messages = prompt("What is 2 + 2?", {"calculator": TOOLS["calculator"]})
    assert "- calculator(expression): Evaluate arithmetic" in messages[0].content
    assert json.loads(messages[2].content) == [{"tool": "calculator", "args": {"expression": "12 + 7"}}]
    assert messages[-1].content == "What is 2 + 2?"
    several = prompt("What is 12*3 and what is 9 + 1?", {"calculator": TOOLS["calculator"]}, several=True)
    assert len(json.loads(several[-2].content)) == 2, "a message asking two things gets a two-call example"


def test_preselection_is_deterministic():
    assert list(preselect("What is 1234 * 5678?", TOOLS)[0]) == ["calculator"]
    assert preselect("What is 1234 * 5678?", TOOLS)[1] is False
    assert list(preselect("Run this python code: print(1)", TOOLS)[0]) == ["python"]
    assert list(preselect("Run this python code: print(6 * 7)", TOOLS)[0]) == ["python"], "exclusive: not arithmetic"
    assert list(preselect("Execute `print(2 ** 16)`", TOOLS)[0]) == ["python"]
    assert list(preselect("What is 2 ** 16 and the time in Tokyo?", TOOLS)[0]) == ["calculator", "current_time"]
    assert preselect("hello there", TOOLS) == (TOOLS, True)


def scripted(*replies: str):
    """A generator that plays replies in order and records the grammars it was given."""
    seen: list[tuple[list, str]] = []

    def generate(messages, grammar):
        seen.append((messages, grammar))
        return replies[len(seen) - 1]
    return generate, seen


def test_invalid_replies_are_sent_back_and_their_values_removed_from_the_next_grammar():
    generate, seen = scripted('[{"tool": "calculator", "args": {"expression": "banana split"}}]',
                              "[{not json",
                              '[{"tool": "calculator", "args": {"expression": "6 * 7"}}]')
    result = plan("What is 6 * 7? banana split", TOOLS, generate)
    assert [c["args"] for c in result.calls] == [{"expression": "6 * 7"}]
    assert len(result.attempts) == 3
    second_prompt = seen[1][0]
    assert "not an arithmetic expression: 'banana split'" in second_prompt[-1].content
    assert "not valid JSON" in seen[2][0][-1].content
    assert literal("banana split") not in seen[1][1]


def test_repairs_are_bounded():
    generate, seen = scripted(*['[{"tool": "nope", "args": {}}]'] * 3)
    with pytest.raises(PlanFailed) as failed:
        plan("What is 6 * 7?", TOOLS, generate)
    assert len(failed.value.attempts) == 3 and len(seen) == 3
    assert "unknown tool 'nope'" in seen[-1][0][-1].content


def test_parse_answers_directly_dedupes_and_validates():
    assert parse('[{"tool": "none"}]', TOOLS) == []
    one = '{"tool": "calculator", "args": {"expression": "1+1"}}'
    twice = f"[{one}, {one}]"
    (call,) = parse(twice, TOOLS)
    assert call["name"] == "calculator" and call["id"].startswith("call_") and call["type"] == "tool_call"
    for bad, why in [('{"tool": "calculator"}', "list"), ('[{"tool": "convert_units", "args": {"value": "x"}}]',
                                                        "invalid arguments")]:
        with pytest.raises(ValueError, match=why):
            parse(bad, TOOLS)


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
    assert parses(vocab, text)
    assert text.splitlines()[0] == 'root ::= "[" (q0-convert-units) ", " (q1-convert-units) "]"'
    first = next(line for line in text.splitlines() if line.startswith("q0-convert-units ::="))
    second = next(line for line in text.splitlines() if line.startswith("q1-convert-units ::="))
    assert '("5")' in first and '("miles")' in first and "kg" not in first
    assert '("3")' in second and '("kg")' in second and '("pounds")' in second and "miles" not in second
