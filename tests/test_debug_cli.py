"""`podium debug ...`, `podium ask --trace/--break-before` and `podium resume`, each in a fresh process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from agents.contract import TurnOptions
from graph import trace as T
from tests.conftest import ROOT, run_cli

FAKE_KEY = "sk-proj-FAKEcliKEY0123456789abcdefgh"
ECHO = ["-m", "scripted/echo"]


def ok(*args: str, env: dict[str, str] | None = None, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = run_cli(*args, env=env)
    assert done.returncode == code, done.stderr
    return done


def one_json(done: subprocess.CompletedProcess[str]) -> dict:
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout  # --json prints exactly one object
    return json.loads(lines[0])


def test_ask_trace_prints_redacted_steps_live_and_json_stays_one_object():
    env = {"OPENAI_API_KEY": FAKE_KEY}
    text = ok("ask", "--trace", *ECHO, f"my key is {FAKE_KEY}", env=env)
    step_lines = [line for line in text.stderr.splitlines() if line.startswith("» ")]
    assert [line.split()[2] for line in step_lines] == ["conductor", "chat"]
    assert "scripted/echo" in step_lines[1] and "tok" in step_lines[1] and "ckpt " in step_lines[1]
    assert FAKE_KEY not in text.stderr

    data = one_json(ok("ask", "--trace", "--json", *ECHO, f"again {FAKE_KEY}", env=env))
    assert [s["node"] for s in data["steps"]] == ["conductor", "chat"]
    assert data["steps"][1]["model_calls"][0]["model"] == "scripted/echo"
    assert FAKE_KEY not in json.dumps(data) and "[redacted]" in data["answer"]


def test_breakpoint_survives_a_process_restart_then_trace_fork_state_replay(app):
    paused = one_json(ok("ask", "--break-before", "chat", "--json", *ECHO, "hello, stop before chat", code=3))
    thread = paused["thread_id"]
    assert paused["paused_before"] == ["chat"] and paused["answer"] == ""

    trace = one_json(ok("debug", "trace", thread, "--json"))
    assert [s["node"] for s in trace["steps"]] == ["__start__", "conductor"] and trace["next"] == ["chat"]
    paused_at = trace["checkpoint_id"]

    resumed = one_json(ok("resume", thread, "--json"))  # a new process continues the breakpoint
    assert resumed["answer"] == "You said: hello, stop before chat" and resumed["paused_before"] == []
    assert resumed["model"] == "scripted/echo"  # the paused turn's model was read back from the checkpoint

    forked = one_json(ok("debug", "fork", thread, "--checkpoint", paused_at,
                         "--set", 'route_reason="edited on the command line"', "--json"))
    assert forked["parent_checkpoint_id"] == paused_at and forked["next"] == ["chat"]
    state = one_json(ok("debug", "state", thread, "--checkpoint", forked["checkpoint_id"], "--json"))
    assert state["values"]["route_reason"] == "edited on the command line"
    assert T.state_at(app, thread, paused_at)["values"]["route_reason"] != "edited on the command line"

    replayed = ok("debug", "replay", thread, "--checkpoint", forked["checkpoint_id"])
    assert replayed.stdout.strip() == "You said: hello, stop before chat"
    assert "» " in replayed.stderr and " chat " in replayed.stderr
    assert [r.node for r in T.trace(app, thread)][-2:] == ["__edit__", "chat"]


def test_bad_input_is_one_clear_error_with_the_choices(app):
    thread = app.ask("hi", options=TurnOptions(model="scripted/echo")).thread_id
    head = T.state_at(app, thread)["checkpoint_id"]
    cases = [
        (("ask", "--break-before", "chatt", *ECHO, "hi"), "no node 'chatt'",
         "choose from: " + ", ".join(app.node_names())),
        (("debug", "trace", "nope"), "unknown thread 'nope'", thread),
        (("debug", "fork", thread, "--checkpoint", head, "--set", "colour=1"), "no key 'colour'", "route_reason"),
    ]
    for args, message, hint in cases:
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and message in done.stderr and hint in done.stderr


def test_graph_drawings_from_the_cli(tmp_path: Path):
    snapshot = (ROOT / "tests" / "snapshots" / "conductor_graph.mmd").read_text()
    assert ok("debug", "graph").stdout == snapshot
    ok("debug", "graph", "--format", "png", "-o", str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_langgraph_json_loads_the_graph_for_langgraph_cli():
    config = json.loads((ROOT / "langgraph.json").read_text())
    module_path, _, attr = config["graphs"]["podium"].partition(":")
    langgraph = Path(sys.executable).with_name("langgraph")
    if langgraph.exists():  # LangGraph's own validator (offline with analytics off)
        done = subprocess.run([str(langgraph), "validate", "-c", str(ROOT / "langgraph.json")], capture_output=True,
                              text=True, cwd=ROOT, env={**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1"}, timeout=60)
        assert done.returncode == 0 and "is valid" in done.stdout, done.stderr
    # Load it the way the LangGraph server does: the file by path, then the factory.
    spec = importlib.util.spec_from_file_location("podium_studio_graph", ROOT / module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = getattr(module, attr)()
    assert {"conductor", "chat"} <= set(graph.nodes) and graph.checkpointer is None


def test_the_studio_graph_runs_with_a_plain_context_or_none(monkeypatch, _isolated_env: Path):
    """Studio sends a dict (or nothing) as context; the nodes still get models, ledger and tools from PODIUM_*."""
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    from graph import studio as G
    from models.ledger import Ledger
    from models.scripted import register_script

    monkeypatch.setattr(G, "_TURNS", G._Turns())
    monkeypatch.setenv("PODIUM_MODEL", "scripted/echo")
    studio = G.make_graph()
    studio.checkpointer = InMemorySaver()  # what the LangGraph server attaches
    config = {"configurable": {"thread_id": "studio-1"}}
    out = studio.invoke({"messages": [HumanMessage("hello there")]}, config)  # no context at all
    assert out["messages"][-1].text == "You said: hello there" and out["route"] == "chat"
    scripted = register_script("studio", ["Hello from the script."])
    out = studio.invoke({"messages": [HumanMessage("and again")]}, config, context={"model": scripted})
    assert out["messages"][-1].text == "Hello from the script." and len(out["messages"]) == 4
    calls = Ledger(_isolated_env / "ledger.sqlite").calls()
    assert {c.thread for c in calls} == {"studio-1"} and len({c.turn for c in calls}) == 2
    # Re-running the last turn from its checkpoint with another model uses that model.
    before = next(s for s in studio.get_state_history(config) if s.next == ("conductor",))
    other = register_script("studio-other", ["Another model."])
    out = studio.invoke(None, before.config, context={"model": other})
    assert out["messages"][-1].text == "Another model."
