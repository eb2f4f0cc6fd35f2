"""The Datasets tab: its pure conversions, then its handlers on a real PodiumApp with a scripted model (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest

from graph.app import PodiumApp
from models.scripted import register_script
from tools.datagen.fields import parse_fields
from ui.datagen_view import EXAMPLE_FIELDS, preview_table, spec_to_table, suggest_fields, table_to_spec
from ui.gradio_datasets import DatasetsTab


def test_the_field_table_round_trips_to_a_spec():
    assert table_to_spec(EXAMPLE_FIELDS) == "subject:str(5..120), body:str(20..600), priority:enum[low,medium,high]"
    parse_fields(table_to_spec(EXAMPLE_FIELDS))
    rows = [["score", "int", 1.0, 5.0, None], ["", "", "", "", ""], ["ok", "bool", float("nan"), None, ""]]
    assert table_to_spec(rows) == "score:int(1..5), ok:bool"
    assert spec_to_table("a:int(1..5), b:enum[x,y], c:list[str](..3)") == [
        ["a", "int", "1", "5", ""], ["b", "enum", "", "", "x, y"], ["c", "list[str]", "", "3", ""]]


def test_fields_are_suggested_from_the_description():
    rows = suggest_fields("support tickets with subject, body and priority")
    assert [r[:2] for r in rows] == [["subject", "str"], ["body", "str"], ["priority", "enum"]]
    assert rows[2][4] == "low, medium, high"
    assert suggest_fields("support tickets") == []


def test_preview_table_shows_nested_values_as_json_and_hides_provenance():
    headers, cells = preview_table([{"q": "a", "tags": ["x"], "_meta": {"seed": 1}}])
    assert headers == ["q", "tags"] and cells == [["a", '["x"]']]


@pytest.fixture
def tab(settings) -> DatasetsTab:
    return DatasetsTab(PodiumApp(settings))


def form(model: str, n: int = 2, table=None) -> list:
    return ["support tickets", "Records (fields)", table or [["subject", "str", "3", "80", ""],
                                                              ["priority", "enum", "", "", "low, high"]],
            None, "", n, model, 0, False]


def test_generate_streams_progress_then_rows_report_and_file(tab):
    model = register_script("dg-ui", [json.dumps({"subject": s, "priority": "low"}) for s in ("Login fails",
                                                                                             "Invoice is wrong")])
    updates = list(tab.generate(*form(model)))
    assert updates[0][0].startswith("Generating 2 rows with scripted/dg-ui")
    assert any(isinstance(u[0], str) and u[0].startswith("**1 / 2 rows**") for u in updates), "live progress"
    status, rows, report, path = updates[-1]
    assert status.startswith("**2 / 2 rows**") and status.endswith("done")
    assert rows.value["data"] == [["Login fails", "low"], ["Invoice is wrong", "low"]]
    assert "Dataset report" in report and "data:image/png;base64" in report
    assert Path(path).is_file() and Path(path).parent == tab.folder


def test_preview_makes_three_rows_and_keeps_nothing(tab):
    subjects = ["Password reset mail never arrives", "Invoice shows the wrong VAT", "Dark mode resets on reload"]
    model = register_script("dg-preview", [json.dumps({"subject": s, "priority": "high"}) for s in subjects])
    shown = tab.preview(*form(model))
    assert [r[0] for r in shown.value["data"]] == subjects
    assert not list((tab.folder / ".preview").iterdir())


def test_bad_form_input_warns_and_changes_nothing(tab):
    with pytest.warns(UserWarning, match="enum has no values"):
        updates = list(tab.generate(*form("scripted/echo", table=[["priority", "enum", "", "", ""]])))
    assert updates == [(gr.skip(),) * 4]
    with pytest.warns(UserWarning, match="--n must be at least 1"):
        assert len(list(tab.generate(*form("scripted/echo", n=0)))) == 1
    with pytest.warns(UserWarning, match="unknown model spec"):
        assert tab.preview(*form("nope/x")) == gr.skip()
    with pytest.warns(UserWarning, match="No valid row came out"):  # echo never writes JSON
        assert tab.preview(*form("scripted/echo")) == gr.skip()
