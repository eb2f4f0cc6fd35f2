"""Run one benchmark on one model: sample, score item by item (cached, resumable), aggregate with intervals."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import llamacpp
from models.registry import ModelPool
from models.scores import Result, open_scores
from models.spec import ModelSpec
from podium.errors import ConfigError
from podium.settings import Settings
from tools.evals.benchmarks import get_benchmark
from tools.evals.cache import ItemCache
from tools.evals.generate import ChatGeneration, LocalCompletion, no_logprobs_notice
from tools.evals.loglik import LoglikScorer
from tools.evals.stats import bootstrap_ci
from tools.evals.tasks import Benchmark, Item, letters, sample

Progress = Callable[[int, int], None]
"""Called with (items done, items in the run) as items finish."""

_LETTER_PROMPT = "\nAnswer with the letter of the correct option only.\nAnswer:"
_SCORERS: dict[int, LoglikScorer] = {}


def can_score_loglik(spec: ModelSpec) -> bool:
    """Whether Podium can read per-token log-probabilities of this model (a local GGUF)."""
    return spec.local and spec.path is not None and spec.path.suffix == ".gguf"


@dataclass
class Run:
    """What one evaluation needs, resolved once."""

    settings: Settings
    spec: ModelSpec
    bench: Benchmark
    mode: str
    items: list[Item]
    model_id: str
    shots: int
    seed: int
    chat: bool = False
    max_tokens: int | None = None
    notices: list[str] = field(default_factory=list)
    total: int = 0
    """Items in the whole benchmark (``len(items)`` is the ``--limit`` sample)."""


def _loaded(spec: ModelSpec, settings: Settings) -> Any:
    return llamacpp.load(spec.path, spec.context_length, settings.n_threads,  # type: ignore[arg-type]
                         spec.extra.get("lora_path"))


def _scorer(spec: ModelSpec, settings: Settings) -> LoglikScorer:
    loaded = _loaded(spec, settings)
    if id(loaded) not in _SCORERS:
        _SCORERS[id(loaded)] = LoglikScorer(loaded, settings.n_threads or llamacpp.default_threads())
    return _SCORERS[id(loaded)]


def _score_mc(scorer: LoglikScorer, item: Item) -> dict[str, Any]:
    """acc and acc_norm (log-likelihood per character of the choice) of one multiple-choice item."""
    before = scorer.decoded
    if item.contexts:  # Winogrande: the contexts differ, the continuation is shared
        lls = []
        for context in item.contexts:
            head, cont = scorer.encode_pair(context, item.delimiter + item.choices[0])
            lls.append(scorer.score(head, [cont])[0].logprob)
        metrics = {"acc": float(int(np.argmax(lls)) == item.gold)}
    else:
        pairs = [scorer.encode_pair(item.prompt, item.delimiter + choice) for choice in item.choices]
        lls = [c.logprob for c in scorer.score(pairs[0][0], [cont for _, cont in pairs])]
        normed = [ll / max(len(choice), 1) for ll, choice in zip(lls, item.choices, strict=True)]
        metrics = {"acc": float(int(np.argmax(lls)) == item.gold),
                   "acc_norm": float(int(np.argmax(normed)) == item.gold)}
    return {"metrics": metrics, "tokens": scorer.decoded - before, "cost": 0.0}


def letter_answer(text: str, n: int) -> int | None:
    """The option a letter answer names (``B``, ``(B)``, ``B.``, ``The answer is B``), or ``None``."""
    valid = "".join(letters(n))
    match = re.search(rf"(?<![A-Za-z])([{valid}])(?![A-Za-z])", text.strip())
    return valid.index(match.group(1)) if match else None


def _worker(run: Run, pool: ModelPool, ledger: Any) -> Callable[[Item], dict[str, Any]]:
    """The function that scores one item in this run's mode."""
    if run.mode == "loglik":
        scorer = _scorer(run.spec, run.settings)
        return lambda item: _score_mc(scorer, item)
    if run.chat or not can_score_loglik(run.spec):
        generator: Any = ChatGeneration(pool.model(run.spec.spec), run.spec, run.settings, ledger, run.bench.name)
    else:
        generator = LocalCompletion(_loaded(run.spec, run.settings), _scorer(run.spec, run.settings).add_bos)
    chat = isinstance(generator, ChatGeneration)

    def score(item: Item) -> dict[str, Any]:
        limit = min(run.max_tokens or item.max_tokens, item.max_tokens)
        if run.mode == "generative-mc":
            out = generator.generate(item.question + _LETTER_PROMPT, stop=["\n"], max_tokens=min(limit, 8))
            metrics = {"acc": float(letter_answer(out.text, len(item.choices)) == item.gold)}
        else:
            prompt, stop = item.prompt, item.stop
            if chat:  # a chat answer restates, fences and explains: completion stops such as "\ndef" would cut it
                prompt, stop = item.chat_prompt or prompt, stop if item.chat_stop is None else item.chat_stop
            out = generator.generate(prompt, stop=stop, max_tokens=limit)
            metrics = run.bench.score(item, out.text)  # type: ignore[misc]
        return {"metrics": metrics, "tokens": out.prompt_tokens + out.completion_tokens, "cost": out.cost_usd,
                "answer": out.text[:500]}
    score.parallel = generator.parallel  # type: ignore[attr-defined]
    return score


def prepare(settings: Settings, *, model: str, benchmark: str, limit: int | None = None, shots: int | None = None,
            seed: int = 0, data: Path | None = None, chat: bool = False, max_tokens: int | None = None,
            pool: ModelPool | None = None) -> Run:
    """Check every option and load the items; nothing is scored yet (a mistake fails here, at once)."""
    bench = get_benchmark(benchmark)
    if shots is not None and shots < 0:
        raise ConfigError(f"--shots must be 0 or more ({shots})", setting="--shots", hint=f"{bench.name} uses "
                          f"{bench.shots} by default")
    if max_tokens is not None and max_tokens < 1:
        raise ConfigError(f"--max-tokens must be at least 1 ({max_tokens})", setting="--max-tokens",
                          hint="leave it out to use the benchmark's own limit")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1 ({limit})", setting="--limit", hint="use --limit 20")
    spec = (pool or ModelPool(settings)).spec(model)
    shots = bench.shots if shots is None else shots
    every = bench.load(data, shots, seed)
    items = sample(every, limit, seed)
    mode, notices = ("generative" if bench.kind == "gen" else "loglik"), []
    if mode == "loglik" and not can_score_loglik(spec):
        mode = "generative-mc"
        notices.append(no_logprobs_notice(spec, bench.name))
    cache = ItemCache(settings.data_dir / "evals.sqlite")
    model_id = cache.file_hash(spec.path) if spec.path else f"{spec.spec}@{spec.extra.get('base_url') or ''}"
    if spec.extra.get("lora_path"):  # a fine-tune shares its base's file, not its answers
        model_id += "+lora:" + cache.file_hash(Path(spec.extra["lora_path"]))
    if chat:
        model_id += "+chat"
    return Run(settings, spec, bench, mode, items, model_id, shots, seed, chat, max_tokens, notices, len(every))


def execute(run: Run, *, progress: Progress | None = None, pool: ModelPool | None = None, ledger: Any = None) -> Result:
    """Score the run's items (cached ones are reused), record the result, return it.

    Each item is committed to the cache as it finishes, so an interrupted run (Ctrl-C, a
    provider failing for good) resumes where it stopped when run again.
    """
    cache = ItemCache(run.settings.data_dir / "evals.sqlite")
    keys = [ItemCache.key(run.model_id, run.bench.name, run.mode, item.id,
                          item.prompt + "\x1f".join(item.contexts + item.choices) + str(run.max_tokens))
            for item in run.items]
    outcomes = cache.get_many(keys)
    todo = [(key, item) for key, item in zip(keys, run.items, strict=True) if key not in outcomes]
    cached, total = len(run.items) - len(todo), len(run.items)
    if progress:
        progress(cached, total)
    started = time.perf_counter()
    if todo:
        score = _worker(run, pool or ModelPool(run.settings), ledger)

        def one(pair: tuple[str, Item]) -> tuple[str, dict[str, Any]]:
            key, item = pair
            outcome = score(pair[1])
            cache.put(key, run.spec.spec, run.bench.name, item.id, outcome)
            return key, outcome

        parallel = getattr(score, "parallel", 1)
        workers = ThreadPoolExecutor(max_workers=parallel) if parallel > 1 else None
        try:  # a local model scores in this thread, so Ctrl-C stops at the item in flight
            for done, (key, outcome) in enumerate(workers.map(one, todo) if workers else map(one, todo),
                                                  start=cached + 1):
                outcomes[key] = outcome
                if progress:
                    progress(done, total)
        finally:
            if workers:
                workers.shutdown(wait=True, cancel_futures=True)  # requests not yet sent are dropped
    seconds = time.perf_counter() - started
    result = summarize(run, [outcomes[k] for k in keys], seconds, scored=len(todo))
    open_scores(run.settings.data_dir).add(result)
    return result


def summarize(run: Run, outcomes: list[dict[str, Any]], seconds: float, scored: int) -> Result:
    """Scores with 95 % bootstrap intervals, per metric and per subtask."""
    primary = "acc" if run.mode == "generative-mc" else run.bench.metric
    names = sorted({name for o in outcomes for name in o["metrics"] if not name.startswith("_")})
    metrics: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [o["metrics"].get(name, 0.0) for o in outcomes]
        weights = [o["metrics"].get("_weight", 1) for o in outcomes] if name.startswith("inst_level") else None
        mean = float(np.average(values, weights=weights)) * 100
        metrics[name] = {"score": round(mean, 2), "ci95": [round(x, 2) for x in bootstrap_ci(values, run.seed)]}
    groups: dict[str, list[float]] = {}
    for item, outcome in zip(run.items, outcomes, strict=True):
        if item.group:
            groups.setdefault(item.group, []).append(outcome["metrics"].get(primary, 0.0))
    costs = [o["cost"] for o in outcomes]
    extra: dict[str, Any] = {"metrics": metrics, "cached": len(outcomes) - scored, "notices": run.notices}
    if groups:
        extra["groups"] = {g: round(float(np.mean(v)) * 100, 2) for g, v in sorted(groups.items())}
    label = "acc (generative-mc: letter answers)" if run.mode == "generative-mc" else primary
    return Result(model=run.spec.spec, benchmark=run.bench.name, metric=label, score=metrics[primary]["score"],
                  ci95=tuple(metrics[primary]["ci95"]), n=len(outcomes), total=run.total, shots=run.shots,
                  seed=run.seed,
                  mode=run.mode, seconds=seconds, items_per_s=scored / seconds if scored and seconds > 0 else 0.0,
                  tokens=int(sum(o["tokens"] or 0 for o in outcomes)),
                  cost_usd=None if any(c is None for c in costs) else float(sum(costs)),
                  random_baseline=round(float(np.mean([i.baseline for i in run.items])) * 100, 2), extra=extra)


def run_benchmark(settings: Settings, *, model: str, benchmark: str, progress: Progress | None = None,
                  ledger: Any = None, **options: Any) -> Result:
    """Prepare and execute in one call (the agent's and the app's entry point)."""
    pool = ModelPool(settings)
    return execute(prepare(settings, model=model, benchmark=benchmark, pool=pool, **options), progress=progress,
                   pool=pool, ledger=ledger)
