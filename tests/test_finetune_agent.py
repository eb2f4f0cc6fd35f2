"""The fine-tuning specialist in the real graph: routed by rule, lists fine-tunes, refuses bad requests in words."""

from __future__ import annotations

import json

from agents.registry import find
from tests.conftest import cli_here


def test_fine_tune_requests_are_routed_to_the_specialist_by_rule():
    specialist = find("finetune")
    assert specialist is not None
    assert any(r.pattern.search("Please fine-tune smollm2 on facts.jsonl as capybara") for r in specialist.rules)
    assert any(r.pattern.search("list my fine-tuned models") for r in specialist.rules)
    assert not any(r.pattern.search("What is the capital of France?") for r in specialist.rules)


def test_in_chat_it_lists_fine_tunes_and_explains_a_missing_file(capsys, tmp_path):
    code, out, err = cli_here(capsys, "ask", "--json", "--model", "scripted/echo", "List my fine-tuned models")
    assert code == 0, err
    turn = json.loads(out)
    assert turn["route"][-1] == "finetune" and "No fine-tuned models yet" in turn["answer"]
    code, out, err = cli_here(capsys, "ask", "--json", "--model", "scripted/echo",
                              f"Fine-tune smollm2 on {tmp_path}/missing.jsonl as capybara")
    turn = json.loads(out)
    assert turn["route"][-1] == "finetune" and "missing.jsonl does not exist" in turn["answer"]
