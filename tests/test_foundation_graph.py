"""The conductor graph: its structure, then the whole graph with a scripted model and real SQLite."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agents.contract import Specialist, TurnOptions
from agents.registry import SPECIALISTS
from graph.app import PodiumApp
from graph.graph import build_graph, route_turn
from models.scripted import register_script
from podium.errors import NotFoundError, PodiumError


def test_graph_structure():
    g = build_graph(InMemorySaver()).get_graph()
    nodes = set(g.nodes)
    assert {"__start__", "conductor", "chat", "__end__"} <= nodes
    edges = {(e.source, e.target) for e in g.edges}
    assert ("__start__", "conductor") in edges
    for specialist in SPECIALISTS:
        assert ("conductor", specialist.name) in edges
        assert (specialist.name, "__end__") in edges


def test_router_raises_on_impossible_route():
    with pytest.raises(ValueError, match="unknown specialist"):
        route_turn({"route": "astrology"})


def test_turn_streams_tokens_steps_and_persists(app: PodiumApp):
    events = list(app.stream_turn("hello there", options=TurnOptions(model="scripted/echo")))
    kinds = [e.kind for e in events]
    assert kinds[-1] == "done"
    tokens = "".join(e.data["text"] for e in events if e.kind == "token")
    assert tokens == "You said: hello there"
    assert [e.node for e in events if e.kind == "step"] == ["conductor", "chat"]
    route_event = next(e for e in events if e.kind == "route")
    assert route_event.data["route"] == "chat"
    result = events[-1].data["result"]
    assert result.answer == "You said: hello there"
    assert result.route == ["conductor", "chat"]
    assert result.model == "scripted/echo"
    assert result.usage["completion_tokens"] == 4 and result.usage["prompt_tokens"] > 0
    assert result.usage["calls"][0]["node"] == "chat"
    assert result.usage["calls"][0]["thread"] == result.thread_id


def test_thread_survives_a_new_app_instance(settings):
    first = PodiumApp(settings).ask("one", options=TurnOptions(model="scripted/echo"))
    second_app = PodiumApp(settings)  # a new process would open the same SQLite file
    second = second_app.ask("two", thread_id=first.thread_id, options=TurnOptions(model="scripted/echo"))
    assert second.thread_id == first.thread_id
    assert [m["content"] for m in second_app.history(first.thread_id)] == [
        "one",
        "You said: one",
        "two",
        "You said: two",
    ]
    (listed,) = second_app.threads()
    assert listed.thread_id == first.thread_id and (listed.turns, listed.messages) == (2, 4)
    assert listed.to_dict()["turns"] == 2 and listed.title == "one"


def test_unknown_thread_is_a_clear_error(app):
    with pytest.raises(NotFoundError, match="unknown thread"):
        app.ask("hi", thread_id="does-not-exist", options=TurnOptions(model="scripted/echo"))
    with pytest.raises(NotFoundError):
        app.history("does-not-exist")


def test_failed_turn_leaves_the_thread_as_it_was(app):
    ok = app.ask("first", options=TurnOptions(model="scripted/echo"))
    before = app.history(ok.thread_id)
    register_script("exhausted", [])  # any call to it fails
    with pytest.raises(PodiumError):
        app.ask("second", thread_id=ok.thread_id, options=TurnOptions(model="scripted/exhausted"))
    assert app.history(ok.thread_id) == before
    failed = [c for c in app.ledger.calls(thread=ok.thread_id) if c.outcome == "failed"]
    assert len(failed) == 1 and failed[0].model == "scripted/exhausted"


def test_fallback_chain_answers_and_records_both_calls(app):
    register_script("broken", [])
    result = app.ask("hello", options=TurnOptions(model="scripted/broken", fallbacks=["scripted/echo"]))
    assert result.answer == "You said: hello"
    assert [c["outcome"] for c in result.usage["calls"]] == ["fell_back", "ok"]
    assert result.model == "scripted/echo"


def test_system_prompt_and_few_shot_reach_the_model(app):
    from langchain_core.messages import HumanMessage

    from agents.chat import build_prompt

    prompt = build_prompt("Be terse.", [("2+2?", "4")], [HumanMessage("3+3?")])
    assert [m.type for m in prompt] == ["system", "human", "ai", "human"]
    assert prompt[0].content == "Be terse." and prompt[2].content == "4"


def test_a_failing_router_model_falls_back_to_the_rules(settings):
    from graph.app import PodiumApp
    from models.spec import ModelSpec

    register_script("router-down", [])  # any call fails
    other = Specialist(name="other", node=lambda state, runtime: {}, description="something else")
    app = PodiumApp(settings.model_copy(update={"router_model": "scripted/router-down"}),
                    specialists=(*SPECIALISTS, other))
    # The scripted router counts as capable here: routing must survive its failure.
    app.models._specs["scripted/router-down"] = ModelSpec(
        spec="scripted/router-down", provider="scripted", name="router-down", local=False
    )
    # No rule decides, and meaning cannot judge 'other' (it has no examples): the router model is asked.
    result = app.ask("Tell me about the weather on Mars", options=TurnOptions(model="scripted/echo"))
    assert result.answer == "You said: Tell me about the weather on Mars"
    assert any("router model" in n for n in result.notices)
