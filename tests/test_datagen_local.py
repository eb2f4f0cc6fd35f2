"""`podium datagen` on the real SmolLM2-135M GGUF: tickets, chat, Magpie, QA from documents, kill -9 and resume,
a full disk. Tiny --n and short limits keep each test to seconds."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_here
from tools.datagen.fields import parse_fields
from tools.datagen.schema import Validator
from tools.datagen.store import read_rows

pytestmark = pytest.mark.model

FIELDS = "subject:str(5..60), body:str(20..120), priority:enum[low,medium,high], category:enum[billing,bug,feature]"
TOPICS = "login problems,invoices,data export,slow dashboard,password reset,API limits"


def ticket_args(out: Path, n: int, *extra: str) -> list[str]:
    return ["datagen", "customer support tickets for a SaaS product", "--fields", FIELDS, "--n", str(n),
            "--out", str(out), "--topics", TOPICS, "--json", *extra]


def test_tickets_are_valid_unique_and_reported(tmp_path, capsys):
    from models import llama_pool

    preloads = len(llama_pool._PRELOADS)  # noqa: SLF001 - the loads started in the background
    out = tmp_path / "tickets.jsonl"
    code, stdout, stderr = cli_here(capsys, *ticket_args(out, 3))
    assert code == 0, stderr
    assert len(llama_pool._PRELOADS) == preloads + 1, "the GGUF loads while the engine is imported"  # noqa: SLF001
    summary = json.loads(stdout)
    assert summary["rows"] == 3 and summary["model"] == "llamacpp/smollm2-135m" and summary["cost_usd"] == 0
    rows = read_rows(out)
    check = Validator(parse_fields(FIELDS))
    assert len(rows) == 3 and all(check.problem({k: v for k, v in r.items() if k != "_meta"}) is None for r in rows)
    assert len({r["body"] for r in rows}) == 3
    assert {r["_meta"]["topic"] for r in rows} <= set(TOPICS.split(","))
    assert len({r["priority"] for r in rows}) >= 2, "labels are balanced across rows"
    page = Path(summary["report"])
    html = page.read_text()
    assert "priority" in html and "data:image/png;base64" in html
    assert (page.parent / "field-priority.png").stat().st_size > 5_000
    card = (page.parent / "README.md").read_text()
    assert card.startswith("---\n") and "task_categories" in card and "`priority`" in card and "smollm2" in card


def test_chat_rows_are_openai_fine_tuning_format(tmp_path, capsys):
    out = tmp_path / "chat.jsonl"
    code, stdout, stderr = cli_here(capsys, "datagen", "questions about cooking pasta", "--chat", "--style",
                                    "brief and friendly", "--system", "You are a cooking assistant.", "--n", "2",
                                    "--max-tokens", "48", "--topics", "sauces,boiling water", "--out", str(out),
                                    "--json")
    assert code == 0, stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        item = json.loads(line)
        assert list(item) == ["messages"]
        assert [m["role"] for m in item["messages"]] == ["system", "user", "assistant"]
        assert item["messages"][0]["content"] == "You are a cooking assistant."
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in item["messages"])
    metas = out.with_name("chat.jsonl.meta.jsonl").read_text().splitlines()
    assert len(metas) == 2 and {json.loads(m)["topic"] for m in metas} <= {"sauces", "boiling water"}


def test_magpie_writes_the_instruction_from_the_template_opening(tmp_path, capsys):
    out = tmp_path / "magpie.jsonl"
    code, stdout, stderr = cli_here(capsys, "datagen", "everyday science questions", "--chat", "--magpie", "--n", "2",
                                    "--max-tokens", "40", "--out", str(out), "--json", "--topics", "light,water")
    assert code == 0, stderr
    rows = read_rows(out)
    assert len(rows) == 2 and all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in rows)
    assert all("<|im_start|>" not in m["content"] and "<|im_end|>" not in m["content"]
               for r in rows for m in r["messages"]), "the raw completion stops at the end of the user's turn"
    assert len({r["messages"][0]["content"] for r in rows}) == 2


def test_qa_pairs_from_documents_evaluate_with_kb_eval(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nCustomers can ask for a refund within 30 days of purchase. "
                                     "Refunds are paid back to the original card within 5 business days.\n")
    (docs / "shipping.md").write_text("# Shipping\n\nOrders ship from Lisbon every weekday. Express delivery "
                                      "takes two days inside the European Union.\n")
    code, _, stderr = cli_here(capsys, "ingest", str(docs), "--collection", "shop")
    assert code == 0, stderr
    out = tmp_path / "qa.jsonl"
    code, stdout, stderr = cli_here(capsys, "datagen", "--from-docs", "shop", "--n", "2", "--out", str(out), "--json")
    assert code == 0, stderr
    rows = read_rows(out)
    assert {r["sources"][0] for r in rows} == {"refunds.md", "shipping.md"}, "each passage used before any repeats"
    assert all(r["passage_id"] and r["question"].strip() and r["answer"].strip() for r in rows)
    code, stdout, stderr = cli_here(capsys, "kb", "eval", str(out), "--collection", "shop", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["questions"] == 2


def test_batched_rows_equal_rows_made_one_at_a_time_at_temperature_0(tmp_path, capsys):
    """Rows decoded together (llama.cpp multi-sequence batching, one grammar per sequence) are, at temperature 0, the
    very rows the routing layer's one-at-a-time calls make: same prompts, grammars, seeds, repairs and dedup."""
    from models.ledger import open_ledger
    from podium.settings import load_settings

    made = {}
    for batch in ("1", "3"):
        out = tmp_path / f"batch{batch}.jsonl"
        code, stdout, stderr = cli_here(capsys, *ticket_args(out, 3, "--temperature", "0", "--batch", batch,
                                                             "--no-report"))
        assert code == 0, stderr
        made[batch] = [{**{k: v for k, v in r.items() if k != "_meta"}, "index": r["_meta"]["index"]}
                       for r in read_rows(out)]
    assert len(made["3"]) == 3 and made["3"] == made["1"]
    notes = [c.note for c in open_ledger(load_settings()).calls() if c.node == "datasets"]
    assert notes.count("batch of 3") >= 3, notes  # the second run's rows came from one batched decode


@pytest.mark.slow
def test_batched_rows_that_fail_validation_are_repaired_one_by_one_as_sequential_ones_are(tmp_path, capsys):
    """A limit the grammar cannot hold (over 200 characters, checked after decoding) fails rows that a batch
    decoded; their repairs then go through the routing layer exactly as the rows made one at a time do."""
    from models.ledger import open_ledger
    from podium.settings import load_settings
    from tools.datagen.store import load_sidecar

    seen = {}
    for batch in ("1", "2"):
        out = tmp_path / f"batch{batch}.jsonl"
        code, stdout, stderr = cli_here(capsys, "datagen", "short notes", "--fields", "note:str(201..240)", "--n", "2",
                                        "--out", str(out), "--topics", "tea,rain", "--temperature", "0",
                                        "--max-failures", "2", "--no-report", "--json", "--batch", batch)
        summary = json.loads(stdout)
        seen[batch] = (code, summary["rows"], summary["rejected"], load_sidecar(out)["problems"])
    assert seen["2"] == seen["1"]
    calls = [c for c in open_ledger(load_settings()).calls() if c.node == "datasets"]
    one, two = ([c for c in calls if c.thread == t] for t in dict.fromkeys(c.thread for c in calls))
    batched = [c for c in two if c.note == "batch of 2"]
    assert len(batched) == 2 and len(one) > 2, [(c.note, c.outcome) for c in calls]  # rows were repaired
    # a valid batched answer stands for the lone run's first call; an invalid one is asked for again, then repaired
    assert len(two) - 2 == len(one) - sum(c.outcome == "ok" for c in batched)


def _subprocess(args: list[str], **env: str) -> subprocess.Popen:
    full = {**os.environ, "PODIUM_TEMPERATURE": "0", **env}
    return subprocess.Popen([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(900)  # two processes, each loading the model: minutes on a machine shared with other work
def test_kill_9_then_resume_ends_with_exactly_n_valid_unique_rows(tmp_path):
    out, n = tmp_path / "tickets.jsonl", 4
    proc = _subprocess(ticket_args(out, n, "--batch", "2"), PODIUM_LOG_LEVEL="INFO")  # killed mid-batch
    try:
        for line in proc.stderr:  # one log line per accepted row: kill right after the second one
            if f"row 2/{n} accepted" in line:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    written = out.read_bytes().count(b"\n")
    assert 2 <= written < n, "killed mid-run"
    done = _subprocess(ticket_args(out, n, "--resume"))
    stdout, stderr = done.communicate(timeout=300)
    assert done.returncode == 0, stderr
    rows = read_rows(out)
    assert len(rows) == n and json.loads(stdout)["rows"] == n
    assert len({r["body"] for r in rows}) == n
    check = Validator(parse_fields(FIELDS))
    assert all(check.problem({k: v for k, v in r.items() if k != "_meta"}) is None for r in rows)


def _can_mount() -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not shutil.which("unshare") or not _can_mount(), reason="needs root and mount namespaces")
def test_a_full_disk_is_one_line_and_keeps_whole_rows(tmp_path):
    """The output folder is an 8 KiB tmpfs in a private mount namespace: it fills after a few rows."""
    disk, copy = tmp_path / "disk", tmp_path / "copy.jsonl"
    disk.mkdir()
    args = " ".join(shlex.quote(a) for a in ["datagen", "support tickets", "--fields", "subject:str(5..60)", "--n",
                                             "40", "--out", str(disk / "tickets.jsonl"), "--topics", TOPICS,
                                             "--no-report", "--json"])
    script = (f"mount -t tmpfs -o size=8k tmpfs {disk} && {shlex.quote(sys.executable)} -m ui.cli {args}; "
              f"echo exit=$? >&2; cat {disk}/tickets.jsonl > {copy}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PODIUM_TEMPERATURE": "0"}, timeout=300)
    assert "exit=2" in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("exit=")]
    assert lines[0].startswith("error: cannot write tickets.jsonl") and "the disk is full" in lines[0], lines
    assert "Traceback" not in done.stderr
    rows = [json.loads(line) for line in copy.read_text().splitlines()]
    assert rows and copy.read_bytes().endswith(b"\n"), "only whole rows remain"
