"""The generation engine with scripted models: dedup, invalid rows and repairs, stops, resume, formats.

Scripted replies make the outcome of every call known, so counts can be asserted exactly;
the embeddings (near duplicates) and every writer are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.scripted import register_script
from tests.conftest import cli_here
from tools.datagen.store import read_rows

FIELDS = "subject:str(3..80), priority:enum[low,high]"


def row(subject: str, priority: str = "low") -> str:
    return json.dumps({"subject": subject, "priority": priority})


def datagen(capsys, out: Path, script: str, *extra: str, n: int = 3) -> tuple[int, dict, str]:
    code, stdout, stderr = cli_here(capsys, "datagen", "support tickets", "--fields", FIELDS, "--n", str(n),
                                    "--out", str(out), "--model", script, "--no-diversity", "--json", *extra)
    return code, json.loads(stdout) if stdout.strip() else {}, stderr


def test_exact_and_near_duplicates_are_removed_and_counted(tmp_path, capsys):
    script = register_script("dg-dups", [
        row("The login page fails after the update"),
        row("the login page  fails after the update", "high"),  # same text, other label: exact duplicate
        row("The login page fails after the update!"),  # near duplicate (MiniLM cosine > 0.92)
        row("Invoice shows the wrong VAT rate"),
        row("Export to CSV never finishes"),
    ])
    code, summary, _ = datagen(capsys, tmp_path / "t.jsonl", script)
    assert code == 0
    assert summary["rows"] == 3 and summary["rejected"] == {"invalid": 0, "duplicate": 2}
    assert summary["near_duplicates"] == 1
    rows = read_rows(tmp_path / "t.jsonl")
    assert [r["subject"] for r in rows] == ["The login page fails after the update", "Invoice shows the wrong VAT rate",
                                            "Export to CSV never finishes"]
    assert rows[0]["_meta"]["model"] == script and rows[0]["_meta"]["index"] == 0
    assert set(rows[0]["_meta"]) >= {"seed", "temperature", "prompt_hash", "time", "cost_usd"}
    assert set(summary) >= {"out", "rows", "rejected", "seconds", "rows_per_s", "cost_usd", "model", "report"}
    assert Path(summary["report"]).is_file() and (Path(summary["report"]).parent / "README.md").is_file()


def test_dedup_off_keeps_near_duplicates_and_no_meta_drops_provenance(tmp_path, capsys):
    script = register_script("dg-near", [row("The login page fails after the update"),
                                         row("The login page fails after the update!")])
    code, summary, _ = datagen(capsys, tmp_path / "t.jsonl", script, "--dedup", "off", "--no-meta", n=2)
    assert code == 0 and summary["rows"] == 2 and summary["rejected"]["duplicate"] == 0
    assert all("_meta" not in r for r in read_rows(tmp_path / "t.jsonl"))


def test_a_model_that_stays_invalid_stops_after_max_failures_and_keeps_the_valid_rows(tmp_path, capsys):
    bad = row("Printer on fire", "urgent")  # not in the enum: repaired once by the routing layer, still wrong
    script = register_script("dg-invalid", [row("Cannot reset my password")] + [bad] * 4)
    code, summary, stderr = datagen(capsys, tmp_path / "t.jsonl", script, "--max-failures", "2", n=5)
    assert code == 1
    assert summary["rows"] == 1 and summary["rejected"]["invalid"] == 2 and summary["stopped"] == "invalid"
    assert [r["subject"] for r in read_rows(tmp_path / "t.jsonl")] == ["Cannot reset my password"]
    facts = json.loads((Path(summary["report"]).parent / "facts.json").read_text())
    assert facts["rejected"]["invalid"] == 2 and any("urgent" in p for p in facts["problems"])
    capsys.readouterr()
    code, _, stderr = datagen(capsys, tmp_path / "t.jsonl", script, "--max-failures", "2", n=5)
    assert code == 2 and "already exists" in stderr and "--resume" in stderr


def test_blank_text_is_repaired_once_then_rejected(tmp_path, capsys):
    script = register_script("dg-blank", [row("   "), row("Dark mode resets on reload")])
    code, summary, _ = datagen(capsys, tmp_path / "t.jsonl", script, n=1)
    assert code == 0 and summary["rows"] == 1 and summary["rejected"]["invalid"] == 0, "the repair fixed it"
    assert read_rows(tmp_path / "t.jsonl")[0]["subject"] == "Dark mode resets on reload"


def test_resume_trims_a_torn_line_and_continues_to_exactly_n(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    first = register_script("dg-first", [row("Cannot log in"), row("Billing page is blank")])
    assert datagen(capsys, out, first, n=2)[0] == 0
    with out.open("ab") as handle:
        handle.write(b'{"subject": "half a ro')  # what a kill -9 mid-write leaves
    second = register_script("dg-second", [row("Cannot log in"), row("Webhooks arrive twice")])
    code, summary, _ = datagen(capsys, out, second, "--resume", n=3)
    assert code == 0 and summary["rows"] == 3 and summary["rejected"]["duplicate"] == 1
    rows = read_rows(out)
    assert [r["subject"] for r in rows] == ["Cannot log in", "Billing page is blank", "Webhooks arrive twice"]
    assert [r["_meta"]["index"] for r in rows] == [0, 1, 3], "a resumed run continues the row numbering"
    done = register_script("dg-done", [])
    code, summary, _ = datagen(capsys, out, done, "--resume", n=3)
    assert code == 0 and summary["rows"] == 3, "resuming a complete dataset makes no calls"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "hf"])
def test_every_format_reads_back_the_same_rows(tmp_path, capsys, fmt):
    script = register_script(f"dg-{fmt}", [row("Cannot log in"), row("Refund not received", "high")])
    out = tmp_path / {"csv": "t.csv", "parquet": "t.parquet", "hf": "t"}[fmt]
    code, summary, _ = datagen(capsys, out, script, "--format", fmt, "--no-report", n=2)
    assert code == 0 and summary["report"] is None
    rows = read_rows(out, fmt)
    assert [(r["subject"], r["priority"]) for r in rows] == [("Cannot log in", "low"), ("Refund not received", "high")]
    assert rows[0]["_meta"]["index"] == 0
    assert not (tmp_path / f"{out.name}.partial.jsonl").exists(), "the journal goes once the dataset is complete"


def test_a_chat_request_previews_three_rows_then_finishes_the_file(tmp_path, settings):
    from agents.common import call_model
    from agents.contract import Context, TurnOptions
    from models.call import ModelCaller
    from models.ledger import open_ledger
    from models.registry import ModelPool
    from tools.datagen.backend import Backend
    from tools.datagen.conversation import generate

    subjects = ["Password reset mail never arrives", "Invoice shows the wrong VAT", "Dark mode resets on reload",
                "Webhooks arrive twice", "CSV export drops the header"]
    script = register_script("dg-chat", [row(s, p) for s, p in zip(subjects, ["low", "high"] * 3, strict=False)])
    ledger = open_ledger(settings)
    ctx = Context(settings=settings, engine=ModelCaller(settings, ModelPool(settings), ledger), ledger=ledger,
                  options=TurnOptions(model=script))
    previews: list[str] = []
    outcome = generate("generate 5 support tickets as JSON with subject and priority", Backend(ctx, call_model),
                       tmp_path, on_preview=previews.append, diversity=False)
    assert len(previews) == 1 and previews[0].count('{"subject"') == 3 and subjects[2] in previews[0]
    assert outcome.rows == 5 and [r["subject"] for r in read_rows(outcome.path)] == subjects
    assert outcome.text.startswith("Done: 5 rows in [") and f"(file://{outcome.path})" in outcome.text
    assert outcome.report is not None and outcome.report.is_file()


def test_chat_rows_stay_pure_openai_format_with_provenance_beside_them(tmp_path, capsys):
    out = tmp_path / "chat.jsonl"
    turns = [json.dumps({"user": "How long do I boil spaghetti?"}), "About nine minutes, in salted water.",
             json.dumps({"user": "Can I freeze fresh basil leaves?"}), "Yes: blanch them first, then freeze."]
    script = register_script("dg-chat-format", turns)
    code, stdout, stderr = cli_here(capsys, "datagen", "cooking questions", "--chat", "--system", "Be brief.",
                                    "--n", "2", "--out", str(out), "--model", script, "--no-diversity", "--json")
    assert code == 0, stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0] == {"messages": [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "How long do I boil spaghetti?"},
                                    {"role": "assistant", "content": "About nine minutes, in salted water."}]}
    metas = [json.loads(line) for line in out.with_name("chat.jsonl.meta.jsonl").read_text().splitlines()]
    assert [m["index"] for m in metas] == [0, 1] and all(m["model"] == script for m in metas)
    more = register_script("dg-chat-more", [json.dumps({"user": "What makes risotto creamy?"}),
                                            "Stirring releases the rice's starch."])
    code, _, stderr = cli_here(capsys, "datagen", "cooking questions", "--chat", "--system", "Be brief.", "--n", "3",
                               "--out", str(out), "--model", more, "--no-diversity", "--resume", "--json")
    assert code == 0, stderr
    metas = [json.loads(line) for line in out.with_name("chat.jsonl.meta.jsonl").read_text().splitlines()]
    assert len(out.read_text().splitlines()) == 3 and [m["index"] for m in metas] == [0, 1, 2]


def test_report_command_reads_any_format_and_writes_html_plots_and_card(tmp_path, capsys):
    script = register_script("dg-report", [row("Cannot log in"), row("Refund not received", "high")])
    out = tmp_path / "t.parquet"
    assert datagen(capsys, out, script, "--no-report", n=2)[0] == 0
    code, stdout, stderr = cli_here(capsys, "datagen", "report", str(out), "--out", str(tmp_path / "rep"), "--json")
    assert code == 0, stderr
    facts = json.loads(stdout)
    assert facts["rows"] == 2 and facts["mode"] == "records" and facts["model"] == script
    assert facts["fields"]["priority"]["counts"] == {"low": 1, "high": 1}
    assert facts["fields"]["subject"]["kind"] == "text" and facts["fields"]["subject"]["max"] == 19
    assert facts["diversity"]["distinct_1"] > 0.5 and facts["diversity"]["embedding_spread"] > 0
    assert {p.name for p in (tmp_path / "rep").iterdir()} >= {"index.html", "README.md", "field-priority.png",
                                                               "field-subject.png", "rows.png"}
