"""convert_units, current_time, the workspace file tools, and the runner (parallel calls, limits, loop guard)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools import REGISTRY, ToolEnv, ToolError, run_calls, tool
from tools.clock import resolve_zone, zone_spans
from tools.files import path_spans
from tools.runner import new_call
from tools.units import from_unit_spans, number_spans, to_unit_spans, unit_spans

FIXED = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path) -> ToolEnv:
    workspace = tmp_path / "workspace"
    (workspace / "notes").mkdir(parents=True)
    (workspace / "notes" / "todo.md").write_text("- buy milk\n- call Ada\n")
    (workspace / "readme.txt").write_text("hello workspace")
    return ToolEnv(workspace=workspace, now=lambda: FIXED)


def run(name: str, env: ToolEnv, **args) -> str:
    t = REGISTRY[name]
    return t.func(**t.validate(args), **({"env": env} if t.uses_env else {}))


@pytest.mark.parametrize("args, expected", [
    ({"value": 5, "from_unit": "miles", "to_unit": "km"}, "5 mi = 8.04672 km"),
    ({"value": 12, "from_unit": "inches", "to_unit": "ft"}, "12 in = 1 ft"),
    ({"value": 100, "from_unit": "fahrenheit", "to_unit": "celsius"}, "100 F = 37.77777778 C"),
    ({"value": -40, "from_unit": "°C", "to_unit": "°F"}, "-40 C = -40 F"),
    ({"value": 2, "from_unit": "kg", "to_unit": "pounds"}, "2 kg = 4.409245244 lb"),
    ({"value": 1, "from_unit": "GiB", "to_unit": "MB"}, "1 GiB = 1073.741824 MB"),
    ({"value": 60, "from_unit": "mph", "to_unit": "km/h"}, "60 mph = 96.56064 km/h"),
    ({"value": 1, "from_unit": "acre", "to_unit": "m2"}, "1 acre = 4046.856422 m2"),
])
def test_convert_units_is_exact_where_definitions_are(env, args, expected):
    assert run("convert_units", env, **args) == expected


@pytest.mark.parametrize("args, message", [
    ({"value": 1, "from_unit": "kg", "to_unit": "km"}, "cannot convert mass"),
    ({"value": 1, "from_unit": "smoots", "to_unit": "m"}, "unknown unit 'smoots'"),
    ({"value": 1, "from_unit": "milez", "to_unit": "km"}, "did you mean 'mile', 'miles'"),
    ({"value": -500, "from_unit": "C", "to_unit": "K"}, "absolute zero"),
])
def test_convert_units_errors(env, args, message):
    with pytest.raises(ToolError, match=message):
        run("convert_units", env, **args)


def test_unit_and_number_spans_come_from_the_message():
    message = "How many pounds is 3.5 kg? And 1,200 grams?"
    assert number_spans(message) == ["3.5", "1200"]
    assert unit_spans(message) == ["pounds", "kg", "grams"]
    assert "in" not in unit_spans("What is 5 km in miles?")
    assert unit_spans("a 12 in pipe") == ["in"]
    assert (from_unit_spans(message), to_unit_spans(message)) == (["kg", "grams"], ["pounds"])
    assert (from_unit_spans("What is 10 km in miles?"), to_unit_spans("What is 10 km in miles?")) == (["km"], ["miles"])


@pytest.mark.parametrize("zone, expected", [
    ("Tokyo", "Thursday 2026-01-15 21:00:00 JST (UTC+09:00, Asia/Tokyo)"),
    ("new york", "Thursday 2026-01-15 07:00:00 EST (UTC-05:00, America/New_York)"),
    ("Europe/Paris", "Thursday 2026-01-15 13:00:00 CET (UTC+01:00, Europe/Paris)"),
    ("PST", "Thursday 2026-01-15 04:00:00 PST (UTC-08:00, America/Los_Angeles)"),
    ("UTC+5:30", "Thursday 2026-01-15 17:30:00 UTC+05:30 (UTC+05:30, UTC+05:30)"),
    ("UTC", "Thursday 2026-01-15 12:00:00 UTC (UTC+00:00, UTC)"),
])
def test_current_time_in_zones_named_every_way(env, zone, expected):
    assert run("current_time", env, timezone=zone) == expected


def test_current_time_errors_and_spans(env):
    with pytest.raises(ToolError, match="unknown time zone 'Atlantis'"):
        run("current_time", env, timezone="Atlantis")
    with pytest.raises(ToolError, match="offset"):
        resolve_zone("UTC+23")
    assert zone_spans("What time is it in New York?") == ["New York"]
    assert zone_spans("what time is it?") == []
    assert "Asia/Tokyo" in zone_spans("time in Asia/Tokyo please")


@pytest.mark.parametrize("message, span, label", [
    ("what time is it in UTC+5:30", "UTC+5:30", "UTC+05:30"),
    ("What time is it in UTC-03:30?", "UTC-03:30", "UTC-03:30"),
    ("what's the time in GMT+5:45", "GMT+5:45", "UTC+05:45"),
    ("time in UTC +5:30 please", "UTC +5:30", "UTC+05:30"),
    ("what time is it in UTC+5", "UTC+5", "UTC+05:00"),
])
def test_offsets_with_minutes_are_offered_whole(message, span, label):
    assert zone_spans(message) == [span]
    assert resolve_zone(span)[1] == label


@pytest.mark.model
def test_the_tiny_model_asks_for_an_offset_with_its_minutes(settings):
    from graph.app import PodiumApp

    result = PodiumApp(settings).ask("What time is it in UTC+5:30?")
    (call,) = result.tool_calls
    assert (call["name"], call["args"], call["error"]) == ("current_time", {"timezone": "UTC+5:30"}, None)
    assert "(UTC+05:30, UTC+05:30)" in result.answer


def test_read_and_list_files_inside_the_workspace(env):
    assert run("read_file", env, path="notes/todo.md") == "- buy milk\n- call Ada\n"
    assert run("read_file", env, path="./notes/../readme.txt") == "hello workspace"
    listing = run("list_files", env)
    assert listing.splitlines() == ["notes/", "readme.txt (15 bytes)"]
    assert run("list_files", env, path="notes") == "todo.md (22 bytes)"


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "notes/../../secret.txt", "~/.bashrc",
                                  "/proc/self/environ"])
def test_paths_out_of_the_workspace_are_refused(env, tmp_path, path):
    (tmp_path / "secret.txt").write_text("sk-secret")
    for name in ("read_file", "list_files"):
        with pytest.raises(ToolError, match="outside the workspace"):
            run(name, env, path=path)


def test_symlinks_out_of_the_workspace_are_refused_and_shown_as_such(env, tmp_path):
    (tmp_path / "secret.txt").write_text("sk-secret")
    (tmp_path / "private").mkdir()
    (env.workspace / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (env.workspace / "leakdir").symlink_to(tmp_path / "private")
    (env.workspace / "alias.md").symlink_to(env.workspace / "notes" / "todo.md")
    with pytest.raises(ToolError, match="outside the workspace"):
        run("read_file", env, path="leak.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        run("list_files", env, path="leakdir")
    assert run("read_file", env, path="alias.md").startswith("- buy milk")  # a link that stays inside is fine
    listing = run("list_files", env)
    assert "leak.txt -> (a link out of the workspace; not followed)" in listing
    assert "alias.md -> notes/todo.md" in listing and "sk-secret" not in listing


def test_file_tool_errors_are_plain(env):
    (env.workspace / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    (env.workspace / "big.txt").write_text("x" * 30_000)
    for path, message in [("nope.md", "no file 'nope.md'"), ("notes", "is a folder"),
                          ("blob.bin", "binary file"), ("a\x00b", "NUL")]:
        with pytest.raises(ToolError, match=message):
            run("read_file", env, path=path)
    assert "[... truncated: the file has 30000 bytes" in run("read_file", env, path="big.txt")
    with pytest.raises(ToolError, match="no workspace"):
        REGISTRY["read_file"].func(path="x.md", env=None)


def test_path_spans():
    assert path_spans("Read the file notes/todo.md") == ["notes/todo.md"]
    assert path_spans("Show me what's in `report final.txt`") == ["report final.txt"]
    assert path_spans("What files are in the reports folder?") == ["reports"]


# --- the runner ---------------------------------------------------------------------------------------

partners = threading.Barrier(2, timeout=10)
release = threading.Event()


@tool(register=False)
def meet(name: str) -> str:
    """Wait until a second call is running at the same time (proves calls run in parallel).

    Args:
        name: Who is waiting.
    """
    partners.wait()
    return f"{name} met a partner"


@tool(register=False, timeout_s=0.2)
def hang(reason: str) -> str:
    """Block until the test releases it (a tool that hangs).

    Args:
        reason: Why it hangs.
    """
    release.wait(30)
    return "released"


@tool(register=False)
def explode(what: str) -> str:
    """Raise an unexpected exception (a buggy tool).

    Args:
        what: What to say while exploding.
    """
    raise RuntimeError(what)


TEST_TOOLS = {t.name: t for t in (meet, hang, explode, REGISTRY["calculator"])}


def test_independent_calls_run_in_parallel_in_call_order(env):
    records = run_calls([new_call("meet", {"name": "a"}), new_call("meet", {"name": "b"})], TEST_TOOLS, env)
    assert [r["result"] for r in records] == ["a met a partner", "b met a partner"]
    assert all(r["error"] is None and r["approved"] is None for r in records)


def test_bad_calls_are_contained_and_reported(env):
    calls = [new_call("hang", {"reason": "test"}), new_call("explode", {"what": "boom"}),
             new_call("nope", {}), new_call("calculator", {"expression": 5}),
             new_call("calculator", {"expression": "1+1", "extra": True}), new_call("calculator", "1+1"),
             new_call("calculator", {"expression": "1/0"}), new_call("calculator", {"expression": "2 + 2"})]
    try:
        records = run_calls(calls, TEST_TOOLS, env)
    finally:
        release.set()
    errors = [r["error"] for r in records]
    assert errors[0] == "timed out after 0.2 s; the call was abandoned"
    assert errors[1] == "the tool failed: RuntimeError: boom"
    assert errors[2].startswith("unknown tool 'nope'; available: meet, hang, explode, calculator")
    assert errors[3].startswith("invalid arguments: expression: Input should be a valid string")
    assert "extra: Extra inputs are not permitted" in errors[4]
    assert errors[5] == "arguments must be a JSON object"
    assert errors[6] == "division by zero"
    assert records[7]["result"] == "4" and errors[7] is None
    assert [r["name"] for r in records] == [c["name"] for c in calls]


def test_the_loop_guard_refuses_a_repeated_identical_call(env):
    seen: set[str] = set()
    first = run_calls([new_call("calculator", {"expression": "6 * 7"})], TEST_TOOLS, env, seen=seen)
    again = run_calls([new_call("calculator", {"expression": "6 * 7"}),
                       new_call("calculator", {"expression": "6 * 8"})], TEST_TOOLS, env, seen=seen)
    assert first[0]["result"] == "42"
    assert again[0]["result"] is None and "loop guard" in again[0]["error"]
    assert again[1]["result"] == "48"


def test_env_from_settings_uses_the_configured_workspace(settings):
    env = ToolEnv.from_settings(settings)
    assert env.workspace == settings.workspace_dir and env.workspace.is_dir()
    assert os.fspath(env.workspace).startswith(os.fspath(settings.home))


def test_knowledge_search_returns_passages_with_sources(settings, tmp_path):
    from memory.ingest import ingest
    from memory.store import KnowledgeBase

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nDamaged items are refunded within 14 days of delivery.\n")
    (docs / "bread.md").write_text("# Bread\n\nA sourdough loaf needs a ripe starter, flour, water and salt.\n")
    kb = KnowledgeBase(settings)
    assert not ingest(kb, [docs]).failed
    env = ToolEnv(workspace=tmp_path, knowledge=kb)
    found = run("knowledge_search", env, query="refund for a damaged item")
    assert found.splitlines()[1] == '<passage id="1" source="refunds.md &gt; Refunds">'
    assert "refunded within 14 days" in found.splitlines()[2]
    with pytest.raises(ToolError, match="no knowledge collection 'nope' \\(collections: default\\)"):
        run("knowledge_search", env, query="x", collection="nope")
    with pytest.raises(ToolError, match="no knowledge base"):
        run("knowledge_search", ToolEnv(workspace=tmp_path), query="x")
