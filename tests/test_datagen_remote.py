"""`podium datagen --model openai/...` against a real OpenAI-compatible server on 127.0.0.1 (llama-cpp-python's,
serving SmolLM2): structured output through response_format, several requests at once (the server queues them),
cost in the ledger, --max-cost."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli_here
from tools.datagen.store import read_rows

pytestmark = pytest.mark.model

FIELDS = "subject:str(5..60), priority:enum[low,high]"


@pytest.mark.slow
@pytest.mark.timeout(900)  # a fresh server's first answer alone takes tens of seconds on a loaded machine
def test_a_priced_remote_model_stops_at_max_cost(tmp_path, capsys, monkeypatch, llama_server):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai/smollm2": [100.0, 100.0]}))  # $100 per 1M tokens: a row costs ~2 cents
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("PODIUM_PRICES_FILE", str(prices))
    monkeypatch.setenv("PODIUM_TEMPERATURE", "0")
    monkeypatch.setenv("PODIUM_TIMEOUTS", "openai=300")  # requests wait in the server's queue: not a failure here
    out = tmp_path / "tickets.jsonl"
    code, stdout, stderr = cli_here(capsys, "datagen", "support tickets", "--fields", FIELDS, "--n", "50",
                                    "--out", str(out), "--model", "openai/smollm2", "--topics", "login,billing,export",
                                    "--max-tokens", "48", "--max-cost", "0.08", "--json", "--concurrency", "2",
                                    "--no-report")
    assert code == 1, stderr
    summary = json.loads(stdout)
    assert summary["stopped"] == "max_cost" and summary["model"] == "openai/smollm2"
    assert 0 < summary["cost_usd"] <= 0.08
    rows = read_rows(out)
    assert 1 <= len(rows) == summary["rows"] < 50
    assert all(r["_meta"]["model"] == "openai/smollm2" and r["_meta"]["cost_usd"] > 0 for r in rows)
    assert all(r["priority"] in ("low", "high") and r["subject"].strip() for r in rows)
    code, stdout, _ = cli_here(capsys, "usage", "--by", "thread", "--json")
    assert code == 0 and any(str(g.get("thread", "")).startswith("datagen-") for g in json.loads(stdout)["groups"])
