"""Answers that end early say so: cut at the token limit, or stopped in a repetition loop (real SmolLM2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.repetition import RepetitionGuard, loop_at_end
from tests.conftest import ROOT, cli_here, run_cli


def guard_stops(text: str) -> int | None:
    """The word at which the guard stops ``text`` streamed word by word, or None."""
    guard = RepetitionGuard()
    for index, word in enumerate(text.split(" ")):
        if guard.feed(word + " "):
            return index
    return None


def test_loops_are_found_early_and_varied_loops_too():
    exact = "The answer is here. " + "The sky is blue because of scattering. " * 10
    assert guard_stops(exact) is not None and guard_stops(exact) < 40
    numbered = " ".join(f"{i}. The cat is a cat." for i in range(1, 30))
    assert guard_stops(numbered) is not None and guard_stops(numbered) < 60
    assert loop_at_end("a b c a b c a b c a b c a b c a b c a b c a b c".split()) == (3, 8)


@pytest.mark.parametrize("text", [
    (ROOT / "README.md").read_text(),
    "no, no, no " * 6,  # short repetition is speech, not a loop
    "\n".join(f"print(x[{i}])\nprint(x[{i}])" for i in range(30)),  # repetitive code with a changing index
    "| a | b | c |\n|---|---|---|\n" + "| 1 | 2 | 3 |\n" * 3,
])
def test_ordinary_text_is_never_called_a_loop(text):
    assert guard_stops(text) is None


@pytest.fixture
def podium(capsys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_TEMPERATURE", "0")

    def run(*args: str, max_tokens: int = 160) -> tuple[int, str, str]:
        monkeypatch.setenv("PODIUM_MAX_TOKENS", str(max_tokens))
        return cli_here(capsys, *args)
    return run


LOOPS = "Tell me a long story about a cat."
"""Routed to chat, and SmolLM2 at temperature 0 loops on it ("n. The cat is a cat." after ~75 tokens).

Asked in a fresh process: a model already used by other tests reuses their KV prefix, and the
slightly different numerics can change a greedy answer (it then ended after 32 tokens)."""
LOOP_ENV = {"PODIUM_TEMPERATURE": "0", "PODIUM_MAX_TOKENS": "160"}


@pytest.mark.model
def test_a_looping_answer_is_stopped_with_a_notice(_isolated_env: Path):
    done = run_cli("ask", "--json", LOOPS, env=LOOP_ENV)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["route"][-1] == "chat", data["route"]
    assert any(n.startswith("stopped a looping answer after") for n in data["notices"]), data["notices"]
    assert data["usage"]["finish_reason"] == "repetition"
    assert data["usage"]["completion_tokens"] < 100, "stopped long before the 160-token limit"
    assert data["usage"]["calls"][-1]["finish_reason"] == "repetition"  # in the ledger too


def test_the_footer_says_why_an_answer_ended_early():
    from ui.render import footer

    usage = {"prompt_tokens": 30, "completion_tokens": 75, "cost_usd": 0.0, "finish_reason": "repetition"}
    assert footer("llamacpp/smollm2-135m", usage).endswith("stopped a repetition loop")
    cut = {**usage, "finish_reason": "length", "calls": [{"outcome": "ok", "completion_tokens": 16}]}
    assert footer("llamacpp/smollm2-135m", cut).endswith("answer cut at 16 tokens")
    assert "stopped" not in footer("llamacpp/smollm2-135m", {**usage, "finish_reason": "stop"})


@pytest.mark.slow
@pytest.mark.model
def test_a_looping_answer_in_the_terminal_ends_with_the_notice_and_the_footer(_isolated_env: Path):
    done = run_cli("ask", LOOPS, env=LOOP_ENV)
    err = done.stderr
    assert done.returncode == 0 and "stopped a repetition loop" in err.splitlines()[-1], err  # the footer
    assert "· stopped a looping answer" in err  # the notice line


@pytest.mark.model
def test_an_answer_cut_at_the_token_limit_says_so(podium):
    code, out, err = podium("ask", "--json", "Tell me a long story about a cat.", max_tokens=16)
    data = json.loads(out)
    assert code == 0 and data["usage"]["finish_reason"] == "length"
    assert "answer cut at 16 tokens (the token limit): raise PODIUM_MAX_TOKENS" in data["notices"]
    code, out, err = podium("ask", "Tell me a long story about a cat.", max_tokens=16)
    assert "answer cut at 16 tokens" in err.splitlines()[-1], err


@pytest.mark.model
def test_a_tool_call_cut_at_the_token_limit_is_not_run(podium):
    """At 16 tokens the calculator call was cut to ``{"expression": "3`` and run: "3 = 3"."""
    code, out, err = podium("ask", "--json", "What is 3*7?", max_tokens=16)
    data = json.loads(out)
    assert code == 0 and data["tool_calls"] == [], data["tool_calls"]
    assert data["answer"].startswith("The call of calculator was cut at 16 tokens") and "not run" in data["answer"]
    assert "answer cut at 16 tokens (the token limit): raise PODIUM_MAX_TOKENS" in data["notices"]
