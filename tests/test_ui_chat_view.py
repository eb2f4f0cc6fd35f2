"""Pure conversions of the web UI: events -> chat messages, records -> table rows (no server)."""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage

from graph.app import Event, TurnResult
from graph.checkpoint import ThreadInfo
from models.spec import ModelSpec
from podium.errors import ConfigError
from ui.chat_view import (
    TurnView,
    approval_text,
    close_fences,
    decision_message,
    settle,
    strip_text_sources,
    thread_choices,
    tool_call_message,
)
from ui.models_view import MODEL_HEADERS, model_choices, model_table
from ui.render import footer
from ui.sources_view import passages_block, sources_block

CALLS = [{"outcome": "fell_back", "tokens_per_s": None}, {"outcome": "ok", "tokens_per_s": 87.46}]
USAGE = {
    "prompt_tokens": 40,
    "completion_tokens": 20,
    "ttft_s": 0.25,
    "latency_s": 0.45,
    "cost_usd": 0.0012,
    "calls": CALLS,
}


def result(**kw) -> TurnResult:
    base = dict(
        thread_id="t1",
        answer="Paris.",
        route=["conductor", "chat"],
        model="llamacpp/smollm2-135m",
        usage=USAGE,
    )
    return TurnResult(**{**base, **kw})


def ev(kind: str, node: str = "", t: float = 0.0, **data) -> Event:
    return Event(kind, node, data, t=t)


def test_a_turn_streams_steps_then_the_answer_with_footer():
    view = TurnView(started=10.0)
    view.apply(ev("route", "", 10.1, route="chat", reason="default: conversation"))
    first = view.messages()
    assert first[0]["metadata"]["title"].endswith("Conductor")
    assert first[0]["metadata"]["status"] == "pending", "a running step shows a spinner"
    view.apply(ev("step", "conductor", 10.2, update={"route": "chat", "route_reason": "default: conversation"}))
    view.apply(ev("token", "chat", 10.3, text="Par"))
    view.apply(ev("token", "chat", 10.35, text="is."))
    mid = view.messages()
    assert mid[-1] == {"role": "assistant", "content": "Paris."}, "tokens stream into the last message"
    assert mid[1]["metadata"]["status"] == "pending"
    reply = AIMessage(
        "Paris.",
        response_metadata={"model": "llamacpp/smollm2-135m"},
        usage_metadata={"input_tokens": 40, "output_tokens": 2, "total_tokens": 42},
    )
    view.apply(ev("step", "chat", 10.5, update={"messages": [reply]}))
    view.apply(ev("done", "", 10.5, result=result()))
    conductor, chat, answer = view.messages()
    assert conductor["metadata"] == {
        "title": "⚙ Conductor",
        "status": "done",
        "duration": 0.2,
    }
    assert "routed to **chat** (default: conversation)" in conductor["content"]
    assert chat["metadata"]["status"] == "done" and chat["metadata"]["duration"] == 0.3
    assert chat["content"] == "answered with llamacpp/smollm2-135m (2 tokens)"
    assert answer["content"].startswith("Paris.\n\n<sub>llamacpp/smollm2-135m · 40+20 tokens · ttft 0.25s · ")
    assert answer["content"].endswith("ttft 0.25s · 87.5 tok/s · $0.001200</sub>")


def test_a_node_without_streamed_events_still_gets_a_timed_step():
    view = TurnView(started=0.0)
    view.apply(ev("step", "conductor", 0.5, update={"route": "knowledge"}))
    view.apply(ev("step", "knowledge", 1.25, update={"sources": [{"source": "a.md"}] * 3}))
    steps = view.messages()
    assert [m["metadata"]["duration"] for m in steps] == [0.5, 0.75]
    assert steps[1]["content"].startswith("retrieved 3 passages\n\n") and steps[1]["metadata"]["title"].endswith(
        "Knowledge specialist"
    )


def test_an_answer_cut_inside_a_code_block_does_not_swallow_the_footer():
    view = TurnView(started=0.0)
    view.apply(ev("token", "chat", 0.1, text="Run:\n\n```\nmake run"))
    assert view.messages()[-1]["content"] == "Run:\n\n```\nmake run\n```", "closed while streaming too"
    view.apply(ev("done", result=result(answer="Run:\n\n```\nmake run")))
    text = view.messages()[-1]["content"]
    assert text.startswith("Run:\n\n```\nmake run\n```\n\n<sub>")
    assert close_fences("a\n```py\nx\n```\nb") == "a\n```py\nx\n```\nb"


def test_footer_leaves_out_what_was_not_measured():
    assert footer("m", {"prompt_tokens": 3, "completion_tokens": 0, "cost_usd": 0}) == "m · 3+0 tokens · $0"
    # An answer quoted from the documents (or a refusal) asked no model: not "m · 0+0 tokens · $0".
    assert footer("llamacpp/smollm2-135m", {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0, "calls": []}) \
        == "no model call · free"


def test_footer_cost_says_free_for_local_calls_and_keeps_decimals_only_for_tiny_costs():
    local = [{"provider": "llamacpp", "outcome": "ok"}]
    assert footer("m", {"cost_usd": 0, "calls": local}).endswith(" · free (local)")
    remote = [{"provider": "openai", "outcome": "ok"}]
    assert footer("m", {"cost_usd": 0, "calls": remote}).endswith(" · $0")
    assert footer("m", {"cost_usd": 0.000123, "calls": remote}).endswith(" · $0.000123")
    assert footer("m", {"cost_usd": 0.25, "calls": remote + local}).endswith(" · $0.2500")
    unpriced = [{"provider": "openai", "model": "openai/x", "outcome": "ok", "cost_usd": None}]
    assert footer("m", {"cost_usd": None, "calls": unpriced}).endswith(" · cost unknown: no price for openai/x")
    both = {"cost_usd": None, "unpriced": ["openai/x", "openai/y"], "calls": remote}
    assert footer("m", both).endswith(" · cost unknown: no price for openai/x, openai/y"), "never a false $0"


def test_citations_are_numbered_with_file_and_heading():
    sources = [
        {"source": "/data/docs/guide.md", "heading": "Install", "score": 0.0312, "similarity": 0.7234},
        {"source": "notes/faq.txt", "heading": "", "score": 0.5},
    ]
    block = sources_block(sources)
    assert block.splitlines() == [
        "**Sources**",
        "",
        '<p class="podium-source">[1] guide.md — Install (similarity 0.72)</p>',
        '<p class="podium-source">[2] notes/faq.txt</p>',
    ], "the similarity is shown, never the rank-fusion score (0.03 would read as 3% confidence)"
    view = TurnView(started=0.0)
    view.apply(ev("done", result=result(sources=sources)))
    assert "[1] guide.md — Install" in view.messages()[-1]["content"]


def test_only_cited_sources_are_listed_and_the_text_list_is_replaced():
    sources = [
        {"n": 1, "source": "a.md", "heading": "Intro", "score": 0.03, "page": None, "cited": False},
        {"n": 2, "source": "b.pdf", "heading": "Setup", "score": 0.02, "similarity": 0.61, "page": 4, "cited": True},
    ]
    answer = "Run make [2].\n\nSources:\n[2] b.pdf > Setup (p. 4)"
    view = TurnView(started=0.0)
    view.apply(ev("token", "knowledge", 0.1, text=answer))
    view.apply(ev("done", result=result(answer=answer, sources=sources)))
    text = view.messages()[-1]["content"]
    assert text.startswith('Run make [2].\n\n**Sources**\n\n<p class="podium-source">[2] b.pdf — Setup '
                           "(similarity 0.61, p. 4)</p>\n\n<sub>")
    assert "Sources:" not in text and "a.md" not in text
    assert strip_text_sources("No list here.") == "No list here."
    assert sources_block([]) == ""


def test_live_citation_numbers_match_the_answer_and_open_their_passage():
    """Issue 17 web 1: an answer citing [1] and [4] listed them as 1 and 2 (a Markdown list renumbers)."""
    sources = [{"n": n, "source": f"/docs/triggers-{n}.txt", "heading": f"Part {n}", "similarity": 0.5 + n / 10,
                "cited": n in (1, 4), "text": f"passage {n} <b>text</b>", "chunk": n - 1, "collection": "docs"}
               for n in range(1, 5)]
    answer = "Cycles are detected [1] [4]."
    view = TurnView(started=0.0)
    view.apply(ev("step", "knowledge", 0.1, update={"sources": sources}))
    view.apply(ev("token", "knowledge", 0.2, text=answer))
    view.apply(ev("done", result=result(answer=answer, sources=sources)))
    messages = view.messages()
    final = messages[-1]["content"]
    block = final.split("**Sources**", 1)[1]
    assert re.findall(r"\[(\d)\] triggers", block) == ["1", "4"], "the numbers the answer cites"
    assert "<details" in block and "passage 4 &lt;b&gt;text&lt;/b&gt;" in block, "opens the passage, escaped"
    assert "passage 4 of /docs/triggers-4.txt · collection docs" in block, "and where it sits"
    step = next(m for m in messages if m.get("metadata", {}).get("title", "").startswith("☰"))
    assert all(f"[{n}] triggers-{n}.txt" in step["content"] for n in range(1, 5)), "the step shows every passage"
    assert passages_block(sources).count("<details") == 4


def test_tool_calls_show_as_collapsible_messages_after_their_step():
    calls = [
        {
            "name": "calculator",
            "args": {"expression": "6*7"},
            "result": "42",
            "error": None,
            "approved": True,
        },
        {
            "name": "read_file",
            "args": {"path": "x"},
            "result": None,
            "error": "no such file",
            "approved": None,
        },
    ]
    view = TurnView(started=0.0)
    view.apply(ev("step", "tools", 0.4, update={"tool_calls": calls[:1]}))
    view.apply(ev("done", result=result(tool_calls=calls)))
    step, calc, read, _answer = view.messages()
    assert step["metadata"]["title"] == "⚒ Tools specialist" and calc["metadata"]["title"] == "⚒ calculator"
    assert "status" not in calc["metadata"], "a finished call stays open to show its result"
    assert '"expression": "6*7"' in calc["content"] and "**result** 42" in calc["content"]
    assert calc["metadata"]["log"] == "approved"
    assert read["metadata"]["log"] == "error" and "no such file" in read["content"], "calls seen only at the end too"
    assert tool_call_message({"name": "x", "approved": False})["metadata"]["log"] == "rejected"


def test_notices_and_unknown_custom_events_are_visible():
    view = TurnView(started=0.0)
    view.apply(ev("notice", "", 0.1, text="trimmed 4 older messages"))
    view.apply(Event("retrieve", "knowledge", {"kind": "retrieve", "node": "knowledge", "query": "install"}, t=0.2))
    notice, step = view.messages()
    assert notice["metadata"]["title"].endswith("Notice") and notice["content"] == "trimmed 4 older messages"
    assert step["metadata"]["log"] == "retrieve" and '"query": "install"' in step["content"]
    assert step["metadata"]["status"] == "pending"


def test_failure_closes_open_steps_and_keeps_the_partial_answer():
    view = TurnView(started=0.0)
    view.apply(ev("token", "chat", 0.1, text="Half an ans"))
    view.fail("flaky/model: cannot reach the server", "check OPENAI_BASE_URL")
    step, answer = view.messages()
    assert step["metadata"]["status"] == "done" and step["metadata"]["log"] == "failed"
    assert answer["content"] == ("Half an ans\n\n⚠ **flaky/model: cannot reach the server**\n\n_check OPENAI_BASE_URL_")
    stopped = TurnView(started=0.0)
    stopped.fail("stopped", "not saved", stopped=True)
    assert stopped.messages()[-1]["content"].startswith("■ **Stopped.**")


def test_interrupts_become_pending_approvals():
    payload = {
        "tool_call": {"name": "write_file", "args": {"path": "a.txt", "text": "hi"}},
        "question": "Write a.txt in the workspace?",
    }
    view = TurnView(started=0.0)
    view.apply(ev("interrupt", "__interrupt__", 0.3, interrupts=[payload]))
    assert view.pending == [payload]
    waiting = view.messages()[-1]["metadata"]
    assert waiting["title"] == "⚠ Waiting for your approval" and "status" not in waiting, "open, with no spinner"
    assert settle(view.messages(), "approved")[-1]["metadata"] == {**waiting, "status": "done", "log": "approved"}
    title, args = approval_text(payload)
    assert "`write_file`" in title and "Write a.txt" in title and args == {"path": "a.txt", "text": "hi"}
    assert approval_text({"name": "calc", "args": {"x": 1}})[1] == {"x": 1}
    assert approval_text("Proceed?")[0].endswith("Proceed?")
    chosen = decision_message(title, {"action": "edit", "args": {"path": "b.txt"}})
    assert chosen["metadata"]["title"] == "✎ Edited and approved" and '"path": "b.txt"' in chosen["content"]
    assert decision_message(title, {"action": "approve"})["metadata"]["title"] == "✓ Approved"
    assert decision_message(title, {"action": "reject"})["metadata"]["title"] == "✗ Rejected"


def test_thread_rows_count_turns_and_prefer_given_titles():
    threads = [ThreadInfo("abc", "What is up", 4, "2025-01-02T03:04:05.000+00:00", turns=1),
               ThreadInfo("def", "Run this", 9, "2025-01-01T00:00:00.000+00:00", turns=2)]
    assert thread_choices(threads) == [
        ("What is up · 1 turn · 2025-01-02 03:04", "abc"), ("Run this · 2 turns · 2025-01-01 00:00", "def")]
    assert thread_choices(threads, {"def": "Renamed"})[1] == ("Renamed · 2 turns · 2025-01-01 00:00", "def")


def test_model_table_rows_and_choices():
    spec = ModelSpec(
        spec="llamacpp/smollm2-135m",
        provider="llamacpp",
        name="smollm2-135m",
        context_length=8192,
        license="Apache-2.0",
        extra={
            "architecture": "llama",
            "parameters": 134_515_008,
            "layers": 30,
            "quantization": "Q4_1",
            "file_size": 92_000_000,
        },
    )
    missing = ConfigError("openai/gpt-4o needs an API key", hint="export OPENAI_API_KEY=...")
    missing.spec = "openai/gpt-4o"
    rows = model_table([spec, missing])
    assert all(len(r) == len(MODEL_HEADERS) for r in rows)
    assert rows[0][:9] == [
        "llamacpp/smollm2-135m",
        "ready",
        "llama",
        "134.5M",
        30,
        8192,
        "Q4_1",
        "92.0MB",
        "Apache-2.0",
    ]
    assert rows[0][-2:] == ["yes", "grammar"]
    assert rows[1][0] == "openai/gpt-4o" and rows[1][1].startswith("unavailable: openai/gpt-4o needs an API key")
    assert model_choices([spec, missing], "openai/other") == ["openai/other", "llamacpp/smollm2-135m"]
    remote = ModelSpec(spec="openai/gpt-4o-mini", provider="openai", name="gpt-4o-mini", local=False)
    keyless = {"openai/gpt-4o-mini": "needs OPENAI_API_KEY"}
    assert model_table([remote], keyless)[0][1] == "unavailable: needs OPENAI_API_KEY"
    assert model_table([remote])[0][1] == "ready"
    assert model_choices([spec, remote], "llamacpp/smollm2-135m", keyless) == ["llamacpp/smollm2-135m"]
