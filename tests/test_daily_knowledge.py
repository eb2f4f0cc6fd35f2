"""Grounded answers on the embedded model: extractive knowledge answers, answer accuracy in `kb eval`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.contract import TurnOptions
from agents.knowledge import answer_mode
from graph.app import PodiumApp
from memory.eval import QA, answer_text, exact_match, load_qa, normalize, token_f1
from memory.extract import extract, sentences
from memory.ingest import ingest
from memory.store import KnowledgeBase
from podium.errors import ConfigError
from podium.settings import Settings
from tests.conftest import cli_here

GUIDE = ("# Cats\n\nCats are small carnivores that people keep as pets. Cats sleep for about sixteen hours a day. "
         "They are most active at dawn and dusk.\n\n# Dogs\n\nDogs were domesticated from wolves. A dog needs a walk "
         "twice a day.\n")


def test_answers_are_scored_as_squad_does():
    assert normalize("The  Cat's hat!") == "cats hat"
    assert exact_match("the school", ["A school.", "They teach"]) == 1.0
    assert token_f1("they set up a school", ["They set up a school."]) == 1.0
    assert round(token_f1("a school in town", ["they set up a school"]), 4) == round(2 / 7, 4)  # P 1/3, R 1/4
    assert token_f1("", ["x"]) == 0.0
    assert answer_text('"Cats sleep." [1] [2]\n\nSources:\n[1] a.md\n[2] b.md') == '"Cats sleep."'


def test_qa_lines_may_carry_answers_sources_or_both(tmp_path: Path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "q1", "sources": ["a.md"], "answer": "yes"}\n'
                    '{"question": "q2", "answer": ["one", "two"]}\n{"question": "q3", "sources": "b.md"}\n')
    assert load_qa(path) == [QA("q1", ("a.md",), ("yes",)), QA("q2", (), ("one", "two")), QA("q3", ("b.md",))]
    path.write_text('{"question": "q1"}\n')
    with pytest.raises(ConfigError, match="line 1 .*no sources and no answer"):
        load_qa(path)
    path.write_text('{"question": "q1", "answer": 42}\n')
    with pytest.raises(ConfigError, match="answer must be text"):
        load_qa(path)


def test_the_best_sentences_are_quoted_with_their_passage_numbers(settings: Settings):
    embedder = KnowledgeBase(settings).embedder
    assert sentences(GUIDE)[:2] == ["Cats are small carnivores that people keep as pets.",
                                    "Cats sleep for about sixteen hours a day."]  # a bare heading is no answer
    quotes = extract("How long do cats sleep?", ["Dogs were domesticated from wolves.", GUIDE], embedder)
    assert quotes[0].passage == 2 and quotes[0].text == "Cats sleep for about sixteen hours a day."
    repeated = "Run make run to install Podium on a fresh machine. " * 3
    quotes = extract("How do I install Podium?", [repeated, repeated], embedder)
    assert [(q.passage, q.text) for q in quotes] == [(1, "Run make run to install Podium on a fresh machine.")], \
        "a repeated sentence is quoted once"


def test_auto_mode_quotes_for_tiny_local_models_and_lets_others_write(app: PodiumApp):
    assert answer_mode(app.context("t")) == "extractive"  # SmolLM2-135M
    assert answer_mode(app.context("t", TurnOptions(model="scripted/echo"))) == "generative"
    assert answer_mode(app.context("t", TurnOptions(model="openai/gpt-4o-mini"))) == "generative"
    forced = PodiumApp(app.settings.model_copy(update={"knowledge_mode": "generative"}))
    assert answer_mode(forced.context("t")) == "generative"


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pets.md").write_text(GUIDE)
    return docs


def test_a_knowledge_turn_on_the_tiny_model_quotes_instead_of_generating(app: PodiumApp, guide: Path):
    ingest(app.knowledge, [guide])
    streamed, result = "", None
    for event in app.stream_turn("How long do cats sleep?"):
        streamed += event.data.get("text", "") if event.kind == "token" else ""
        result = event.data["result"] if event.kind == "done" else result
    assert result.route == ["conductor", "knowledge"]
    assert result.answer.startswith('"Cats sleep for about sixteen hours a day." [1]')
    assert result.answer.endswith("\n\nSources:\n[1] pets.md") and streamed == result.answer
    assert result.usage["calls"] == [], "no model restated the passage"


def test_kb_eval_reports_answer_accuracy_beside_retrieval_for_both_modes(capsys, guide: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_TEMPERATURE", "0")
    monkeypatch.setenv("PODIUM_MAX_TOKENS", "24")
    assert cli_here(capsys, "ingest", str(guide), "-c", "pets")[0] == 0
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "How long do cats sleep?", "sources": ["pets.md"], '
                  '"answer": "Cats sleep for about sixteen hours a day."}\n'
                  '{"question": "What were dogs domesticated from?", "answer": ["wolves", "from wolves"]}\n')
    code, out, err = cli_here(capsys, "kb", "eval", str(qa), "--answer-mode", "both", "--json")
    data = json.loads(out)
    assert code == 0, err
    assert data["collection"] == "pets", "the only collection is the default"
    assert data["questions"] == 1 and data["recall@5"] == 1.0  # retrieval: the item with sources
    extractive, generative = data["answers"]
    assert (extractive["mode"], generative["mode"]) == ("extractive", "generative")
    assert extractive["questions"] == generative["questions"] == 2
    assert extractive["exact_match"] == 0.5 and 0.5 < extractive["f1"] < 1.0  # one quote is the whole answer
    assert 0 <= generative["f1"] <= 1 and generative["worst"][0]["got"]
    code, out, err = cli_here(capsys, "kb", "eval", str(qa), "--answer-mode", "extractive")
    assert code == 0 and "answers, extractive (2): exact match 0.500" in out and "recall@5 1.000" in out
    code, _, err = cli_here(capsys, "kb", "eval", str(qa), "--answer-mode", "guess")
    assert code == 2 and "unknown answer mode 'guess'" in err


def test_search_without_a_collection_uses_the_only_one(capsys, guide: Path):
    assert cli_here(capsys, "ingest", str(guide), "--collection", "handbook")[0] == 0
    code, out, err = cli_here(capsys, "search", "cats sleep", "--json")
    assert code == 0 and json.loads(out)["collection"] == "handbook", err
