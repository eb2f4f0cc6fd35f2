"""The CLI under stress: Ctrl-C mid-answer, bad settings and paths, text with brackets, empty questions.

The Ctrl-C tests run ``podium`` in a real process on the embedded SmolLM2 with
``PODIUM_STREAM=1``, so the first answer token on the stdout pipe says generation has
begun; only then is SIGINT sent.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.app import PodiumApp
from models.ledger import Ledger
from podium.settings import load_settings
from tests.conftest import ROOT, cli_here

MAX_TOKENS = 400
"""Far more tokens than are generated before the stop arrives."""
STORY = "Write a long story about a dragon."


podium = cli_here


def one_line_error(code: int, err: str, *needles: str) -> None:
    """Exit status 2, ``error: ...`` naming every needle on the first line, a hint, no traceback."""
    assert code == 2, err
    first, *rest = err.strip().splitlines()
    assert first.startswith("error: ") and all(n in first for n in needles), err
    assert rest and rest[0].startswith("hint: ") and "Traceback" not in err


# --- Ctrl-C ------------------------------------------------------------------------------------
@pytest.fixture
def spawn() -> Iterator[object]:
    """Start ``podium ARGS`` streaming into pipes; every process is killed at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, stdin: bool = False) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PODIUM_STREAM": "1", "PODIUM_MAX_TOKENS": str(MAX_TOKENS),
               "PODIUM_TEMPERATURE": "0"}
        proc = subprocess.Popen([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        # A safety net against a hang, not a synchronisation: a stuck process ends the blocking reads.
        guard = threading.Timer(300, proc.kill)
        guard.daemon = True
        guard.start()
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def read_until(proc: subprocess.Popen[bytes], needle: bytes, *, then_more: bool = False) -> bytes:
    """Block on stdout until ``needle`` has appeared (and with ``then_more``, one byte after it)."""
    seen = b""
    while needle not in seen or then_more and seen.endswith(needle):
        chunk = os.read(proc.stdout.fileno(), 4096)  # type: ignore[union-attr]
        assert chunk, f"stdout ended before {needle!r}: {seen!r}"
        seen += chunk
    return seen


def stopped_call(home: Path) -> None:
    """The last ledger row is the chat call, ended by the stop long before its token limit."""
    last = Ledger(home / "ledger.sqlite").calls()[-1]
    assert (last.node, last.outcome, last.error_class) == ("chat", "failed", "TurnStopped")
    assert (last.completion_tokens or 0) < MAX_TOKENS


@pytest.mark.model
def test_ctrl_c_stops_ask_at_the_next_token_and_saves_nothing(spawn, _isolated_env: Path):
    proc = spawn("ask", STORY)
    assert os.read(proc.stdout.fileno(), 1), "the answer starts streaming"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    err = proc.stderr.read().decode()
    assert "stopped" in err and "Traceback" not in err and "TurnStopped" not in err, err
    assert PodiumApp(load_settings()).threads() == []
    stopped_call(_isolated_env)


@pytest.mark.model
def test_ctrl_c_in_chat_stops_the_answer_and_returns_to_the_prompt(spawn, _isolated_env: Path):
    proc = spawn("chat", stdin=True)
    read_until(proc, b"you> ")
    proc.stdin.write(STORY.encode() + b"\n")
    proc.stdin.flush()
    read_until(proc, b"podium> ", then_more=True)  # the answer's first token
    proc.send_signal(signal.SIGINT)
    read_until(proc, b"you> ")  # back at the prompt
    proc.stdin.write(b"/exit\n")
    proc.stdin.flush()
    assert proc.wait(timeout=120) == 0
    assert "stopped" in proc.stderr.read().decode()
    assert PodiumApp(load_settings()).threads() == []
    stopped_call(_isolated_env)


@pytest.mark.model
def test_ctrl_c_stops_resume_and_the_thread_stays_paused(spawn, capsys, _isolated_env: Path):
    code, out, err = podium(capsys, "ask", "--break-before", "chat", "--json", STORY)
    thread = json.loads(out)["thread_id"]
    assert code == 3 and json.loads(out)["paused_before"] == ["chat"], err
    proc = spawn("resume", thread)
    assert os.read(proc.stdout.fileno(), 1), "the answer starts streaming"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert "stopped" in proc.stderr.read().decode()
    app = PodiumApp(load_settings())
    assert app.graph.get_state({"configurable": {"thread_id": thread}}).next == ("chat",)
    stopped_call(_isolated_env)


# --- settings, paths and options ---------------------------------------------------------------
@pytest.mark.parametrize(("env", "args", "needles"), [
    ({"PODIUM_HOME": "{file}"}, ["threads"], ["PODIUM_HOME", "is a file"]),
    ({"PODIUM_HOME": "/proc/podium-nope"}, ["ask", "hi"], ["PODIUM_HOME", "/proc/podium-nope"]),
    ({"PODIUM_LOG_LEVEL": "LOUD"}, ["threads"], ["PODIUM_LOG_LEVEL", "LOUD"]),
    ({"PODIUM_ENV_FILE": "/nonexistent.env"}, ["threads"], ["PODIUM_ENV_FILE", "/nonexistent.env"]),
    ({"PODIUM_ENV_FILE": "{dir}"}, ["threads"], ["PODIUM_ENV_FILE", "is a folder"]),
    ({"PODIUM_MAX_CONTEXT": "10"}, ["threads"], ["PODIUM_MAX_CONTEXT", "256"]),
    ({"PODIUM_MAX_CONTEXT": "0"}, ["threads"], ["PODIUM_MAX_CONTEXT"]),
    ({"PODIUM_MAX_TOKENS": "0"}, ["threads"], ["PODIUM_MAX_TOKENS"]),
    ({"PODIUM_MAX_TOKENS": "-1"}, ["threads"], ["PODIUM_MAX_TOKENS"]),
    ({"PODIUM_MAX_TOKENS": "9000"}, ["threads"], ["PODIUM_MAX_TOKENS", "PODIUM_MAX_CONTEXT"]),
    ({"PODIUM_TEMPERATURE": "-5"}, ["threads"], ["PODIUM_TEMPERATURE"]),
    ({"PODIUM_CHECKPOINT_KEEP_TURNS": "-1"}, ["threads"], ["PODIUM_CHECKPOINT_KEEP_TURNS"]),
    ({"PODIUM_TEMPERATURE": "2.5"}, ["threads"], ["PODIUM_TEMPERATURE"]),
    ({"PODIUM_N_THREADS": "0"}, ["threads"], ["PODIUM_N_THREADS"]),
    ({"PODIUM_N_THREADS": "-3"}, ["threads"], ["PODIUM_N_THREADS"]),
    ({}, ["debug", "graph", "-f", "mermaid", "-o", "/nonexistent/dir/g.mmd"], ["/nonexistent/dir/g.mmd"]),
])
def test_bad_settings_and_paths_are_one_line_errors(capsys, monkeypatch, tmp_path, env, args, needles):
    (tmp_path / "afile").write_text("not a folder")
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(file=tmp_path / "afile", dir=tmp_path))
    code, _, err = podium(capsys, *args)
    one_line_error(code, err, *needles)


def test_settings_at_their_limits_are_accepted(monkeypatch):
    for name, value in {"PODIUM_MAX_CONTEXT": "256", "PODIUM_MAX_TOKENS": "1", "PODIUM_TEMPERATURE": "2",
                        "PODIUM_N_THREADS": "1", "PODIUM_LOG_LEVEL": "debug"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.max_context, settings.max_tokens, settings.temperature, settings.n_threads) == (256, 1, 2, 1)


@pytest.mark.parametrize("question", ["", "   \n "])
def test_an_empty_question_is_refused_and_writes_nothing(capsys, _isolated_env: Path, question):
    code, out, err = podium(capsys, "ask", question)
    one_line_error(code, err, "empty question")
    assert out == "" and not _isolated_env.exists(), "not even the data dir"


@pytest.mark.parametrize(("option", "needle"), [(["--model", "nosuch/x"], "unknown model spec 'nosuch/x'"),
                                                (["--policy", "fast"], "'fast'")])
def test_chat_checks_its_options_before_the_prompt(capsys, monkeypatch, option, needle):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    code, out, err = podium(capsys, "chat", *option)
    one_line_error(code, err, needle)
    assert "you>" not in out and "Podium on" not in err


def test_ingest_of_a_missing_path_is_an_error_and_creates_nothing(capsys, tmp_path):
    missing = tmp_path / "typo" / "notes"
    code, _, err = podium(capsys, "ingest", str(missing), "--collection", "ghost")
    one_line_error(code, err, str(missing))
    assert podium(capsys, "kb", "list", "--json")[1].strip() == "[]"


def test_usage_of_an_unknown_thread_is_an_error_but_a_real_one_is_not(capsys):
    one_line_error(*podium(capsys, "usage", "--thread", "nosuch")[::2], "unknown thread 'nosuch'")
    code, out, _ = podium(capsys, "ask", "--json", "--model", "scripted/echo", "hi")
    thread = json.loads(out)["thread_id"]
    code, out, err = podium(capsys, "usage", "--thread", thread, "--json")
    assert code == 0 and json.loads(out)["total"]["calls"] == 1, err
    code, _, err = podium(capsys, "usage", "--thread", thread, "--since", "2999-01-01")
    assert code == 0 and f"no model calls recorded for thread {thread}" in err


def test_threads_json_help_says_array(capsys):
    assert "JSON array" in podium(capsys, "threads", "--help")[1]


# --- square brackets are text, not markup ---------------------------------------------------------
def test_brackets_in_errors_hints_and_history_survive(capsys):
    code, _, err = podium(capsys, "ask", "--thread", "[bold]abc", "hi")
    one_line_error(code, err, "unknown thread '[bold]abc'")
    code, _, err = podium(capsys, "models")
    assert code == 0 and "pip install 'podium[gemma]'" in err, err
    code, out, _ = podium(capsys, "ask", "--json", "--model", "scripted/echo", "[red]keep[/red] [y]es")
    code, out, _ = podium(capsys, "history", json.loads(out)["thread_id"])
    assert "user> [red]keep[/red] [y]es" in out


def test_the_approval_prompt_shows_its_choices(capsys, monkeypatch):
    from ui.cli_tools import _ask_decision

    monkeypatch.setattr("sys.stdin", io.StringIO("maybe\ne\n{\"code\": \"print(1)\"}\n"))
    assert _ask_decision() == {"action": "edit", "args": {"code": "print(1)"}}
    assert "approve? [y]es / [n]o / [e]dit: " in capsys.readouterr().out
