"""Which model answers each step: policies, dollar caps, cooldowns, retries and timeouts.

The chain of a step is its primary model (per-agent setting, ``--model`` or
``PODIUM_MODEL``) followed by the fallbacks. A policy orders it:

- ``local-first`` (default): the primary first, then local models, then remote
  ones, so remote models only answer when local ones fail (escalation);
- ``quality-first``: remote models first, the local model as the safety net;
- ``budget``: like ``quality-first`` while the dollar caps allow it;
- ``best-for``: the cheapest model of the chain whose score on the benchmark standing for
  the step's kind of work (``PODIUM_BEST_FOR``, over :data:`BEST_FOR`) is within
  ``PODIUM_BEST_FOR_MARGIN`` points of the best score there; the ledger row says which score chose it.

Dollar caps (``PODIUM_BUDGET_THREAD_USD``, ``PODIUM_BUDGET_DAY_USD``) hold under
every policy: a remote call whose worst-case cost would cross one is not made,
and the local model answers instead. A provider whose last ``cooldown_after``
calls all failed with retryable errors is skipped for ``cooldown_s``; the
ledger is the memory, so this holds across processes too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from models.spec import ModelSpec
from models.timeouts import DEFAULT_TIMEOUTS, timeout_for  # noqa: F401 - re-exported
from podium.errors import ConfigError, ModelError, PodiumError
from podium.settings import DEFAULT_MODEL, POLICIES, Settings

if TYPE_CHECKING:
    from models.ledger import Ledger
    from models.registry import ModelPool

_FAILED = ("retried", "fell_back", "failed")

BEST_FOR: dict[str, str] = {"chat": "ifeval", "knowledge": "mmlu", "tools": "gsm8k", "evaluation": "mmlu",
                            "datasets": "ifeval", "conductor": "ifeval"}
"""The benchmark that stands for each step under the ``best-for`` policy (``PODIUM_BEST_FOR`` overrides)."""


def chain(primary: str, fallbacks: Iterable[str]) -> list[str]:
    """The primary model, then the fallbacks, each once."""
    return list(dict.fromkeys([primary, *fallbacks]))


def order(specs: list[ModelSpec], policy: str) -> list[ModelSpec]:
    """Order a chain by policy (stable: ties keep the configured order)."""
    if policy == "local-first":
        return specs[:1] + sorted(specs[1:], key=lambda s: not s.local)
    return sorted(specs, key=lambda s: s.local)  # quality-first and budget: remote models first


@dataclass
class Route:
    """The models one step tries, in order, and what the user should be told about the choice."""

    candidates: list[ModelSpec]
    notices: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    """Why a model is in the route, by spec, for its ledger row (budget, cooldown...)."""


def cooling(ledger: Ledger, provider: str, settings: Settings, now: float | None = None,
            endpoint: str | None = None) -> float:
    """Seconds a provider at ``endpoint`` (its server's URL) still cools down (0 when it may be called).

    Per endpoint: a server that was down says nothing about the one ``OPENAI_BASE_URL`` names now.
    """
    if not settings.cooldown_after or not settings.cooldown_s:
        return 0.0
    rows = ledger.recent(provider, settings.cooldown_after, endpoint)
    if len(rows) < settings.cooldown_after or not all(o in _FAILED and r for _, o, r in rows):
        return 0.0
    left = rows[0][0] + settings.cooldown_s - (now or time.time())
    return max(left, 0.0)


def _server(spec: ModelSpec) -> tuple[str, str | None]:
    """``(provider, endpoint)``: what a cooldown is kept for."""
    return spec.provider, spec.extra.get("base_url")


def day_start(now: float | None = None) -> float:
    """Epoch seconds of the last local midnight (the budget day)."""
    today = datetime.fromtimestamp(now or time.time()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today.timestamp()


def _over_budget(spec: ModelSpec, estimate: float, spent: dict[str, float], settings: Settings) -> str:
    caps = (("thread", settings.budget_thread_usd, "PODIUM_BUDGET_THREAD_USD"),
            ("day", settings.budget_day_usd, "PODIUM_BUDGET_DAY_USD"))
    for scope, cap, name in caps:
        if cap is not None and spent[scope] + estimate > cap:
            return (f"budget: {spec.spec} could cost up to ${estimate:.4f} and this {scope} has spent "
                    f"${spent[scope]:.4f} of its ${cap:.4f} cap ({name})")
    return ""


def _local(specs: list[ModelSpec], pool: ModelPool, settings: Settings) -> ModelSpec:
    for spec in specs:
        if spec.local:
            return spec
    configured = pool.spec(settings.model)
    return configured if configured.local else pool.spec(DEFAULT_MODEL)


def best_for(specs: list[ModelSpec], node: str, settings: Settings) -> Route:
    """Order a chain for the ``best-for`` policy from the recorded benchmark scores (see the module docstring).

    Among the models scoring within the margin of the best, the cheapest (per 1M tokens, in plus
    out) goes first, the better score breaking ties; the others follow by score, and models
    without a score last, in their configured order.
    """
    from models.scores import open_scores

    benchmark = {**BEST_FOR, **settings.best_for}.get(node)
    if not benchmark:
        return Route(specs, notices=[f"best-for: no benchmark stands for {node!r} (PODIUM_BEST_FOR); "
                                     "keeping the configured order"])
    best = open_scores(settings.data_dir).best()
    scored = {s.spec: best[(s.spec, benchmark)].score for s in specs if (s.spec, benchmark) in best}
    if not scored:
        return Route(specs, notices=[f"best-for: no model of the chain has a {benchmark} score yet "
                                     f"(podium eval run --benchmark {benchmark}); keeping the configured order"])
    top = max(scored.values())
    margin = settings.best_for_margin
    good = [s for s in specs if s.spec in scored and scored[s.spec] >= top - margin]
    chosen = min(good, key=lambda s: (s.price_in + s.price_out, -scored[s.spec]))
    rest = sorted((s for s in specs if s.spec in scored and s is not chosen), key=lambda s: -scored[s.spec])
    unscored = [s for s in specs if s.spec not in scored]
    why = (f"best-for {node}: {benchmark} {scored[chosen.spec]:.1f} (best {top:.1f}, margin {margin:g}); "
           "cheapest within the margin")
    return Route([chosen, *rest, *unscored], notes={chosen.spec: why})


def plan(settings: Settings, pool: ModelPool, ledger: Ledger | None, *, models: list[str], policy: str,
         thread: str | None, prompt_tokens: Callable[[ModelSpec], int] | None = None, node: str = "") -> Route:
    """Decide which models a step tries, in order, skipping cooling providers and unaffordable calls."""
    specs = [pool.spec(s) for s in models]
    route = best_for(specs, node, settings) if policy == "best-for" else Route(order(specs, policy))
    if ledger is None:
        return route
    remote = [s for s in route.candidates if not s.local]
    if remote and settings.cooldown_after:
        now = time.time()
        waits = {key: cooling(ledger, key[0], settings, now, key[1]) for key in {_server(s) for s in remote}}
        kept = [s for s in route.candidates if s.local or not waits[_server(s)]]
        for (provider, endpoint), left in waits.items():
            if left:
                at = f" at {endpoint}" if endpoint else ""
                route.notices.append(f"{provider}{at} is cooling down after {settings.cooldown_after} failed calls "
                                     f"({left:.0f}s left); skipping it")
        if kept:
            route.candidates = kept
        elif any(waits.values()):
            route.notices.append("every model in the chain is cooling down; trying them anyway")
    capped = settings.budget_thread_usd is not None or settings.budget_day_usd is not None
    if capped and any(not s.local and (s.price_in or s.price_out) for s in route.candidates):
        _apply_budget(route, settings, pool, ledger, thread, prompt_tokens)
    return route


def _apply_budget(route: Route, settings: Settings, pool: ModelPool, ledger: Ledger, thread: str | None,
                  prompt_tokens: Callable[[ModelSpec], int] | None) -> None:
    spent = {"thread": ledger.spent(thread=thread) if thread else 0.0, "day": ledger.spent(since=day_start())}
    kept, why = [], ""
    for spec in route.candidates:
        if not spec.local:
            # Worst case: the whole prompt plus every token the answer may use.
            estimate = spec.cost(prompt_tokens(spec) if prompt_tokens else 0, settings.max_tokens)
            reason = _over_budget(spec, estimate, spent, settings)
            if reason:
                why = why or reason
                continue
        kept.append(spec)
    if not why:
        return
    local = _local(kept, pool, settings)
    if local not in kept:
        kept.append(local)
    route.candidates = kept
    route.notes[local.spec] = why
    route.notices.append(f"{why}; answering with the local model {local.spec}")


def retry_delay(settings: Settings, attempt: int, error: PodiumError, rng: random.Random | None = None) -> float | None:
    """Seconds to wait before retrying a model after failed attempt number ``attempt``, or None to move on.

    Exponential backoff with jitter (never below half the step, so retries do not bunch);
    a server's ``Retry-After`` is honoured, unless it asks for more than ``backoff_max_s``.
    """
    if not isinstance(error, ModelError) or not error.retryable or attempt > settings.retries:
        return None
    step = min(settings.backoff_s * 2 ** (attempt - 1), settings.backoff_max_s)
    delay = step * (0.5 + (rng or random).random() / 2)
    if error.retry_after_s is not None:
        if error.retry_after_s > settings.backoff_max_s:
            return None
        delay = max(delay, error.retry_after_s)
    return delay


def _resolve(pool: ModelPool, spec: str, setting: str) -> ModelSpec:
    try:
        return pool.spec(spec)
    except ConfigError as exc:
        if exc.setting not in ("", "model"):
            raise  # it already names a more precise setting (OPENAI_BASE_URL, OPENAI_API_KEY...)
        raise ConfigError(f"{setting}: {exc.message}", setting=setting, hint=exc.hint) from exc


def check(settings: Settings, pool: ModelPool, *, model: str = "", fallbacks: list[str] | None = None,
          agent_models: dict[str, str] | None = None, policy: str = "", nodes: Iterable[str] = ()) -> None:
    """Validate a turn's routing before it starts; every problem is a one-line error naming its setting."""
    from models.prices import load_table
    from models.registry import PROVIDERS

    if policy and policy not in POLICIES:
        raise ConfigError(f"--policy: unknown routing policy {policy!r}", setting="--policy",
                          hint=f"use one of {', '.join(POLICIES)}")
    if (policy or settings.policy) == "budget" and settings.budget_thread_usd is None \
            and settings.budget_day_usd is None:
        raise ConfigError("PODIUM_POLICY=budget needs a dollar cap", setting="PODIUM_POLICY",
                          hint="set PODIUM_BUDGET_THREAD_USD and/or PODIUM_BUDGET_DAY_USD")
    for provider in settings.timeouts:
        if provider not in PROVIDERS:
            raise ConfigError(f"PODIUM_TIMEOUTS names unknown provider {provider!r}", setting="PODIUM_TIMEOUTS",
                              hint=f"use {', '.join(PROVIDERS)}")
    load_table(settings.prices_file)
    nodes = set(nodes)
    for source, mapping in (("PODIUM_AGENT_MODELS", settings.agent_models), ("agent_models", agent_models or {})):
        for node, spec in mapping.items():
            if nodes and node not in nodes:
                raise ConfigError(f"{source} names unknown agent {node!r}", setting=source,
                                  hint=f"agents: {', '.join(sorted(nodes))}")
            _resolve(pool, spec, source)
    _resolve(pool, model, "--model") if model else _resolve(pool, settings.model, "PODIUM_MODEL")
    source = "PODIUM_FALLBACKS" if fallbacks is None or list(fallbacks) == settings.fallbacks else "--fallback"
    for spec in settings.fallbacks if fallbacks is None else fallbacks:
        _resolve(pool, spec, source)
