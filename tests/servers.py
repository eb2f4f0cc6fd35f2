"""Real servers for tests: start a process on a free port, wait until it answers, stop it afterwards."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, startup_s: float) -> None:
    """Poll ``url`` until it answers 200; fail at once with the log's tail if the process exits.

    The pause between polls is a wait on the process, so there are no sleeps and a crash is
    noticed immediately.
    """
    deadline = time.monotonic() + startup_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:
            proc.wait(timeout=0.2)
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered on {url} within {startup_s:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def serve(
    command: Sequence[str],
    ready_url: str,
    log: Path,
    *,
    startup_s: float = 90,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` (its output in ``log``) until the block ends, once ``ready_url`` answers."""
    with log.open("w") as sink:
        proc = subprocess.Popen(list(command), stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        wait_for_http(ready_url, proc, log, startup_s)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
