"""Retries, fallbacks, cooldown and ledger entries against a real fault-injecting HTTP server.

The fault server speaks OpenAI's chat-completions protocol on 127.0.0.1 and fails on
demand: 429 with Retry-After, 500, answers slower than the timeout, dropped
connections, streams cut short or malformed, 401 and 400.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from agents.common import call_model
from graph.app import PodiumApp
from podium.errors import ConfigError, ModelError
from podium.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from conftest import run_cli  # noqa: E402
from fault_server import REPLY, FaultServer  # noqa: E402

from agents.contract import TurnOptions

REMOTE, LOCAL = "openai/gpt-4o-mini", "llamacpp/smollm2-135m"


@pytest.fixture(scope="module")
def server():
    with FaultServer(slow_s=3.0) as running:
        yield running


def make_app(home: Path, server: FaultServer, **extra) -> PodiumApp:
    values = {"temperature": 0.0, "max_tokens": 16, "backoff_s": 0.001, "retries": 2, **extra}
    return PodiumApp(Settings(home=home, openai_base_url=server.url, **values))


def ask(app: PodiumApp, *fallbacks: str) -> list:
    ctx = app.context("t-faults", options=TurnOptions(model=REMOTE, fallbacks=list(fallbacks)))
    reply = call_model(ctx, "chat", [HumanMessage("hello")])
    return [reply, app.ledger.calls(turn=ctx.turn_id)]


def rows(calls: list) -> list[tuple]:
    return [(c.model, c.outcome, c.error_class) for c in calls]


def test_429_retry_after_is_honoured(tmp_path, server):
    server.set("429", default="ok")
    server.retry_after = "1"
    start = len(server.seen)
    reply, calls = ask(make_app(tmp_path, server))
    assert reply.text == REPLY
    assert rows(calls) == [(REMOTE, "retried", "RateLimitError"), (REMOTE, "ok", None)]
    assert calls[0].status == 429 and calls[0].retryable == 1 and calls[1].attempt == 2
    first, second = server.seen[start:]
    assert second.t - first.t >= 1.0  # waited as long as the server asked


@pytest.mark.parametrize(("fault", "error"), [("500", "InternalServerError"), ("503", "InternalServerError"),
                                              ("drop", "APIConnectionError"), ("drop-mid", "TruncatedStreamError"),
                                              ("cut", "TruncatedStreamError"), ("malformed", "JSONDecodeError")])
def test_transient_faults_are_retried(tmp_path, server, fault, error):
    server.set(fault, default="ok")
    reply, calls = ask(make_app(tmp_path, server))
    assert reply.text == REPLY and rows(calls) == [(REMOTE, "retried", error), (REMOTE, "ok", None)]
    if fault in ("drop-mid", "cut"):  # two words arrived before the cut: the call may be billed, and is recorded so
        assert calls[0].completion_tokens > 0 and calls[0].cost_usd > 0 and calls[0].ttft_s is not None
    if fault == "cut":  # a clean [DONE] without a finish reason is a cut answer too, and the record says who cuts
        assert "no finish reason" in calls[0].error and "--interrupt_requests False" in calls[0].error


def test_exhausted_retries_fall_back_along_the_chain(tmp_path, server):
    server.set(default="500")
    reply, calls = ask(make_app(tmp_path, server), "scripted/echo")
    assert reply.text == "You said: hello"
    assert rows(calls) == [(REMOTE, "retried", "InternalServerError")] * 2 + [
        (REMOTE, "fell_back", "InternalServerError"), ("scripted/echo", "ok", None)]
    assert [c.attempt for c in calls[:3]] == [1, 2, 3]
    assert all(c.cost_usd == 0 and c.prompt_tokens > 0 for c in calls[:3])  # refused: sent, not billed


def test_slow_answer_times_out_per_provider(tmp_path, server):
    server.set("slow", default="500")
    reply, calls = ask(make_app(tmp_path, server, retries=0, timeouts={"openai": 0.3}), "scripted/echo")
    assert reply.text == "You said: hello"
    assert rows(calls) == [(REMOTE, "fell_back", "APITimeoutError"), ("scripted/echo", "ok", None)]
    assert 0.3 <= calls[0].duration_s < 3.0 and "PODIUM_TIMEOUTS" in calls[0].error


@pytest.mark.parametrize(("fault", "hint"), [("401", "OPENAI_API_KEY"), ("400", "check the model name")])
def test_non_retryable_errors_move_on_at_once_and_say_why(tmp_path, server, fault, hint):
    server.set(fault, default="500")
    start = len(server.seen)
    result = make_app(tmp_path, server).ask("hello", options=TurnOptions(model=REMOTE, fallbacks=["scripted/echo"]))
    assert result.answer == "You said: hello" and len(server.seen) == start + 1  # no retry
    assert [c["outcome"] for c in result.usage["calls"]] == ["fell_back", "ok"]
    assert result.usage["calls"][0]["retryable"] == 0 and result.usage["calls"][0]["status"] == int(fault)
    assert any(hint in n and "falling back to scripted/echo" in n for n in result.notices)


def test_a_provider_that_keeps_failing_cools_down(tmp_path, server):
    server.set(default="500")
    app = make_app(tmp_path, server, retries=1, cooldown_after=2, cooldown_s=300)
    first = app.ask("hello", options=TurnOptions(model=REMOTE, fallbacks=["scripted/echo"]))
    assert [c["outcome"] for c in first.usage["calls"]] == ["retried", "fell_back", "ok"]
    start = len(server.seen)
    second = app.ask("hello again", first.thread_id, TurnOptions(model=REMOTE, fallbacks=["scripted/echo"]))
    assert len(server.seen) == start  # not even tried
    assert [c["model"] for c in second.usage["calls"]] == ["scripted/echo"]
    assert any(n.startswith("openai at http://127.0.0.1") and "is cooling down after 2 failed calls" in n
               for n in second.notices)


def test_unreachable_base_url_names_the_setting(tmp_path, server):
    with socket.socket() as sock:  # a port nothing listens on once this socket closes
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    app = PodiumApp(Settings(home=tmp_path, openai_base_url=url, backoff_s=0.001, retries=1, max_tokens=8))
    with pytest.raises(ConfigError) as info:
        app.ask("hello", options=TurnOptions(model=REMOTE))
    assert info.value.setting == "OPENAI_BASE_URL" and url in info.value.message
    calls = app.ledger.calls()
    assert [(c.outcome, c.error_class) for c in calls] == [("retried", "APIConnectionError"),
                                                           ("failed", "APIConnectionError")]


def test_failed_model_error_is_raised_when_the_chain_is_exhausted(tmp_path, server):
    server.set(default="401")
    with pytest.raises(ModelError, match="401") as info:
        ask(make_app(tmp_path, server))
    assert "OPENAI_API_KEY" in info.value.hint


def test_done_when_a_new_user_falls_back_to_the_local_model(server, _isolated_env):
    """`podium ask --model openai/... --fallback llamacpp/... --json` against a failing server, then `podium usage`."""
    server.set(default="500")
    env = {"OPENAI_BASE_URL": server.url, "PODIUM_BACKOFF_S": "0.001", "PODIUM_MAX_TOKENS": "12"}
    done = run_cli("ask", "--model", "openai/some-model", "--fallback", LOCAL, "--json", "Say hello", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"].strip() and result["model"] == LOCAL
    calls = result["usage"]["calls"]
    assert [(c["model"], c["outcome"]) for c in calls] == [("openai/some-model", "retried")] * 2 + [
        ("openai/some-model", "fell_back"), (LOCAL, "ok")]
    assert calls[2]["error_class"] == "InternalServerError" and calls[3]["completion_tokens"] > 0
    assert any("falling back to " + LOCAL in n for n in result["notices"])

    usage = json.loads(run_cli("usage", "--json", env=env).stdout)
    by_model = {g["model"]: g for g in usage["groups"]}
    assert by_model["openai/some-model"]["outcomes"] == {"retried": 2, "fell_back": 1}
    assert by_model["openai/some-model"]["errors"] == {"InternalServerError": 3}
    assert by_model[LOCAL]["outcomes"] == {"ok": 1} and usage["total"]["calls"] == 4
    table = run_cli("usage", "--by", "model", "--since", "1h", env={**env, "COLUMNS": "200"})
    assert table.returncode == 0 and "openai/some-model" in table.stdout and LOCAL in table.stdout
    assert "fell_back 1" in table.stdout and "ok 1" in table.stdout


def test_bad_routing_input_is_a_one_line_cli_error(tmp_path, _isolated_env):
    bad = run_cli("ask", "--policy", "fastest", "hi")
    assert bad.returncode == 2 and "--policy" in bad.stderr and "Traceback" not in bad.stderr
    prices = tmp_path / "prices.json"
    prices.write_text("{not json")
    bad = run_cli("ask", "--model", "scripted/echo", "hi", env={"PODIUM_PRICES_FILE": str(prices)})
    assert bad.returncode == 2 and "PODIUM_PRICES_FILE" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("usage", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_text_streamed_by_a_failed_attempt_is_taken_back(tmp_path, server):
    """The stream was cut after two words; the retry answers in full, and front ends drop the two words."""
    import time

    from ui.chat_view import TurnView

    server.set("drop-mid", default="ok")
    app, view, shown, retracted, result = make_app(tmp_path, server), TurnView(time.perf_counter()), "", [], None
    for event in app.stream_turn("hello", options=TurnOptions(model=REMOTE)):
        if event.kind == "done":
            streamed_in_view = view.answer  # the final answer replaces it at "done": check it before
        view.apply(event)
        if event.kind == "token":
            shown += event.data["text"]
        elif event.kind == "retract":
            retracted.append(shown[len(shown) - event.data["chars"]:])
            shown = shown[: len(shown) - event.data["chars"]]
        elif event.kind == "done":
            result = event.data["result"]
    assert len(retracted) == 1 and retracted[0] and REPLY.startswith(retracted[0])
    assert shown == result.answer == REPLY and streamed_in_view == REPLY
    assert [c["outcome"] for c in result.usage["calls"]] == ["retried", "ok"]

    # Into a pipe or a file, `podium ask` holds the answer until the turn ends: the failed words never arrive.
    server.set("drop-mid", default="ok")
    cli = run_cli("ask", "--model", REMOTE, "hello", env={"OPENAI_BASE_URL": server.url, "PODIUM_BACKOFF_S": "0.001"})
    assert cli.returncode == 0 and cli.stdout == REPLY + "\n"


def test_a_terminal_is_told_which_streamed_text_to_ignore(capsys, monkeypatch):
    from ui import cli
    from ui.terminal import AnswerPrinter

    monkeypatch.setattr(type(cli.out), "is_terminal", property(lambda self: True))
    printer = AnswerPrinter()
    printer.token("Hello fr")
    printer.retract(8)
    printer.token("Hello from the server.")
    printer.flush()
    captured = capsys.readouterr()
    assert captured.out == "Hello frHello from the server." and "came from an attempt that failed" in captured.err
