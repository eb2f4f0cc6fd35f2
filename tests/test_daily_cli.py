"""Daily use of the CLI, in this process: pauses, breakpoints, history, help, narrow tables, stdin, fallbacks."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.cells import cell_len

from graph.app import PodiumApp
from memory.ingest import ingest
from podium.settings import Settings
from tests.conftest import cli_here

ECHO = ["--model", "scripted/echo"]


@pytest.fixture
def podium(capsys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_TEMPERATURE", "0")
    monkeypatch.setenv("PODIUM_MAX_TOKENS", "48")  # room for a tool call's JSON (a cut call is a wrong call)

    def run(*args: str) -> tuple[int, str, str]:
        return cli_here(capsys, *args)
    return run


@pytest.mark.model
def test_every_breakpoint_is_announced_and_pauses_exit_like_approvals(podium):
    code, out, err = podium("ask", "--break-before", "conductor", "--break-before", "tools", "What is 3*7?")
    thread = re.search(r"podium resume (\w+)", err).group(1)
    assert code == 3 and "⏸ paused before conductor" in err and out == "", err
    code, out, err = podium("resume", thread)
    assert code == 3 and "⏸ paused before tools" in err, err
    assert out == "" and "tokens" not in err, "no blank line or footer before the pause"
    code, out, err = podium("resume", thread)
    assert code == 0 and out.strip() == "3*7 = 21", err


@pytest.mark.model
def test_an_approval_pause_shows_the_call_without_a_footer_before_it(podium):
    code, out, err = podium("ask", "Run this python code: print(6 * 7)")
    assert code == 3 and out == ""
    assert err.startswith("⏸ python needs your approval") and "tokens" not in err, err


@pytest.mark.model
def test_history_shows_tool_calls_and_results_not_empty_lines(podium):
    code, out, _ = podium("ask", "--json", "What is 1234 * 5678?")
    thread = json.loads(out)["thread_id"]
    code, out, err = podium("history", thread)
    lines = out.splitlines()
    assert lines[0] == "user> What is 1234 * 5678?"
    assert lines[1] == 'assistant> calls calculator({"expression": "1234 * 5678"})'
    assert lines[2] == "tool> calculator → 7006652" and lines[3] == "assistant> 1234 * 5678 = 7006652"
    assert not any(line.rstrip() == "assistant>" for line in lines)
    data = json.loads(podium("history", thread, "--json")[1])
    assert data["messages"][1]["tool_calls"] == [{"name": "calculator", "args": {"expression": "1234 * 5678"}}]


def test_help_names_value_kinds_not_python_types(podium, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = podium("ask", "--help")
    assert code == 0 and "Usage:" in out and " QUESTION" in out
    assert not re.search(r"<(bool|str|int|list\[str\])>|\{QUESTION\}", out), out
    assert re.search(r"--model\s+-m\s+TEXT", out) and re.search(r"--json\s+Print one JSON", out)


def test_tables_fit_an_80_column_terminal(podium, monkeypatch: pytest.MonkeyPatch):
    assert podium("ask", *ECHO, "fill the ledger")[0] == 0
    monkeypatch.setenv("COLUMNS", "80")
    for command in (["usage"], ["usage", "--by", "thread"], ["models"]):
        code, out, err = podium(*command)
        table = [line for line in out.splitlines() if line.strip()]
        assert code == 0 and table, err
        assert max(cell_len(line) for line in table) <= 80, "\n".join(table)
    monkeypatch.setenv("COLUMNS", "160")
    assert "avg ttft" in podium("usage")[1], "a wide terminal still gets every column"


def test_ask_dash_reads_the_question_from_stdin(podium, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a question\nover two lines\n"))
    code, out, err = podium("ask", "-", *ECHO)
    assert code == 0 and out.startswith("You said: a question\nover two lines"), err


@pytest.mark.model
def test_the_readme_fallback_example_answers_without_a_key(podium):
    code, out, err = podium("ask", "--model", "openai/gpt-4o-mini", "--fallback", "llamacpp/smollm2-135m", "Hi")
    assert code == 0 and out.strip(), err
    assert "OPENAI_API_KEY is not set" in err and "falling back to llamacpp/smollm2-135m" in err
    code, _, err = podium("ask", "--model", "openai/gpt-4o-mini", "Hi")  # nothing to fall back to: say so first
    assert code == 2 and "OPENAI_API_KEY is not set" in err


def test_after_a_replay_history_and_ask_say_which_branch_they_follow(podium, app: PodiumApp):
    from graph.trace import history as checkpoints

    thread = json.loads(podium("ask", *ECHO, "--json", "one")[1])["thread_id"]
    for text in ("two", "three"):
        assert podium("ask", *ECHO, "--thread", thread, text)[0] == 0
    before_chat = [s for s in checkpoints(app, thread) if s.next == ("chat",)][1]  # turn two, before chat
    checkpoint = before_chat.config["configurable"]["checkpoint_id"]
    code, _, err = podium("debug", "replay", thread, "--checkpoint", checkpoint)
    assert code == 0, err
    code, out, err = podium("history", thread)
    assert [line for line in out.splitlines() if line.startswith("user>")] == ["user> one", "user> two"]
    assert "continues the branch of a debug replay or fork (2 turns); another branch with 3 turns" in err
    code, out, err = podium("ask", *ECHO, "--thread", thread, "--json", "four")
    assert "another branch with 3 turns" in json.loads(out)["notices"][0]


def test_a_markdown_file_of_headings_is_text(tmp_path: Path, settings: Settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "outline.md").write_text("# Kubernetes pods restart on failure\n# Services route traffic to pods\n"
                                     "## Ingress exposes services outside the cluster\n")
    report = ingest(PodiumApp(settings).knowledge, [docs])
    assert report.count("added") == 1 and not report.failed


def test_ingest_reads_gzipped_text_and_says_what_it_skipped(podium, tmp_path: Path):
    import gzip

    docs = tmp_path / "doc"
    (docs / "pkg").mkdir(parents=True)
    (docs / "pkg" / "changelog.Debian.gz").write_bytes(gzip.compress(b"pkg (1.2) stable: fix the frobnicator crash.\n"))
    (docs / "pkg" / "README.md").write_text("# pkg\n\nThe frobnicator turns widgets.\n")
    (docs / "pkg" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (docs / "pkg" / "bundle.tar.gz").write_bytes(gzip.compress(b"not text"))
    (docs / ".git").mkdir()
    (docs / ".git" / "config").write_text("[core]\n")
    (docs / "node_modules" / "x").mkdir(parents=True)
    (docs / "node_modules" / "x" / "index.js").write_text("module.exports = 1\n")
    code, out, err = podium("ingest", str(docs), "--json")
    report = json.loads(out)
    assert code == 0 and report["added"] == 2 and report["skipped"] == 4, report
    skipped = {f["source"]: f["reason"] for f in report["files"] if f["status"] == "skipped"}
    assert skipped == {".git/": "hidden folder", "node_modules/": "node_modules folder (dependencies or build output)",
                       "pkg/logo.png": "unsupported file type .png",
                       "pkg/bundle.tar.gz": "compressed .tar file (not text)"}
    code, out, err = podium("search", "frobnicator crash", "--json")
    assert json.loads(out)["hits"][0]["source"] == "pkg/changelog.Debian.gz"
    (docs / "pkg" / "NEWS.gz").write_bytes(b"not gzip at all")
    code, out, err = podium("ingest", str(docs))
    assert code == 1 and "corrupt gzip file" in err
    assert "skipped: " in err and "hidden folder (1)" in err and "unsupported file type .png (1)" in err


def test_an_interrupted_ingest_keeps_whole_files_and_counts_that_agree(settings: Settings, tmp_path: Path):
    from memory.ingest import IngestInterrupted
    from memory.store import KnowledgeBase

    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(6):
        (docs / f"note{n}.txt").write_text(f"Note {n} is about topic number {n} and nothing else.\n")

    class CtrlC:  # the user presses Ctrl-C once three files are in
        done = 0

        def start(self, files: int) -> None: ...
        def chunks_embedded(self, n: int) -> None: ...

        def file_done(self, result) -> None:
            self.done += 1
            if self.done == 3:
                raise KeyboardInterrupt

    kb = KnowledgeBase(settings)
    import memory.ingest as ingest_module

    batch = ingest_module.EMBED_BATCH
    ingest_module.EMBED_BATCH = 1  # write file by file, as a big folder would
    try:
        with pytest.raises(IngestInterrupted) as stopped:
            ingest_module.ingest(kb, [docs], "notes", progress=CtrlC())
    finally:
        ingest_module.EMBED_BATCH = batch
    report = stopped.value.report
    assert report.interrupted and report.count("added") == 3
    listed = {c["name"]: c for c in KnowledgeBase(settings).collections()}["notes"]
    stats = KnowledgeBase(settings).stats("notes")
    assert listed["documents"] == stats["documents"] == 3 and listed["chunks"] == stats["chunks"] == 3
    again = ingest_module.ingest(KnowledgeBase(settings), [docs], "notes")  # the same command finishes the job
    assert again.count("added") == 3 and again.count("unchanged") == 3
    assert KnowledgeBase(settings).stats("notes")["documents"] == 6
