"""The Evaluation tab: a blind arena, the leaderboard with plots and exports, and benchmark runs.

Arena: one prompt, two models drawn at random from the pool, both answers streaming at
once, a vote (A, B, tie, both bad), then the names. Votes are stored for the Bradley-Terry
ratings of ``podium arena leaderboard``. Thin wiring: conversions live in ``ui.eval_view``.
"""

from __future__ import annotations

import queue
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from langchain_core.messages import HumanMessage

from podium.errors import PodiumError
from ui.eval_view import ARENA_HEADERS, arena_rows, card_lines, leaderboard_rows, result_line, reveal_text
from ui.gradio_events import PRIVATE

VOTES = {"model_a": "A is better", "model_b": "B is better", "tie": "Tie", "tie (bothbad)": "Both bad"}
"""Arena verdicts and their buttons."""


def arena_pool(podium: Any) -> list[str]:
    """Models offered to the arena: usable registry models and every model with recorded results."""
    from models.scores import open_scores
    from ui.gradio_chat import model_registry

    items, problems = model_registry(podium)
    ready = [i.spec for i in items if not isinstance(i, Exception) and i.spec not in problems and i.chat]
    scores = open_scores(podium.settings.data_dir)
    seen = sorted({m for m, _ in scores.best()} | set(scores.speeds()))
    return list(dict.fromkeys([*ready, *[m for m in seen if not m.startswith("scripted/")]]))


@dataclass
class EvalTab:
    """What the app refreshes on page load: the arena's pool and the leaderboard's views."""

    pool: Any
    """The arena's model picker."""
    views: list[Any]
    """Leaderboard table, arena ratings and the plots."""
    refresh: Callable[[bool], tuple[Any, ...]]
    """Reads the views afresh (argument: normalized)."""
    pool_choices: Callable[[], Any]
    """Reads the arena's pool afresh."""

    @property
    def on_load(self) -> list[tuple[Any, Any, list[Any]]]:
        """Refreshed on every page load (see ``ui.gradio_app.TABS``): the arena's pool, then the views."""
        return [(self.pool_choices, None, [self.pool]), (self.refresh, None, self.views)]


def _stream_both(podium: Any, prompt: str, specs: dict[str, str]) -> Any:
    """Stream two answers at once; yields ``(side, text_so_far, finished)`` as tokens arrive."""
    events: queue.Queue = queue.Queue()

    def run(side: str, spec: str) -> None:
        ledger, started = podium.ledger, time.perf_counter()
        call = ledger.start(provider=spec.split("/", 1)[0], model=spec, turn=None, thread="arena", node="arena")
        try:
            for chunk in podium.models.model(spec).stream([HumanMessage(prompt)],
                                                          max_tokens=podium.settings.max_tokens):
                if chunk.text:
                    events.put((side, chunk.text, None))
            ledger.finish(call, outcome="ok", duration_s=time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - shown in that side's answer, the other side goes on
            message = exc.one_line() if isinstance(exc, PodiumError) else f"{type(exc).__name__}: {exc}"
            ledger.finish(call, outcome="failed", error_class=type(exc).__name__, error=message[:500],
                          duration_s=time.perf_counter() - started)
            events.put((side, f"\n\n⚠️ {message}", None))
        events.put((side, "", "done"))

    for side, spec in specs.items():
        threading.Thread(target=run, args=(side, spec), daemon=True).start()
    texts, finished = {"a": "", "b": ""}, 0
    while finished < 2:
        side, text, done = events.get()
        texts[side] += text
        finished += bool(done)
        yield texts["a"], texts["b"], finished == 2


def add_eval_tab(podium: Any, parts: Any = None) -> EvalTab:
    """Build the Evaluation tab inside the app's ``gr.Tabs`` (``parts``: the Chat tab's, unused here)."""
    from tools.evals.arena import Vote, open_arena
    from tools.evals.benchmarks import BENCHMARKS
    from tools.evals.leaderboard import PLOTS, board_for, export, figure

    settings = podium.settings
    arena = open_arena(settings.data_dir)
    offered = arena_pool(podium)  # read once per build: the registry reads GGUF headers

    def battle(prompt: str, pool: list[str], state: dict[str, Any]) -> Any:
        prompt = (prompt or "").strip()
        if not prompt:
            gr.Warning("Type a prompt for both models.")
            yield gr.skip(), gr.skip(), *[gr.skip()] * len(VOTES), gr.skip(), state
            return
        if len(set(pool or [])) < 2:
            gr.Warning("Pick at least two models for the arena.")
            yield gr.skip(), gr.skip(), *[gr.skip()] * len(VOTES), gr.skip(), state
            return
        a, b = random.sample(sorted(set(pool)), 2)
        state = {"a": a, "b": b, "prompt": prompt, "voted": False}
        locked = [gr.Button(interactive=False)] * len(VOTES)
        yield "", "", *locked, "Both models are answering…", state
        for text_a, text_b, done in _stream_both(podium, prompt, {"a": a, "b": b}):
            buttons = [gr.Button(interactive=done)] * len(VOTES)
            yield text_a, text_b, *buttons, "Vote, then the names are revealed." if done else gr.skip(), state

    def vote(winner: str, state: dict[str, Any]) -> tuple[Any, ...]:
        if not state.get("a") or state.get("voted"):
            gr.Warning("Start a battle first." if not state.get("a") else "This battle already has your vote.")
            return (gr.skip(), *[gr.skip()] * len(VOTES), state)
        arena.add([Vote(state["a"], state["b"], winner, source="human", question=state["prompt"])])
        state = {**state, "voted": True}
        return (reveal_text(state["a"], state["b"], winner), *[gr.Button(interactive=False)] * len(VOTES), state)

    def refresh(normalized: bool = False) -> tuple[Any, ...]:
        board = board_for(settings, normalized)
        headers, rows = leaderboard_rows(board.rows, board.benchmarks)
        ratings = arena_rows(arena.leaderboard())
        return (gr.Dataframe(value=rows or [["no results yet"] + ["-"] * (len(headers) - 1)], headers=headers),
                gr.Dataframe(value=ratings or [["no votes yet", "-", "-", "-", "-", "-"]], headers=ARENA_HEADERS),
                *[figure(board, kind) for kind in PLOTS])

    def download(normalized: bool) -> list[str]:
        folder = Path(tempfile.mkdtemp(prefix="podium-leaderboard-"))
        return [str(p) for p in export(board_for(settings, normalized), folder)]

    def run_benchmark(model: str, benchmark: str, limit: float | None, progress: Any = gr.Progress()) -> str:
        from tools.evals.runner import run_benchmark as run

        try:
            result = run(settings, model=(model or "").strip(), benchmark=benchmark, limit=int(limit or 0) or None,
                         ledger=podium.ledger, progress=lambda done, total: progress((done, total), unit="items"))
        except PodiumError as exc:
            raise gr.Error(exc.one_line(), duration=10, print_exception=False) from None
        notes = "".join(f"\n\n⚠️ {n}" for n in result.extra.get("notices", []))
        return result_line(result.to_json()) + notes

    with gr.Tab("Evaluation", id="evaluation"):
        with gr.Tabs():
            with gr.Tab("Arena", id="arena"):
                gr.Markdown("Two anonymous models answer the same prompt at once. Vote, then see who they were.")
                pool = gr.Dropdown(offered, value=offered, multiselect=True,
                                   allow_custom_value=True, label="Models in the arena", elem_id="arena-pool")
                prompt = gr.Textbox(label="Prompt", lines=2, elem_id="arena-prompt")
                go = gr.Button("Battle", variant="primary", elem_id="arena-go")
                with gr.Row():
                    answer_a = gr.Markdown(label="Model A", elem_id="arena-a", container=True, min_height=120)
                    answer_b = gr.Markdown(label="Model B", elem_id="arena-b", container=True, min_height=120)
                with gr.Row():
                    buttons = [gr.Button(label, interactive=False, elem_id=f"arena-vote-{k}")
                               for k, label in enumerate(VOTES.values())]
                reveal = gr.Markdown(elem_id="arena-reveal")
                state = gr.State({})
                outputs = [answer_a, answer_b, *buttons, reveal, state]
                go.click(battle, [prompt, pool, state], outputs, api_name="arena_battle", concurrency_limit=4)
                prompt.submit(battle, [prompt, pool, state], outputs, **PRIVATE, concurrency_limit=4)
                for button, winner in zip(buttons, VOTES, strict=True):
                    button.click(lambda s, w=winner: vote(w, s), [state], [reveal, *buttons, state],
                                 **PRIVATE, concurrency_limit=None)
            with gr.Tab("Leaderboard", id="leaderboard"):
                with gr.Row():
                    normalized = gr.Checkbox(label="Normalized (random guessing 0, perfect 100)", value=False)
                    reload = gr.Button("↻ Refresh", size="sm")
                    save = gr.Button("Export CSV + PNG", size="sm", elem_id="eval-export")
                table = gr.Dataframe(interactive=False, wrap=True, label="Benchmarks: score % [95% CI]",
                                     elem_id="eval-leaderboard")
                ratings = gr.Dataframe(interactive=False, label="Arena: Bradley-Terry ratings [95% CI]",
                                       elem_id="eval-arena")
                plots = []
                with gr.Row():
                    plots += [gr.Plot(label="Score per benchmark"), gr.Plot(label="Quality against cost")]
                with gr.Row():
                    plots += [gr.Plot(label="Quality against speed"), gr.Plot(label="Latency")]
                files = gr.File(label="Exports", file_count="multiple", elem_id="eval-files")
                views = [table, ratings, *plots]
                for trigger in (reload.click, normalized.change):
                    trigger(refresh, [normalized], views, **PRIVATE, concurrency_limit=None)
                save.click(download, [normalized], [files], api_name="leaderboard_export", concurrency_limit=None)
            with gr.Tab("Run", id="run"):
                gr.Markdown("Score a model on a benchmark (a fixed seeded sample with a limit; cached, resumable).")
                with gr.Row():
                    model = gr.Dropdown(offered, value=settings.model, allow_custom_value=True,
                                        label="Model", elem_id="eval-model")
                    bench = gr.Dropdown(list(BENCHMARKS), value="arc_easy", label="Benchmark", elem_id="eval-bench")
                    limit = gr.Number(value=20, precision=0, minimum=0, label="Limit (0: all)", elem_id="eval-limit")
                run = gr.Button("Run", variant="primary", elem_id="eval-run")
                outcome = gr.Markdown(elem_id="eval-result")
                run.click(run_benchmark, [model, bench, limit], [outcome], api_name="eval_run", concurrency_limit=1)
    def pool_choices() -> Any:
        choices = arena_pool(podium)
        return gr.Dropdown(choices=choices, value=choices)

    return EvalTab(pool, views, refresh, pool_choices)


def add_card_section(podium: Any) -> None:
    """Under the Models tab's table: one model's card (facts with sources, measured figures, scores)."""
    from models.cards import card
    from models.scores import open_scores

    def show(spec: str) -> list[list[str]]:
        try:
            described = podium.models.spec((spec or "").strip())
        except PodiumError as exc:
            raise gr.Error(exc.one_line(), duration=10, print_exception=False) from None
        data = card(described, scores=open_scores(podium.settings.data_dir), ledger=podium.ledger)
        return [list(line) for line in card_lines(data)]

    with gr.Row():
        spec = gr.Dropdown(arena_pool(podium), value=podium.settings.model, allow_custom_value=True,
                           label="Model card", scale=3, elem_id="card-model")
        go = gr.Button("Show card", scale=1, elem_id="card-show")
    table = gr.Dataframe(headers=["fact", "value", "source"], interactive=False, wrap=True, elem_id="model-card")
    go.click(show, [spec], [table], api_name="model_card", concurrency_limit=None)
