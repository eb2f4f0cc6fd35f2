"""Cheap cold paths: listings from the thread index, model facts and usage without LangGraph or llama.cpp."""

from __future__ import annotations

import json
import subprocess
import sys

from langchain_core.messages import AIMessage, HumanMessage

from graph.app import PodiumApp
from graph.checkpoint import list_threads
from graph.threads import TABLE, ThreadIndex
from podium.settings import Settings
from tests.conftest import ROOT

HEAVY = ("langgraph", "langchain_core", "langchain", "langsmith", "llama_cpp", "numpy", "chromadb", "onnxruntime",
         "gradio", "httpx", "openai", "tools", "memory", "agents")


def heavy_imports(*args: str, env: dict[str, str] | None = None, also: tuple[str, ...] = ()) -> tuple[list[str], str]:
    """Run ``podium ARGS`` in a fresh interpreter; the heavy packages (and ``also``) it imported, and its output."""
    code = ("import sys\nfrom ui.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            f"    assert not e.code, e.code\nprint('HEAVY', [m for m in {HEAVY + also!r} if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out, _, heavy = proc.stdout.rpartition("HEAVY ")
    return eval(heavy), out  # noqa: S307 - our own list literal


def scripted_app(home) -> PodiumApp:
    return PodiumApp(Settings(home=home, model="scripted/echo"))


def test_listing_reads_the_index_not_the_states(tmp_path, monkeypatch):
    app = scripted_app(tmp_path)
    first = app.ask("hello there").thread_id
    app.ask("and again", first)
    second = app.ask("another thread").thread_id
    listed = {t.thread_id: t for t in app.threads()}
    assert (listed[first].turns, listed[first].messages, listed[first].title) == (2, 4, "hello there")
    assert listed[second].turns == 1
    # A fresh process lists them from the index alone: no LangGraph, no state read.
    import os

    env = {**os.environ, "PODIUM_HOME": str(tmp_path)}
    heavy, out = heavy_imports("threads", "--json", env=env)
    assert heavy == []
    assert {t["thread_id"]: t["turns"] for t in json.loads(out)} == {first: 2, second: 1}


def test_a_checkpoint_written_elsewhere_is_described_again(tmp_path):
    """A fork or a replay writes checkpoints without the index: the listing notices and re-reads."""
    app = scripted_app(tmp_path)
    thread = app.ask("hello there").thread_id
    config = {"configurable": {"thread_id": thread}}
    app.graph.update_state(config, {"messages": [HumanMessage("more"), AIMessage("text")]}, as_node="chat")
    (listed,) = app.threads()
    assert (listed.messages, listed.turns) == (4, 2)
    (fresh,) = list_threads(app.settings)  # the row was saved again: a new reader agrees
    assert fresh.messages == 4


def test_deleted_threads_leave_the_listing(tmp_path):
    app = scripted_app(tmp_path)
    keep, gone = app.ask("keep me").thread_id, app.ask("delete me").thread_id
    app.checkpointer.delete_thread(gone)
    assert [t.thread_id for t in app.threads()] == [keep]
    assert [r["thread_id"] for r in ThreadIndex.open(app.settings).db.execute(f"SELECT * FROM {TABLE}")] == [keep]


def test_a_database_from_before_the_index_is_listed(tmp_path):
    app = scripted_app(tmp_path)
    thread = app.ask("from an old version").thread_id
    app.thread_index.db.execute(f"DROP TABLE {TABLE}")
    assert [(t.thread_id, t.title) for t in list_threads(app.settings)] == [(thread, "from an old version")]
    assert list_threads(Settings(home=tmp_path / "empty")) == []


def test_models_usage_and_help_stay_light(tmp_path):
    import os

    env = {**os.environ, "PODIUM_HOME": str(tmp_path)}
    for args in (["models", "--json"], ["usage"], ["--help"]):
        heavy, out = heavy_imports(*args, env=env)
        assert heavy == [], args
    assert heavy_imports("--help", env=env, also=("pydantic", "podium.settings"))[0] == []
    for args in (["models", "--help"], ["threads", "--help"], ["eval", "--help"]):  # help reads no settings
        assert heavy_imports(*args, env=env, also=("pydantic_settings", "podium.settings"))[0] == [], args
    models = json.loads(heavy_imports("models", "--json", env=env)[1])
    smol = next(m for m in models["models"] if m["spec"] == "llamacpp/smollm2-135m")
    assert smol["layers"] == 30 and (tmp_path / "cache" / "gguf.json").is_file()


def test_with_a_knowledge_base_small_talk_and_arithmetic_never_open_chroma(settings, tmp_path):
    """Chroma stays closed for a turn that cannot be about documents: in a fresh process and in the conductor."""
    import os

    from agents.conductor import decide
    from memory.ingest import ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cats.txt").write_text("Cats sleep for about sixteen hours a day. They are most active at dawn.\n")
    assert not ingest(PodiumApp(settings).knowledge, [docs]).failed
    env = {**os.environ, "PODIUM_HOME": str(settings.home), "PODIUM_MODEL": "scripted/echo"}
    closed = ("chromadb", "onnxruntime")
    opened, out = heavy_imports("ask", "--json", "hi", env=env, also=closed)
    assert json.loads(out)["route"] == ["conductor", "chat"] and [m for m in opened if m in closed] == []
    opened, out = heavy_imports("ask", "--json", "How long do cats sleep, according to my notes?", env=env,
                                also=closed)
    assert json.loads(out)["route"] == ["conductor", "knowledge"] and "chromadb" in opened, "the check sees Chroma"
    app = PodiumApp(settings)  # a warm process: the web app, podium chat, the API
    ctx = app.context("t")
    assert "knowledge" in ctx.available()
    for text, route in (("hi", "chat"), ("Hello, how are you?", "chat"), ("What is 17 * 23?", "tools"),
                        ("Divide 1000 by 8.", "tools")):
        assert decide(text, ctx.available(), ctx)[0] == route, text
    assert app.knowledge._client is None, "no turn above opened Chroma"
    assert decide("how long do cats sleep?", ctx.available(), ctx)[0] == "knowledge"
    assert app.knowledge._client is not None
