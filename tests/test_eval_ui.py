"""The Evaluation tab and the Models tab's cards, served for real and driven through gradio_client."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.scores import Result, Speed, open_scores
from models.scripted import register_script
from podium.settings import Settings
from tests.conftest import LOCAL_MODEL
from ui.eval_view import arena_rows, reveal_text

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    from gradio_client import Client

    from graph.app import PodiumApp
    from tests.servers import free_port
    from ui.gradio_app import launch

    home = tmp_path_factory.mktemp("eval-ui") / "home"
    settings = Settings(home=home, temperature=0.0, max_tokens=16)
    scores = open_scores(settings.data_dir)
    scores.add(Result(LOCAL_MODEL, "arc_easy", "acc_norm", 41.0, (36.0, 46.0), n=300, random_baseline=25.0))
    scores.add(Result("scripted/echo", "arc_easy", "acc_norm", 30.0, (25.0, 35.0), n=300, random_baseline=25.0))
    scores.add_speed(Speed(LOCAL_MODEL, 3, 90.0, 0.05, 0.7, 0.8))
    podium = PodiumApp(settings)
    port = free_port()
    demo = launch(podium, port=port, block=False)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False), podium
    demo.close()


def test_a_battle_streams_two_anonymous_answers_at_once(served) -> None:
    client, _ = served
    register_script("arena-b", ["an answer from the second model"])
    job = client.submit("hello arena", ["scripted/echo", "scripted/arena-b"], {}, api_name="/arena_battle")
    final = job.result()
    answers = {final[0], final[1]}
    assert answers == {"You said: hello arena", "an answer from the second model"}
    assert final[2] == "Vote, then the names are revealed."  # the names stay hidden until the vote
    assert len(job.outputs()) > 3  # tokens streamed in several updates, not one final answer


def test_leaderboard_exports_csv_and_plots(served, tmp_path: Path) -> None:
    client, _ = served
    files = client.predict(False, api_name="/leaderboard_export")
    names = sorted(Path(f).name for f in files)
    assert names == ["latency.png", "leaderboard.csv", "quality_vs_cost.png", "quality_vs_speed.png", "scores.png"]
    csv_text = Path(next(f for f in files if f.endswith(".csv"))).read_text()
    assert csv_text.splitlines()[1].startswith(f"{LOCAL_MODEL},41.0,36.0,46.0,300")


def test_run_a_benchmark_and_show_a_card(served) -> None:
    client, _ = served
    text = client.predict(LOCAL_MODEL, "piqa", 2, api_name="/eval_run")
    assert text.startswith(f"piqa · {LOCAL_MODEL} · acc_norm") and "n=2 of 1838" in text
    card = client.predict(LOCAL_MODEL, api_name="/model_card")
    facts = {row[0]: row[1] for row in card["data"]}
    assert facts["weights"] == "open" and facts["training tokens"] == "2.0T" and "740.7x" in facts["Chinchilla ratio"]
    assert facts["arc_easy"].startswith("acc_norm 41.00%") and "90.00 tok/s" in facts["speed (eval speed)"]
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="unknown local model 'nope'"):
        client.predict("llamacpp/nope", "piqa", 2, api_name="/eval_run")


def test_reveal_and_rating_rows() -> None:
    assert reveal_text("x/a", "y/b", "model_b").startswith(
        "Model A was **x/a**, model B was **y/b**: you preferred **y/b**")
    assert arena_rows([{"model": "m", "rating": 1010.5, "ci95": [990.0, 1030.0], "votes": 4, "wins": 3,
                        "judge_votes": 1}]) == [["m", 1010.5, "990.0 to 1030.0", 4, 3, 1]]
