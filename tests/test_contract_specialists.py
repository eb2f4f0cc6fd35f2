"""The specialist contract: a new specialist is one file plus one registry line, and turns reach it."""

from __future__ import annotations

import dataclasses
import re

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agents.contract import Rule, Specialist, TurnOptions
from agents.registry import SPECIALISTS, tool_users
from graph.app import PodiumApp
from graph.graph import build_graph
from tests import toy_specialist
from tools import ToolDefinitionError

WITH_TOY = (*SPECIALISTS, toy_specialist.SPECIALIST)
"""The registry with one more line: exactly what adding a specialist to agents/registry.py does."""


def test_a_new_specialist_gets_a_node_an_edge_and_turns(settings):
    app = PodiumApp(settings, specialists=WITH_TOY)
    assert "shout" in app.node_names()
    edges = {(e.source, e.target) for e in app.graph.get_graph().edges}
    assert {("conductor", "shout"), ("shout", "__end__")} <= edges
    events = list(app.stream_turn("shout hello there", options=TurnOptions(model="scripted/echo")))
    result = events[-1].data["result"]
    assert result.route == ["conductor", "shout"] and result.answer == "You said: shout hello there"
    assert "".join(e.data["text"] for e in events if e.kind == "token") == result.answer, "its tokens stream"
    assert next(e for e in events if e.kind == "route").data["reason"] == "rule: asks to shout"
    assert result.notices == ["shouted with scripted/echo"]
    assert [c["node"] for c in result.usage["calls"]] == ["shout"], "its model calls are ledger rows of its node"
    assert tool_users(WITH_TOY)["calculator"] == ["tools", "shout"]


def test_the_default_registry_does_not_know_the_toy(app):
    assert "shout" not in app.node_names()
    result = app.ask("shout hello", options=TurnOptions(model="scripted/echo"))
    assert result.route == ["conductor", "chat"]


def test_per_agent_models_reach_a_new_specialist(settings):
    app = PodiumApp(settings, specialists=WITH_TOY)
    options = TurnOptions(model="llamacpp/smollm2-135m", agent_models={"shout": "scripted/echo"})
    result = app.ask("shout once", options=options)
    assert result.model == "scripted/echo" and result.notices == ["shouted with scripted/echo"]


def test_an_unavailable_specialist_is_never_chosen(settings):
    asleep = dataclasses.replace(toy_specialist.SPECIALIST, available=lambda ctx: False)
    app = PodiumApp(settings, specialists=(*SPECIALISTS, asleep))
    assert "shout" not in app.context("t").available()
    assert app.ask("shout hello", options=TurnOptions(model="scripted/echo")).route == ["conductor", "chat"]


def test_registry_mistakes_fail_when_the_graph_is_built():
    def node(state, runtime):
        return {}

    unknown_tool = Specialist(name="typo", node=node, description="x", tools=("calculater",))
    with pytest.raises(ToolDefinitionError, match="calculater"):
        build_graph(InMemorySaver(), specialists=(*SPECIALISTS, unknown_tool))
    twice = Specialist(name="chat", node=node, description="a second chat")
    with pytest.raises(ValueError, match="'chat' is registered twice"):
        build_graph(InMemorySaver(), specialists=(*SPECIALISTS, twice))
    reserved = Specialist(name="conductor", node=node, description="x", rules=(Rule(re.compile("x"), "x"),))
    with pytest.raises(ValueError, match="reserved"):
        build_graph(InMemorySaver(), specialists=(*SPECIALISTS, reserved))
    with pytest.raises(ValueError, match="description"):
        build_graph(InMemorySaver(), specialists=(Specialist(name="mute", node=node, description=" "),))


def test_every_specialist_declares_its_contract():
    for specialist in SPECIALISTS:
        assert specialist.description and "\n" not in specialist.description
        assert 3 <= len(specialist.examples) <= 120, f"{specialist.name}: routing examples, a few dozen"
        assert all(e.strip() and len(e) < 120 for e in specialist.examples)
