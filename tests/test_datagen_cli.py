"""`podium datagen` refuses bad input with one line and a hint, exit code 2, before any model loads."""

from __future__ import annotations

import pytest

from tests.conftest import cli_here

TICKETS = ["customer support tickets", "--fields", "subject:str, priority:enum[low,high]"]


def refused(capsys, *args: str) -> str:
    code, stdout, stderr = cli_here(capsys, "datagen", *args)
    assert code == 2, stderr
    assert "Traceback" not in stderr and not stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("hint: "))
    return stderr


@pytest.mark.parametrize(("args", "words"), [
    (["tickets", "--fields", "subject:strng"], "unknown type 'strng' at character 9: subject:⟨here⟩strng"),
    (["tickets", "--fields", "priority:enum[]"], "the enum has no values"),
    (["tickets", "--fields", "body:str(600..20)"], "impossible bounds: 600 is more than 20"),
    ([*TICKETS, "--n", "0"], "--n must be at least 1"),
    (["tickets"], "say what the rows hold"),
    (["--fields", "a:str"], "say what the dataset is about"),
    ([*TICKETS, "--schema", "s.json"], "--fields and --schema both describe the rows"),
    (["chats", "--magpie"], "--magpie generates conversations"),
    (["chats", "--chat", "--from-docs", "kb"], "different modes"),
    ([*TICKETS, "--resume", "--force"], "contradict"),
    ([*TICKETS, "--dedup", "1.5"], "--dedup"),
    ([*TICKETS, "--temperature", "3"], "--temperature"),
    ([*TICKETS, "--format", "xlsx"], "unknown format 'xlsx'"),
    ([*TICKETS, "--model", "nope/x"], "unknown model spec"),
    ([*TICKETS, "--push-to-hub", "not-a-repo"], "is not a repo id"),
])
def test_bad_options_are_one_line_errors(capsys, tmp_path, args, words):
    from models import llama_pool

    preloads = len(llama_pool._PRELOADS)  # noqa: SLF001 - the model loads started in the background
    assert words in refused(capsys, *args, "--out", str(tmp_path / "out.jsonl"))
    assert len(llama_pool._PRELOADS) == preloads, "a request refused while planning starts no model load"  # noqa: SLF001
    assert not (tmp_path / "out.jsonl").exists(), "nothing is written"


def test_an_existing_out_is_refused_without_resume_or_force(capsys, tmp_path):
    out = tmp_path / "tickets.jsonl"
    out.write_text('{"subject": "kept", "priority": "low"}\n')
    stderr = refused(capsys, *TICKETS, "--out", str(out))
    assert "already exists" in stderr and "--resume" in stderr and "--force" in stderr
    assert out.read_text() == '{"subject": "kept", "priority": "low"}\n'


def test_an_unwritable_out_is_refused(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert "is not a folder" in refused(capsys, *TICKETS, "--out", str(blocker / "out.jsonl"))
    assert "does not exist" in refused(capsys, *TICKETS, "--out", str(tmp_path / "nope" / "out.jsonl"))
    (tmp_path / "dir.jsonl").mkdir()
    assert "not a regular file" in refused(capsys, *TICKETS, "--out", str(tmp_path / "dir.jsonl"))


def test_an_unknown_collection_for_from_docs(capsys, tmp_path):
    stderr = refused(capsys, "--from-docs", "handbook", "--out", str(tmp_path / "qa.jsonl"))
    assert "unknown collection 'handbook'" in stderr and "podium ingest" in stderr
    assert not (tmp_path / "qa.jsonl").exists()


def test_bad_like_and_schema_files(capsys, tmp_path):
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    assert "is not JSON lines" in refused(capsys, "x", "--like", str(tmp_path / "bad.jsonl"))
    (tmp_path / "s.json").write_text('{"type": "array"}')
    assert "must describe an object" in refused(capsys, "x", "--schema", str(tmp_path / "s.json"))


def test_report_of_a_missing_file(capsys, tmp_path):
    code, _, stderr = cli_here(capsys, "datagen", "report", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such dataset" in stderr


def test_help_lists_every_flag(capsys):
    code, stdout, _ = cli_here(capsys, "datagen", "--help")
    assert code == 0
    for flag in ("--fields", "--schema", "--like", "--chat", "--style", "--magpie", "--from-docs", "--n", "--out",
                 "--format", "--model", "--json", "--topics", "--personas", "--temperature", "--dedup", "--no-meta",
                 "--max-cost", "--resume", "--force", "--push-to-hub", "--no-diversity", "--concurrency"):
        assert flag in stdout, flag
