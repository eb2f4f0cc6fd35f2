"""A ``podium`` turn through the API is folded like everywhere else (ui.fold.TurnFold): a plan's steps come back in
the extension field, and with ``podium.events`` as live ``plan`` and ``step`` chunks."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from graph.app import PodiumApp
from models.scripted import register_script
from ui.api import create_app
from ui.api_keys import open_keys

CHAT = "/v1/chat/completions"
ASK = "Compute 6 * 7 and then write a haiku about it"


def test_a_plans_steps_are_in_the_extension_and_the_event_stream(settings):
    calc = json.dumps([{"tool": "calculator", "args": {"expression": "6 * 7"}}])
    tools = register_script("api-plan-tools", [calc, calc])
    podium = PodiumApp(settings.model_copy(update={"model": "scripted/echo", "agent_models": {"tools": tools}}))
    api = TestClient(create_app(podium, open_keys(podium.settings)))
    reply = api.post(CHAT, json={"model": "podium", "messages": [{"role": "user", "content": ASK}]}).json()
    assert reply["choices"][0]["message"]["content"] == "1. 6 * 7 = 42\n2. You said: write a haiku about 42"
    plan = reply["podium"]["plan"]
    assert [(s["specialist"], s["input"], s["status"], s["uses"]) for s in plan] == [
        ("tools", "Compute 6 * 7", "done", []), ("chat", "write a haiku about 42", "done", [1])]
    assert plan[0]["tool_calls"][0]["result"] == "42"
    assert [s["node"] for s in reply["podium"]["steps"]][0] == "conductor"
    body = {"model": "podium", "stream": True, "podium": {"events": True},
            "messages": [{"role": "user", "content": ASK}]}
    with api.stream("POST", CHAT, json=body) as stream:
        events = [json.loads(line[6:]).get("podium") for line in stream.iter_lines() if line.startswith("data: {")]
    plans = [e["plan"] for e in events if e and e.get("kind") == "plan"]
    assert [s["status"] for s in plans[0]] == ["pending", "pending"], "announced before it runs"
    assert [s["status"] for s in plans[-1]] == ["done", "done"]
    assert events[-1]["plan"] == plans[-1], "the final chunk's extension carries the finished plan"
