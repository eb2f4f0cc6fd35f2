"""Plans through the whole graph with scripted models: chained and parallel steps, failures, approvals, bad input."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.scripted import register_script
from podium.errors import PodiumError
from tests.conftest import cli_here


def calls(*items: tuple[str, dict]) -> str:
    return json.dumps([{"tool": name, "args": args} for name, args in items])


def run(app: PodiumApp, text: str, thread_id: str | None = None, **options):
    events = list(app.stream_turn(text, thread_id, TurnOptions(**options)))
    return events, events[-1].data["result"]


def thread_messages(app: PodiumApp, thread_id: str):
    return app.graph.get_state({"configurable": {"thread_id": thread_id}}).values["messages"]


def test_a_chained_request_runs_two_steps_in_order_and_feeds_the_first_result_to_the_second(app: PodiumApp):
    model = register_script("chain", [calls(("calculator", {"expression": "17% of 2340"})),
                                      calls(("convert_units", {"value": 397.8, "from_unit": "meters",
                                                               "to_unit": "miles"}))])
    events, result = run(app, "What is 17% of 2340, and then convert that many meters to miles?", model=model)
    assert [(s["step"], s["specialist"], s["input"], s["status"], s["uses"]) for s in result.plan] == [
        (1, "tools", "What is 17% of 2340", "done", []),
        (2, "tools", "convert 397.8 meters to miles?", "done", [1])]
    assert result.plan[0]["output"] == "17% of 2340 = 397.8"
    assert result.plan[1]["tool_calls"][0]["result"] == "397.8 m = 0.2471814603 mi"
    assert result.answer == "1. 17% of 2340 = 397.8\n2. 397.8 m = 0.2471814603 mi"
    assert result.route == ["conductor", "plan_step", "plan", "plan_step", "plan"]
    assert [c["step"] for c in result.tool_calls] == [1, 2]
    # The answer streams once, at the end; the steps' own words are step events, not the answer.
    assert "".join(e.data["text"] for e in events if e.kind == "token") == result.answer
    assert {e.data["step"] for e in events if e.kind == "step_token"} == {1, 2}
    statuses = [[s["status"] for s in e.data["plan"]] for e in events if e.kind == "plan"]
    assert statuses[0] == ["pending", "pending"] and ["running", "pending"] in statuses
    assert ["done", "running"] in statuses and statuses[-1] == ["done", "done"]
    # The thread holds the question and the plan's answer, not the steps' inner turns.
    messages = thread_messages(app, result.thread_id)
    assert [type(m) for m in messages] == [HumanMessage, AIMessage] and messages[-1].text == result.answer


def test_independent_steps_run_side_by_side(app: PodiumApp):
    tools = register_script("side-calc", [calls(("calculator", {"expression": "2 + 2"}))])
    _, result = run(app, "Tell me a joke about owls; then compute 2 + 2",
                    agent_models={"chat": "scripted/echo", "tools": tools})
    assert result.route == ["conductor", "plan_step", "plan_step", "plan"]  # one super-step for both
    assert [(s["specialist"], s["status"], s["output"]) for s in result.plan] == [
        ("chat", "done", "You said: Tell me a joke about owls"), ("tools", "done", "2 + 2 = 4")]


def test_a_document_step_whose_result_is_used_quotes_the_document(app: PodiumApp, tmp_path):
    from memory.ingest import ingest

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "office.md").write_text("# Office\n\nThe office has 12 desks and two meeting rooms.\n\n"
                                     "Visitors sign in at the front desk.\n")
    assert not ingest(app.knowledge, [notes]).failed
    knowledge = register_script("never-asked", [])  # a call would fail: the quote needs no model
    tools = register_script("desks", [calls(("convert_units", {"value": 12, "from_unit": "km", "to_unit": "m"}))])
    _, result = run(app, "How many desks are there according to my notes? Then convert that many km to m",
                    agent_models={"knowledge": knowledge, "tools": tools})
    first, second = result.plan
    assert first["output"] == "The office has 12 desks and two meeting rooms. [1]\n\nSources:\n[1] office.md > Office"
    assert second["input"] == "convert 12 km to m" and second["output"] == "12 km = 12000 m"
    assert result.answer == ("1. The office has 12 desks and two meeting rooms. [1]\n2. 12 km = 12000 m\n\n"
                             "Sources:\n[1] office.md > Office")
    assert [s["step"] for s in result.sources] == [1]


def test_a_single_request_takes_no_plan_and_no_extra_node(app: PodiumApp):
    model = register_script("single", [calls(("calculator", {"expression": "2 + 2"}))])
    _, result = run(app, "What is 2 + 2?", model=model)
    assert result.route == ["conductor", "tools"] and result.plan == []
    _, result = run(app, "Write a poem about rain, then translate it into French", model="scripted/echo")
    assert result.route == ["conductor", "chat"] and result.plan == []  # conversation only: chat takes it whole


def test_a_failed_step_stops_the_plan_and_names_the_step(app: PodiumApp):
    model = register_script("zero", [calls(("calculator", {"expression": "1/0"}))])
    _, result = run(app, "compute 1/0, then convert that many meters to miles", model=model)
    assert [(s["status"], s["error"]) for s in result.plan] == [("failed", "calculator: division by zero"),
                                                                 ("skipped", None)]
    assert result.answer == ("1. Step 1 (tools) failed: calculator: division by zero\n"
                             "The plan stopped there: step 2 was not run.")


def test_a_reference_without_a_number_fails_its_step(app: PodiumApp):
    tools = register_script("no-number", [])
    _, result = run(app, "Tell me a joke; then compute that many times 3",
                    agent_models={"chat": "scripted/echo", "tools": tools})
    assert result.plan[1]["status"] == "failed"
    assert result.plan[1]["error"].startswith("step 2 needs a number from step 1, whose output has none")


def test_a_model_failure_in_a_step_rolls_the_turn_back_with_the_step_named(settings):
    app = PodiumApp(settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1", "retries": 0}))
    tools = register_script("before-failure", [calls(("calculator", {"expression": "2 + 2"}))])
    with pytest.raises(PodiumError) as failed:
        run(app, "compute 2 + 2, then tell me a story about the result",
            agent_models={"chat": "openai/gpt-4o-mini", "tools": tools})
    assert failed.value.message.startswith("step 2 (chat: 'tell me a story about 4') failed:")
    assert app.threads() == []  # nothing half-written


@pytest.mark.parametrize(("text", "message"), [
    ("compute 2 + 2 and then", "step 2 is empty"),
    ("compute 2 + 2, then tell a joke, then convert the result of step 9 to km", "step 3 uses step 9, which"),
    ("; then ".join(["compute 2 + 2", "tell a joke"] * 4), "the request has 8 steps; a plan holds at most 6"),
    ("Find the refund period in my documents and then compute the date that many days after 2026-03-01",
     "step 1 ('Find the refund period in my documents') needs the knowledge specialist, which is unavailable"),
])
def test_bad_plans_are_one_clear_error_and_write_nothing(app: PodiumApp, text, message):
    with pytest.raises(PodiumError, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
        run(app, text, model="scripted/echo")
    assert refused.value.hint
    assert app.threads() == []


def test_an_approval_mid_plan_pauses_it_and_a_new_process_resumes_it(settings):
    model = register_script("approve-mid", [calls(("calculator", {"expression": "6 * 7"})),
                                            calls(("python", {"code": "print(42 + 1)"}))])
    first = PodiumApp(settings)
    _, paused = run(first, "compute 6 * 7, then run this python code: print(the result + 1)", model=model)
    assert paused.paused_before == ["plan_approval"] and [p["name"] for p in paused.pending] == ["python"]
    assert [s["status"] for s in paused.plan] == ["done", "waiting"]
    assert paused.plan[1]["input"] == "run this python code: print(42 + 1)"
    with pytest.raises(PodiumError, match="waiting for your approval of python"):
        run(first, "something else", paused.thread_id, model=model)
    again = PodiumApp(settings)  # as a new process would: everything from the checkpoint
    done = list(again.resume(paused.thread_id, "approve"))[-1].data["result"]
    assert [s["status"] for s in done.plan] == ["done", "done"] and done.pending == []
    assert done.plan[1]["tool_calls"][0]["result"] == "43"
    assert done.answer == "1. 6 * 7 = 42\n2. The code printed:\n43"


def test_ask_json_prints_the_plan(capsys):
    model = register_script("json-plan", [calls(("calculator", {"expression": "3 * 3"})),
                                          calls(("convert_units", {"value": 9, "from_unit": "km", "to_unit": "m"}))])
    code, out, err = cli_here(capsys, "ask", "--json", "--model", model,
                              "compute 3 * 3; then convert that many km to m")
    assert code == 0, err
    data = json.loads(out)
    assert [{k: s[k] for k in ("step", "specialist", "input", "status")} for s in data["plan"]] == [
        {"step": 1, "specialist": "tools", "input": "compute 3 * 3", "status": "done"},
        {"step": 2, "specialist": "tools", "input": "convert 9 km to m", "status": "done"}]
    assert data["plan"][1]["output"] == "9 km = 9000 m" and "_turn" not in data["plan"][0]


def test_bad_plan_on_the_command_line_is_exit_code_2_without_traceback(capsys):
    code, out, err = cli_here(capsys, "ask", "--model", "scripted/echo", "compute 2 + 2 and then")
    assert code == 2 and out == ""
    assert err.splitlines()[0] == "error: step 2 is empty" and err.splitlines()[1].startswith("hint: ")



def test_the_debugger_shows_the_plan_in_its_step_records(app: PodiumApp):
    from graph import trace

    model = register_script("traced-plan", [calls(("calculator", {"expression": "3 * 3"})),
                                            calls(("convert_units", {"value": 9, "from_unit": "km", "to_unit": "m"}))])
    _, result = run(app, "compute 3 * 3; then convert that many km to m", model=model)
    records = trace.trace(app, result.thread_id)
    assert [(r.node, [(s["step"], s["status"]) for s in r.plan]) for r in records] == [
        ("__start__", []), ("conductor", [(1, "pending"), (2, "pending")]), ("plan_step", [(1, "done")]),
        ("plan", []), ("plan_step", [(2, "done")]), ("plan", [(1, "done"), (2, "done")])]
    assert records[4].plan[0]["input"] == "convert 9 km to m"
    assert all("_turn" not in json.dumps(r.to_dict()) for r in records)
