"""Plans as pure units: clause splitting, references, decomposition, validation and resolution."""

from __future__ import annotations

import pytest

from agents.planner import MAX_STEPS, PlanError, decompose, ready, references, resolve, split_clauses, validate

ALL = ("chat", "knowledge", "tools")


def route(clause: str) -> tuple[str, str]:
    """A stand-in for the conductor: words decide, so these tests read on their own."""
    lowered = clause.lower()
    if "document" in lowered or "notes" in lowered:
        return "knowledge", "rule"
    if any(w in lowered for w in ("%", "convert", "compute", "days", "+", "*", "time in")):
        return "tools", "rule"
    return "chat", "default"


def plan_of(text: str, available=ALL) -> list[dict]:
    steps = decompose(text, route, available)
    assert steps is not None
    return steps


@pytest.mark.parametrize(("text", "clauses"), [
    ("What is 17% of 2340, and then convert that many meters to miles?",
     ["What is 17% of 2340", "convert that many meters to miles?"]),
    ("compute 2 + 2; convert 3 km to miles", ["compute 2 + 2", "convert 3 km to miles"]),
    ("compute 2 + 2. After that, convert 3 km to miles", ["compute 2 + 2.", "convert 3 km to miles"]),
    ("compute 2 + 2 then convert it to km", ["compute 2 + 2", "convert it to km"]),
    ("Do this:\n1. compute 2 + 2\n2) convert 3 km to miles\n3. tell a joke",
     ["compute 2 + 2", "convert 3 km to miles", "tell a joke"]),
    ("1) compute 2 + 2 2) convert 3 km to miles", ["compute 2 + 2", "convert 3 km to miles"]),
    ("What is 2.5 * 4?", ["What is 2.5 * 4?"]),
    ("compute 2 + 2;", ["compute 2 + 2"]),  # a trailing semicolon ends the message, it opens no step
    ("compute 2 + 2 and then", ["compute 2 + 2", ""]),
    ("Then compute 2 + 2", ["compute 2 + 2"]),  # a follow-up opening with 'then' is one request
])
def test_clauses_split_at_then_after_that_semicolons_and_list_items(text, clauses):
    assert split_clauses(text) == clauses


@pytest.mark.parametrize(("clause", "named", "previous"), [
    ("convert that many meters to miles", [], True),
    ("add 3 to the result", [], True),
    ("convert it to km", [], True),
    ("what time is it in Tokyo", [], False),  # 'is it' asks, it points at nothing
    ("compute the date 30 days after 2026-03-01", [], False),
    ("double the result of step 1", [1], False),
    ("convert step 2's output to km", [2], False),
    ("tell me a joke", [], False),
])
def test_references_point_back_at_earlier_steps(clause, named, previous):
    assert references(clause) == (named, previous)


def test_a_chained_request_becomes_two_dependent_steps():
    steps = plan_of("What is 17% of 2340, and then convert that many meters to miles?")
    assert [(s["step"], s["specialist"], s["input"], s["uses"], s["status"]) for s in steps] == [
        (1, "tools", "What is 17% of 2340", [], "pending"),
        (2, "tools", "convert that many meters to miles?", [1], "pending"),
    ]
    assert [s["step"] for s in ready(steps)] == [1]  # step 2 waits for step 1
    steps[0]["status"] = "done"
    assert [s["step"] for s in ready(steps)] == [2]


def test_independent_steps_are_ready_together_and_same_specialist_asks_merge():
    steps = plan_of("Tell me a joke; compute 2 + 2; convert 3 km to miles; then summarize my notes")
    assert [(s["specialist"], s["input"]) for s in steps] == [
        ("chat", "Tell me a joke"), ("tools", "compute 2 + 2; convert 3 km to miles"),
        ("knowledge", "summarize my notes")]
    assert [s["step"] for s in ready(steps)] == [1, 2, 3]


def test_one_request_or_conversation_only_is_not_a_plan():
    assert decompose("What is 2 + 2?", route, ALL) is None
    assert decompose("Write a poem, then translate it into French", route, ALL) is None  # chat handles it whole
    assert decompose("compute 2 + 2; compute 3 * 3", route, ALL) is None  # one tools step with two calls


@pytest.mark.parametrize(("text", "message"), [
    ("compute 2 + 2 and then", "step 2 is empty"),
    ("compute 2 + 2; ; convert 3 km to miles", "step 2 is empty"),
    ("convert it to km, then tell me a joke",
     "step 1 ('convert it to km') uses an earlier result, but it is the first step"),
    ("compute 2 + 2, then tell a joke, then convert the result of step 7 to km",
     "step 3 uses step 7, which does not exist"),
    ("compute 2 + 2, then convert step 3's result to km, then tell a joke", "step 2 uses step 3, which comes after it"),
    ("Find the refund period in my documents and then compute 2 + 2",
     "step 1 ('Find the refund period in my documents') needs the knowledge specialist, which is unavailable: "
     "no documents are ingested yet"),
])
def test_bad_plans_name_the_step(text, message):
    with pytest.raises(PlanError) as caught:
        decompose(text, route, ("chat", "tools"))
    assert str(caught.value) == message
    assert caught.value.hint


def test_more_than_six_steps_is_refused():
    text = "; then ".join(["compute 2 + 2", "tell a joke"] * 4)
    with pytest.raises(PlanError, match=f"8 steps; a plan holds at most {MAX_STEPS}"):
        decompose(text, route, ALL)
    assert len(plan_of("; then ".join(["compute 2 + 2", "tell a joke"] * 3))) == MAX_STEPS


def test_validate_checks_plans_from_a_planner_model_too():
    good = [{"step": 1, "specialist": "tools", "input": "2 + 2", "uses": []},
            {"step": 2, "specialist": "chat", "input": "a poem about the result", "uses": [1]}]
    assert validate(good, ALL) == good
    with pytest.raises(PlanError, match=r"step 2 \(.a poem about the result.\) needs the datasets specialist"):
        validate([good[0], {**good[1], "specialist": "datasets"}], ALL)
    with pytest.raises(PlanError, match="step 1 is empty"):
        validate([{**good[0], "input": "  "}], ALL)


def test_references_resolve_to_the_earlier_outputs():
    steps = plan_of("What is 17% of 2340, and then convert that many meters to miles?")
    steps[0].update(status="done", output="17% of 2340 = 397.80",
                    tool_calls=[{"name": "calculator", "result": "397.80"}])
    assert resolve(steps[1], steps) == "convert 397.80 meters to miles?"

    steps = plan_of("Find the refund period in my documents and then compute the date that many days after 2026-03-01")
    steps[0].update(status="done", output="Refunds are accepted within 30 days of purchase [1].\nSources: [1] a.md")
    assert resolve(steps[1], steps) == "compute the date 30 days after 2026-03-01"

    steps = plan_of("compute 1,200 * 3, then convert it to km")
    steps[0].update(status="done", tool_calls=[{"name": "calculator", "result": "3600"}])
    assert resolve(steps[1], steps) == "convert 3600 to km"


def test_a_reference_that_needs_a_number_from_text_without_one_fails_naming_the_step():
    steps = plan_of("Summarize my notes, then compute that many times 3")
    steps[0].update(status="done", output="The notes are about gardening [1].")
    with pytest.raises(PlanError, match="step 2 needs a number from step 1, whose output has none"):
        resolve(steps[1], steps)


def test_quotes_skip_headings_and_can_require_a_number():
    from memory.citations import quote
    from memory.embeddings import OnnxMiniLM

    passages = ["# Refunds\n\nRefunds go back to the card you paid with.\nA refund may be requested within 30 days.",
                "Shipping takes two business days."]
    embedder = OnnxMiniLM()
    assert quote("What is the refund period?", passages, embedder, numeric=True) == (
        "A refund may be requested within 30 days.", 1)
    assert quote("How are refunds paid?", passages, embedder) == ("Refunds go back to the card you paid with.", 1)
    assert quote("How long does shipping take?", passages[1:], embedder, numeric=True) is None  # 'two' is no digit
    assert quote("refunds", ["# Only a heading"], embedder) is None
