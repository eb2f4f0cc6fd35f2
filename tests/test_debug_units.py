"""Debugger units: redaction, step records, --set validation, and the graph drawings (Mermaid snapshot)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from PIL import Image

from graph import draw
from graph.debug import REDACTED, StepRecord, fill, redact, secret_values
from graph.graph import build_graph
from graph.trace import parse_sets
from podium.errors import ConfigError

SNAPSHOT = Path(__file__).parent / "snapshots" / "conductor_graph.mmd"
FAKE_KEY = "sk-proj-FAKEdebugKEY0123456789abcdef"


def test_redact_env_secrets_patterns_and_secret_fields(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ACME_SERVICE_TOKEN", "acme-token-value-42")
    monkeypatch.setenv("MY_CLIENT_SECRET_VALUE", "hunter2hunter2")
    monkeypatch.setenv("SHORT_KEY", "abc")  # too short to be treated as a secret
    assert FAKE_KEY in secret_values() and "abc" not in secret_values()
    data = {
        "text": f"key={FAKE_KEY} token=acme-token-value-42 pw=hunter2hunter2 other sk-live1234567890xyz",
        "nested": [{"api_key": "whatever-it-is"}, ("acme-token-value-42",)],
        "Authorization": "Bearer abcdefghijklmnopqrstuvwxyz",
        "prompt_tokens": 12,
        "abc": "abc stays",
    }
    clean = redact(data)
    dumped = json.dumps(clean)
    for secret in (FAKE_KEY, "acme-token-value-42", "hunter2hunter2", "sk-live1234567890xyz", "whatever-it-is",
                   "abcdefghijklmnopqrstuvwxyz"):
        assert secret not in dumped
    assert clean["prompt_tokens"] == 12 and clean["abc"] == "abc stays"
    assert clean["nested"][0]["api_key"] == REDACTED
    assert data["nested"][0]["api_key"] == "whatever-it-is"  # the original is untouched


def test_step_record_from_writes_is_json_ready_and_redacted(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    ai = AIMessage("calling", tool_calls=[{"name": "calc", "args": {"x": FAKE_KEY}, "id": "c1"}])
    writes = {"messages": [ai], "route": "chat", "notices": []}
    record = fill(StepRecord("t1", "chat", started=1_700_000_000.0, duration_s=0.25), writes,
                  before={"notices": [], "route": "knowledge"})
    record.model_calls = [{"model": "scripted/x", "prompt_tokens": 10, "completion_tokens": 3, "cost_usd": 0.002}]
    assert record.delta.keys() == {"messages", "route"}  # notices did not change
    assert record.tool_calls == [{"name": "calc", "args": {"x": FAKE_KEY}, "id": "c1", "requested": True}]
    executed = [{"id": "c1", "name": "calc", "result": "3"}]
    ran = fill(StepRecord("t1", "tools"), {"messages": [ai], "tool_calls": executed})
    assert ran.tool_calls == [{"id": "c1", "name": "calc", "result": "3"}]  # the run call, not the request again
    assert record.tokens == (10, 3)
    data = record.to_dict()
    text = json.dumps(data)
    assert FAKE_KEY not in text and FAKE_KEY not in record.line()
    assert data["messages_added"][0]["type"] == "ai" and data["started_at"].startswith("2023-11-14T")
    assert data["prompt_tokens"] == 10 and data["cost_usd"] == 0.002
    assert "chat" in record.line() and "250ms" in record.line() and "10+3 tok" in record.line()


def test_parse_sets_validates_against_the_state_schema():
    values = parse_sets(['route="chat"', 'notices=["a", "b"]',
                         'messages=[{"type": "human", "content": "edited"}]'])
    assert values["route"] == "chat" and values["notices"] == ["a", "b"]
    assert isinstance(values["messages"][0], HumanMessage) and values["messages"][0].content == "edited"
    with pytest.raises(ConfigError, match="no key 'colour'") as bad_key:
        parse_sets(['colour="red"'])
    assert "messages" in bad_key.value.hint and "route" in bad_key.value.hint
    with pytest.raises(ConfigError, match="not JSON"):
        parse_sets(["route=chat"])
    with pytest.raises(ConfigError, match="valid string") as bad_type:
        parse_sets(["route=3"])
    assert "JSON string" in bad_type.value.hint
    with pytest.raises(ConfigError, match="notices"):
        parse_sets(['notices="not a list"'])
    with pytest.raises(ConfigError, match="key=JSON"):
        parse_sets(["route"])


def test_mermaid_drawing_matches_snapshot():
    drawing = draw.mermaid(build_graph())
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(drawing)
    assert drawing == SNAPSHOT.read_text(), "graph changed: rerun with UPDATE_SNAPSHOTS=1 and review the diff"


def test_mermaid_highlights_running_node_and_breakpoints():
    drawing = draw.mermaid(build_graph(), running=["chat"], breakpoints=["conductor", "chat"])
    assert "\tclass chat running" in drawing and "\tclass conductor breakpoint" in drawing
    assert "class chat breakpoint" not in drawing  # running wins over the breakpoint outline


def test_ascii_and_png_are_drawn_locally():
    graph = build_graph()
    art = draw.draw(graph, "ascii")
    for node in ("__start__", "conductor", "chat", "__end__"):
        assert f"| {node} |" in art
    png = draw.draw(graph, "png")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 100 and image.height > 200
    highlighted = Image.open(io.BytesIO(draw.png(graph, running=["chat"]))).convert("RGB")
    boxes, _ = draw.layout(graph)
    x0, y0, x1, y1 = boxes["chat"]
    assert highlighted.getpixel((int(x0) + 6, int((y0 + y1) / 2))) == (0xFF, 0xB3, 0x47)  # the running fill


def test_self_loops_are_drawn_in_ascii_and_png():
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class S(TypedDict):
        n: int

    builder = StateGraph(S)
    builder.add_node("work", lambda s: {"n": s["n"] + 1})
    builder.add_edge(START, "work")
    builder.add_conditional_edges("work", lambda s: END if s["n"] > 2 else "work", ["work", END])
    graph = builder.compile()
    assert "work -> work (conditional loop)" in draw.ascii_art(graph)  # grandalf cannot route it
    assert Image.open(io.BytesIO(draw.png(graph))).format == "PNG"


def test_unknown_format_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown graph format 'svg'") as exc:
        draw.draw(build_graph(), "svg")
    assert exc.value.hint == "choose from: mermaid, ascii, png"
