"""Unknown cost is shown as unknown, never $0: the ledger summary, the footers, --json and podium usage.

A remote model missing from the price table answers from a real OpenAI-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from models.ledger import CallRecord, summarize
from ui.render import footer

sys.path.insert(0, str(Path(__file__).parent))
from conftest import cli_here  # noqa: E402
from fault_server import REPLY, FaultServer  # noqa: E402

UNPRICED = "openai/house-model-7b"
"""A remote model no price table names."""


@pytest.fixture
def remote(monkeypatch):
    with FaultServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("PODIUM_MAX_TOKENS", "16")
        yield server


def call(model: str, cost: float | None, outcome: str = "ok", provider: str = "openai") -> CallRecord:
    return CallRecord(id=1, ts=0.0, turn="t", thread="th", node="chat", provider=provider, model=model,
                      attempt=1, outcome=outcome, cost_usd=cost)


def test_a_turn_with_an_unpriced_call_has_no_total_and_names_the_model():
    usage = summarize([call("llamacpp/smollm2-135m", 0.0, "fell_back", "llamacpp"), call(UNPRICED, None)])
    assert usage["cost_usd"] is None and usage["unpriced"] == [UNPRICED]
    assert footer("m", usage).endswith(f"cost unknown: no price for {UNPRICED}")
    priced = summarize([call("openai/gpt-4o-mini", 0.0012)])
    assert priced["cost_usd"] == 0.0012 and priced["unpriced"] == [] and footer("m", priced).endswith("$0.001200")
    running = summarize([call(UNPRICED, None, "running")])  # still in flight: not yet unknown
    assert running["cost_usd"] == 0.0


def test_ask_json_and_the_footer_say_unknown(remote, capsys):
    code, out, _ = cli_here(capsys, "ask", "--json", "--model", UNPRICED, "hello")
    data = json.loads(out)
    assert code == 0 and data["answer"] == REPLY
    assert data["usage"]["cost_usd"] is None and data["usage"]["unpriced"] == [UNPRICED]
    assert data["usage"]["calls"][0]["cost_usd"] is None
    code, out, err = cli_here(capsys, "ask", "--model", UNPRICED, "hello again")
    assert code == 0 and f"cost unknown: no price for {UNPRICED}" in err and "$0" not in err


def test_podium_usage_keeps_unknown_apart(remote, capsys):
    assert cli_here(capsys, "ask", "--model", UNPRICED, "hello")[0] == 0
    assert cli_here(capsys, "ask", "--model", "scripted/echo", "hello")[0] == 0
    code, out, _ = cli_here(capsys, "usage", "--json")
    data = json.loads(out)
    by_model = {g["model"]: g for g in data["groups"]}
    assert code == 0 and by_model[UNPRICED]["cost_usd"] is None and by_model[UNPRICED]["unpriced"] == 1
    assert by_model["scripted/echo"]["cost_usd"] == 0.0
    assert data["total"]["cost_usd"] is None and data["total"]["priced_cost_usd"] == 0.0
    code, out, err = cli_here(capsys, "usage")
    assert code == 0 and "unknown" in out and f"cost unknown: no price for {UNPRICED}" in err
