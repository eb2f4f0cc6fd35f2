"""Start ``podium ui`` in a subprocess on a free port, for the gradio_client and browser tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT
from tests.servers import free_port, serve


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The server's environment: its own data dir, no keys or Podium settings from the shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "OPENAI_"))}
    env.update(
        PODIUM_HOME=str(home),
        PODIUM_TEMPERATURE="0",
        PODIUM_N_THREADS="1",  # as tests/conftest.py: one llama.cpp thread per test process
        GRADIO_ANALYTICS_ENABLED="False",
        ANONYMIZED_TELEMETRY="False",
        **extra,
    )
    return env


@contextmanager
def serve_ui(home: Path, *args: str, startup_s: float = 120, **env: str) -> Iterator[str]:
    """Run ``podium ui --port <free> ARGS`` until the block ends; yields its URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "ui.cli", "ui", "--port", str(port), *args]
    with serve(command, url, home.parent / f"ui-{port}.log", startup_s=startup_s, env=clean_env(home, **env), cwd=ROOT):
        yield url
