"""One event fold, one footer, one approval widget, and commands and tabs registered in one visible place."""

from __future__ import annotations

import ast
from pathlib import Path

import gradio as gr
import pytest

from graph.app import Event, TurnResult
from tests.conftest import ROOT
from ui.chat_view import TurnView
from ui.fold import TurnFold
from ui.gradio_approvals import ApprovalWidget, decision_for
from ui.render import footer
from ui.terminal import drive, finish

USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "ttft_s": 0.2, "cost_usd": 0.0,
         "calls": [{"provider": "llamacpp", "model": "llamacpp/smollm2-135m", "outcome": "ok", "tokens_per_s": 40.0,
                    "cost_usd": 0.0}]}
RESULT = TurnResult(thread_id="th1", answer="Hello there.", route=["conductor", "chat"], model="llamacpp/smollm2-135m",
                    usage=USAGE)
EVENTS = [Event("route", "conductor", {"route": "chat"}), Event("token", "chat", {"text": "Hello th"}),
          Event("retract", "chat", {"chars": 8}), Event("notice", "", {"text": "falling back"}),
          Event("token", "chat", {"text": "Hello there."}), Event("done", "", {"result": RESULT})]


def test_the_fold_is_what_every_front_end_shows():
    fold = TurnFold()
    for event in EVENTS:
        fold.apply(event)
    assert (fold.answer, fold.notices, fold.route, fold.result) == ("Hello there.", ["falling back"], "chat", RESULT)
    view = TurnView(started=0.0)
    for event in EVENTS:
        view.apply(event)
    assert view.answer == fold.answer and view.result is RESULT


def test_the_cli_prints_the_folded_answer_into_a_pipe(capsys):
    assert drive(iter(EVENTS), as_json=False) is RESULT
    captured = capsys.readouterr()
    assert captured.out == "Hello there." and "· falling back" in captured.err, "the failed words never arrive"


def test_pending_approvals_fold_the_same_way():
    payload = {"id": "c1", "name": "python", "args": {"code": "print(1)"}, "question": "Run python?"}
    fold, view = TurnFold(), TurnView(started=0.0)
    for item in (fold, view):
        item.apply(Event("interrupt", "__interrupt__", {"interrupts": [payload]}))
    assert fold.pending == view.pending == [payload]


def test_one_footer_for_the_terminal_and_the_web(capsys):
    line = footer(RESULT.model, RESULT.usage)
    assert line == "llamacpp/smollm2-135m · 5+3 tokens · ttft 0.20s · 40.0 tok/s · free (local)"
    finish(RESULT, as_json=False)
    assert f"{line} · thread th1" in capsys.readouterr().err
    view = TurnView(started=0.0)
    view.apply(EVENTS[-1])
    assert f"<sub>{line}</sub>" in view.messages()[-1]["content"]


def test_approval_decisions_are_read_once_for_both_tabs():
    pending = [{"id": "c1", "name": "python", "args": {"code": "print(1)"}}]
    assert decision_for("approve", "", pending) == ({"action": "approve"}, "")
    edited = {"action": "edit", "args": {"code": "print(2)"}}
    assert decision_for("edit", '{"code": "print(2)"}', pending) == (edited, "")
    decision, why = decision_for("edit", "{print", pending)
    assert decision is None and why.startswith("The edited arguments are not valid JSON")
    assert decision_for("approve", "", []) == (None, "There is no tool call waiting for approval.")
    chat, debug = ApprovalWidget("podium"), ApprovalWidget("podium-debug")
    with gr.Blocks():
        chat.build()
        debug.build()
    assert [b.elem_id for b in chat.buttons.values()] == ["podium-approve", "podium-edit", "podium-reject"]
    assert [b.elem_id for b in debug.buttons.values()] == ["podium-debug-approve", "podium-debug-edit",
                                                          "podium-debug-reject"]
    group, title, args = debug.shown(pending)
    assert group["visible"] is True and "python" in title and '"print(1)"' in args
    assert debug.shown([])[0]["visible"] is False
    assert ApprovalWidget("podium-debug", fixed=True).shown(pending)[0]["visible"] is True, "before it is laid out"
    assert ApprovalWidget("podium").shown(pending) == (), "a chat panel never laid out has no outputs"


def _modules(prefix: str) -> set[str]:
    return {p.stem for p in (ROOT / "ui").glob(f"{prefix}_*.py")}


def test_every_cli_module_is_registered_in_one_visible_place():
    from ui import cli

    assert {m.removeprefix("ui.") for m in cli.COMMANDS} == _modules("cli")
    names = {c.name or c.callback.__name__ for c in cli.app.registered_commands}
    names |= {g.name for g in cli.app.registered_groups}
    assert {"ask", "chat", "tools", "resume", "ingest", "usage", "ui", "debug"} <= names
    source = (ROOT / "ui" / "cli.py").read_text()
    assert "pkgutil" not in source and "iter_modules" not in source, "commands are listed, not found by scanning"


@pytest.mark.parametrize("module", sorted(_modules("cli")))
def test_command_modules_do_not_import_the_entry_point(module: str):
    tree = ast.parse((ROOT / "ui" / f"{module}.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "ui.cli" not in imported, f"{module} imports ui.cli: take shared helpers from ui.terminal"


def test_every_gradio_tab_is_registered_in_one_visible_place():
    from ui import gradio_app

    listed = {f.__module__.removeprefix("ui.") for f in (*gradio_app.TABS, *gradio_app.DEBUG_TABS)}
    # The app itself, the Chat tab and its parts (sidebar, settings panel), a widget, the Knowledge tab's manager,
    # the page-only event settings every tab spreads.
    helpers = {"gradio_app", "gradio_chat", "gradio_approvals", "gradio_threads", "gradio_settings",
               "gradio_kb_manage", "gradio_events"}
    assert listed == _modules("gradio") - helpers
    assert "importlib" not in Path(gradio_app.__file__).read_text()
