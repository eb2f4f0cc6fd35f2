"""The datasets specialist in the conductor's graph: routing by rule, preview then file, mistakes answered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.contract import TurnOptions
from agents.datasets import SPECIALIST
from graph.app import PodiumApp
from models.scripted import register_script
from tests.conftest import cli_here
from tools.datagen.store import read_rows

TOPICS = json.dumps({"topics": ["login", "billing", "exports", "speed", "mobile app", "permissions"]})


@pytest.mark.parametrize("text", [
    "generate 20 support tickets as JSON with subject, body and priority",
    "Create 40 product reviews with the fields title and rating",
    "I want synthetic training data for a spam filter",
    "make a dataset of 30 imaginary movies",
])
def test_dataset_requests_match_a_rule(text):
    assert any(rule.pattern.search(text) for rule in SPECIALIST.rules), text


@pytest.mark.parametrize("text", ["Write a haiku about autumn.", "What is 17 * 23?",
                                  "Give me three names for a bakery.", "Generate a short poem with rhymes",
                                  "Make 3 jokes about cats"])
def test_other_requests_do_not(text):
    assert not any(rule.pattern.search(text) for rule in SPECIALIST.rules), text


def test_a_chat_request_gets_a_preview_then_the_file(settings):
    subjects = ["Password reset mail never arrives", "Invoice shows the wrong VAT", "Dark mode resets on reload",
                "Webhooks arrive twice"]
    rows = [json.dumps({"subject": s, "body": f"Since Monday: {s.lower()}, every single time I try."})
            for s in subjects]
    script = register_script("dg-agent", [TOPICS, *rows])
    result = PodiumApp(settings).ask("generate 4 support tickets as JSON with subject and body",
                                     options=TurnOptions(model=script))
    assert result.route[-1] == "datasets"
    assert result.answer.startswith("Preview of the first 3 rows:\n```json\n")
    assert subjects[2] in result.answer and "Done: 4 rows in [" in result.answer
    (artifact,) = result.artifacts
    assert artifact["kind"] == "dataset" and artifact["rows"] == 4 and Path(artifact["report"]).is_file()
    path = Path(artifact["path"])
    assert path.parent == settings.data_dir / "datasets" and f"(file://{path})" in result.answer
    assert [r["subject"] for r in read_rows(path)] == subjects
    assert {c["node"] for c in result.usage["calls"]} == {"datasets"}


def test_a_request_without_fields_is_answered_with_what_to_add(settings):
    result = PodiumApp(settings).ask("generate 10 customer complaints as JSON")
    assert result.route[-1] == "datasets"
    assert result.answer.startswith("Which fields should each of the customer complaints have? Add")
    assert "with subject, body and priority" in result.answer
    assert result.artifacts == [] and result.usage["calls"] == []


@pytest.mark.model
def test_podium_ask_makes_the_dataset_on_the_local_model(capsys):
    code, stdout, stderr = cli_here(capsys, "ask", "--json",
                                    "generate 3 support tickets as JSON with subject, body and priority")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["route"][-1] == "datasets" and "Done: 3 rows" in result["answer"]
    rows = read_rows(Path(result["artifacts"][0]["path"]))
    assert len(rows) == 3 and all(r["priority"] in ("low", "medium", "high") and r["body"].strip() for r in rows)
