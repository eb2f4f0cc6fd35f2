"""Plans and routing on the embedded SmolLM2-135M, as a new user runs them with ``podium ask --json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli_here

pytestmark = pytest.mark.model


def ask_json(capsys, text: str) -> dict:
    code, out, err = cli_here(capsys, "ask", "--json", text)
    assert code == 0, err
    return json.loads(out)


def test_a_percentage_then_that_many_meters_in_miles(capsys):
    result = ask_json(capsys, "What is 17% of 2340, and then convert that many meters to miles?")
    first, second = result["plan"]
    assert (first["step"], first["specialist"], first["status"]) == (1, "tools", "done")
    assert [(c["name"], c["result"]) for c in first["tool_calls"]] == [("calculator", "397.8")]
    assert (second["step"], second["specialist"], second["status"], second["uses"]) == (2, "tools", "done", [1])
    (call,) = second["tool_calls"]
    assert call["name"] == "convert_units" and call["args"] == {"value": 397.8, "from_unit": "meters",
                                                               "to_unit": "miles"}
    assert call["result"] == "397.8 m = 0.2471814603 mi"  # 397.8 / 1609.344
    assert result["answer"].endswith("397.8 m = 0.2471814603 mi")


def test_a_document_fact_then_date_arithmetic_with_it(capsys, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text(
        "# Returns and refunds\n\nCustomers may request a refund within 30 days of delivery. "
        "Refunds are paid to the original payment method.\n\n# Shipping\n\nOrders ship within two business days.\n")
    code, _, err = cli_here(capsys, "ingest", str(docs))
    assert code == 0, err
    result = ask_json(capsys, "Find the refund period in my documents and then compute the date that many days "
                              "after 2026-03-01")
    knowledge, tools = result["plan"]
    assert (knowledge["specialist"], knowledge["status"]) == ("knowledge", "done")
    assert knowledge["sources"][0]["source"] == "policy.md"
    # A later step computes with it, so the small model's words give way to the document's own (and its citation).
    assert knowledge["output"].startswith("Customers may request a refund within 30 days of delivery. [1]")
    assert (tools["specialist"], tools["status"], tools["uses"]) == ("tools", "done", [1])
    assert tools["input"] == "compute the date 30 days after 2026-03-01"
    assert [(c["name"], c["result"]) for c in tools["tool_calls"]] == [("date_calc", "2026-03-31 (Tuesday)")]
    assert "2026-03-31" in result["answer"]
    assert [s["source"] for s in result["sources"]] == ["policy.md"]


def test_divide_1000_by_8_calls_the_calculator(capsys):
    result = ask_json(capsys, "Divide 1000 by 8.")
    assert result["route"] == ["conductor", "tools"] and result["plan"] == []
    assert [(c["name"], c["result"]) for c in result["tool_calls"]] == [("calculator", "125")]


@pytest.mark.slow  # two fresh processes (~25 s loaded); tests/test_plan_graph.py has the fast scripted twin
def test_an_approval_mid_plan_pauses_it_and_a_new_process_resumes_it():
    from tests.conftest import run_cli

    asked = run_cli("ask", "--json", "What is 6 * 7, and then run this python code: print(the result + 1)")
    assert asked.returncode == 3, asked.stderr  # waiting for approval
    paused = json.loads(asked.stdout)
    assert [s["status"] for s in paused["plan"]] == ["done", "waiting"]
    (call,) = paused["pending"]
    assert call["name"] == "python" and call["args"] == {"code": "print(42 + 1)"}
    resumed = run_cli("resume", paused["thread_id"], "--approve", "--json")
    assert resumed.returncode == 0, resumed.stderr
    done = json.loads(resumed.stdout)
    assert [s["status"] for s in done["plan"]] == ["done", "done"] and done["pending"] == []
    assert done["plan"][1]["tool_calls"][0]["result"] == "43"
    assert done["answer"].splitlines()[0] == "1. 6 * 7 = 42"
