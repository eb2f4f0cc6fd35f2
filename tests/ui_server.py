"""Start ``podium ui`` in a subprocess on a free port, for the gradio_client and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ROOT


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The server's environment: its own data dir, no keys or Podium settings from the shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "OPENAI_"))}
    env.update(
        PODIUM_HOME=str(home),
        PODIUM_TEMPERATURE="0",
        GRADIO_ANALYTICS_ENABLED="False",
        ANONYMIZED_TELEMETRY="False",
        **extra,
    )
    return env


@contextmanager
def serve_ui(home: Path, *args: str, startup_s: float = 120, **env: str) -> Iterator[str]:
    """Run ``podium ui --port <free> ARGS`` until the block ends; yields its URL once it answers."""
    port = free_port()
    log = (home.parent / f"ui-{port}.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "ui", "--port", str(port), *args],
        cwd=ROOT,
        env=clean_env(home, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            try:  # waits on the process, so a crashed server fails the test at once
                proc.wait(timeout=0.25)
                log.seek(0)
                raise RuntimeError(f"podium ui exited with {proc.returncode}:\n{log.read()[-3000:]}")
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"podium ui did not answer on {url} within {startup_s}s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
