"""The best-for routing policy: benchmark results choose the model, and the ledger says which score did."""

from __future__ import annotations

import pytest

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models import routing
from models.registry import ModelPool
from models.scores import Result, open_scores
from models.scripted import register_script
from podium.errors import ConfigError
from podium.settings import Settings

LOCAL, REMOTE = "llamacpp/smollm2-135m", "openai/gpt-4o-mini"


def _score(settings: Settings, model: str, benchmark: str, score: float, n: int = 100) -> None:
    open_scores(settings.data_dir).add(Result(model, benchmark, "acc", score, (score - 3, score + 3), n=n))


@pytest.fixture
def remote_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1", "best_for_margin": 2.0})


def _plan(settings: Settings, node: str = "knowledge") -> routing.Route:
    return routing.plan(settings, ModelPool(settings), None, models=[REMOTE, LOCAL], policy="best-for",
                        thread="t", node=node)


def test_the_cheapest_model_within_the_margin_wins(remote_settings: Settings) -> None:
    _score(remote_settings, LOCAL, "mmlu", 60.0)
    _score(remote_settings, REMOTE, "mmlu", 61.5)
    route = _plan(remote_settings)
    assert [s.spec for s in route.candidates] == [LOCAL, REMOTE]  # free and 1.5 points below the best
    assert route.notes[LOCAL] == "best-for knowledge: mmlu 60.0 (best 61.5, margin 2); cheapest within the margin"


def test_a_clearly_better_model_wins_and_the_mapping_is_configurable(remote_settings: Settings) -> None:
    _score(remote_settings, LOCAL, "mmlu", 30.0)
    _score(remote_settings, REMOTE, "mmlu", 80.0)
    _score(remote_settings, LOCAL, "gsm8k", 5.0)
    route = _plan(remote_settings)
    assert [s.spec for s in route.candidates] == [REMOTE, LOCAL] and "mmlu 80.0" in route.notes[REMOTE]
    # tools map to gsm8k by default, where only the local model has a score
    assert [s.spec for s in _plan(remote_settings, "tools").candidates] == [LOCAL, REMOTE]
    remapped = remote_settings.model_copy(update={"best_for": {"tools": "mmlu"}})
    assert [s.spec for s in _plan(remapped, "tools").candidates] == [REMOTE, LOCAL]


def test_without_scores_the_configured_order_stays_and_says_why(remote_settings: Settings) -> None:
    route = _plan(remote_settings)
    assert [s.spec for s in route.candidates] == [REMOTE, LOCAL] and not route.notes
    assert "no model of the chain has a mmlu score" in route.notices[0]
    assert "no benchmark stands for 'nowhere'" in _plan(remote_settings, "nowhere").notices[0]


def test_best_for_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from podium.settings import load_settings

    monkeypatch.setenv("PODIUM_POLICY", "best-for")
    monkeypatch.setenv("PODIUM_BEST_FOR", "chat=ifeval,tools=gsm8k")
    settings = load_settings()
    assert settings.policy == "best-for" and settings.best_for == {"chat": "ifeval", "tools": "gsm8k"}
    monkeypatch.setenv("PODIUM_BEST_FOR_MARGIN", "-1")
    with pytest.raises(ConfigError, match="PODIUM_BEST_FOR_MARGIN is negative"):
        load_settings()


def test_the_ledger_row_records_the_score_that_chose_the_model(settings: Settings) -> None:
    register_script("weak", ["from the weak model"])
    register_script("strong", ["from the strong model"])
    _score(settings, "scripted/weak", "ifeval", 20.0)
    _score(settings, "scripted/strong", "ifeval", 45.0)
    app = PodiumApp(settings)
    result = app.ask("hi", options=TurnOptions(model="scripted/weak", fallbacks=["scripted/strong"], policy="best-for"))
    assert result.answer == "from the strong model"
    call = result.usage["calls"][-1]
    assert call["model"] == "scripted/strong"
    assert call["note"] == "best-for chat: ifeval 45.0 (best 45.0, margin 2); cheapest within the margin"
