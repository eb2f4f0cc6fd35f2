"""Daily use of the CLI in real processes: a read-only data dir, no network, a turn killed mid-stream."""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_here, run_cli
from tests.fault_server import FaultServer

PODIUM = [sys.executable, "-m", "ui.cli"]


def read_only(home: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run podium commands with ``home`` bind-mounted read-only (a private mount namespace: needs root)."""
    home.mkdir(parents=True, exist_ok=True)
    mount = f"mount --bind {home} {home} && mount -o remount,ro,bind {home}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", mount], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.strip()[:100]}")
    out = []
    for command in commands:
        script = f"{mount} && exec {shlex.join([*PODIUM, *command])}"
        out.append(subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT,
                                  env={**os.environ, "PODIUM_HOME": str(home)}, timeout=120))
    return out


def test_a_data_dir_that_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path):
    (tmp_path / "notes.md").write_text("# Notes\n\nSome text.\n")
    commands = [["ask", "-m", "scripted/echo", "hi"], ["usage"], ["ingest", str(tmp_path / "notes.md")],
                ["search", "text"]]
    for command, done in zip(commands, read_only(tmp_path / "home", *commands), strict=True):
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (command, done.stderr)
        assert lines[0].startswith("error: PODIUM_HOME: the folder") and "cannot be written (a read-only file " \
            "system)" in lines[0] and lines[1].startswith("hint:") and len(lines) == 2, (command, done.stderr)


def test_a_hub_model_without_network_fails_at_once_in_one_line(tmp_path: Path):
    started = time.monotonic()
    done = run_cli("ask", "--model", "llamacpp/hf:someone/some-repo/model-Q4_K_M.gguf", "hi",
                   env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_DISABLE_TELEMETRY": "1"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 2, done.stderr
    assert "cannot download hf:someone/some-repo/model-Q4_K_M.gguf: 127.0.0.1 is unreachable" in lines[0]
    assert time.monotonic() - started < 60, "no minutes of retries"


@pytest.mark.model
def test_a_fallback_notice_reaches_the_terminal_while_the_local_model_loads():
    with FaultServer(default="401") as server:
        done = run_cli("ask", "--model", "openai/x", "--fallback", "llamacpp/smollm2-135m", "Hi",
                       env={"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "rejected", "PODIUM_MAX_TOKENS": "8"})
    assert done.returncode == 0, done.stderr
    assert "the API key was rejected (401)" in done.stderr and "falling back to llamacpp/smollm2-135m" in done.stderr


def kill_mid_stream(server: FaultServer, *args: str) -> None:
    """Start ``podium ask ARGS`` against the trickling server and SIGKILL it once its answer streams."""
    server.set(default="trickle")
    env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "k", "PODIUM_STREAM": "1"}
    proc = subprocess.Popen([*PODIUM, "ask", "--model", "openai/fault-model", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready and os.read(proc.stdout.fileno(), 1), "the answer starts streaming"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    server.set(default="ok")


def test_a_turn_killed_mid_stream_is_named_and_can_be_resumed_or_discarded(capsys, monkeypatch: pytest.MonkeyPatch):
    with FaultServer(trickle_s=0.2) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        code, out, err = cli_here(capsys, "ask", "-m", "scripted/echo", "--json", "first")
        thread = json.loads(out)["thread_id"]
        kill_mid_stream(server, "--thread", thread, "second")

        code, out, err = cli_here(capsys, "ask", "-m", "scripted/echo", "--thread", thread, "third")
        assert code == 2 and f"the last turn of thread '{thread}' was interrupted during chat" in err, err
        assert f"podium resume {thread}" in err and f"podium resume {thread} --discard" in err
        usage = json.loads(cli_here(capsys, "usage", "--thread", thread, "--json")[1])
        cut = next(g for g in usage["groups"] if g["model"] == "openai/fault-model")
        assert cut["outcomes"] == {"interrupted": 1}, "closed, not running forever"

        code, out, err = cli_here(capsys, "resume", thread)
        assert code == 0 and out.startswith("Hello from the fault server."), err
        assert "resuming the turn interrupted during chat" in err

        kill_mid_stream(server, "--thread", thread, "fourth")
        code, out, err = cli_here(capsys, "resume", thread, "--discard")
        assert code == 0 and "discarded the interrupted turn 'fourth'" in err, err
    code, out, _ = cli_here(capsys, "history", thread, "--json")
    assert [m["content"] for m in json.loads(out)["messages"] if m["role"] == "user"] == ["first", "second"]
    code, _, err = cli_here(capsys, "resume", thread, "--discard")
    assert code == 2 and "has no unfinished turn to discard" in err
