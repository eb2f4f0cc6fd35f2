"""Routing as pure units: policies, retries, cooldowns, dollar caps, settings and their errors."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from models import routing
from models.failures import classify, error_class, retry_after
from models.ledger import Ledger
from models.prices import load_table
from models.registry import ModelPool
from models.spec import ModelSpec
from podium.errors import ConfigError, ModelError
from podium.settings import Settings

LOCAL = "llamacpp/smollm2-135m"


def spec(name: str, local: bool) -> ModelSpec:
    return ModelSpec(spec=name, provider=name.split("/")[0], name=name.split("/")[1], local=local)


@pytest.fixture
def pool(settings: Settings) -> ModelPool:
    return ModelPool(settings)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite")


def test_policies_order_the_chain():
    a, b, c, d = spec("openai/a", False), spec("llamacpp/b", True), spec("openai/c", False), spec("llamacpp/d", True)
    # local-first keeps the primary first, then prefers local models over remote ones.
    assert routing.order([a, b, c, d], "local-first") == [a, b, d, c]
    assert routing.order([b, a, c, d], "local-first") == [b, d, a, c]
    # quality-first and budget try remote models first, in their configured order.
    assert routing.order([b, a, d, c], "quality-first") == [a, c, b, d]
    assert routing.order([b, a, d, c], "budget") == [a, c, b, d]
    assert routing.chain("x/1", ["x/2", "x/1", "x/3", "x/2"]) == ["x/1", "x/2", "x/3"]


def test_retry_delay_backs_off_exponentially_with_jitter_and_honours_retry_after(settings):
    s = settings.model_copy(update={"backoff_s": 1.0, "backoff_max_s": 10.0, "retries": 3})
    rng = random.Random(7)
    transient = ModelError("500", retryable=True)
    for attempt, step in ((1, 1.0), (2, 2.0), (3, 4.0)):
        delays = {routing.retry_delay(s, attempt, transient, rng) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays) and len(delays) > 40  # jittered, never bunched below half
    assert routing.retry_delay(s, 4, transient, rng) is None  # out of retries: next model
    assert routing.retry_delay(s, 1, ModelError("401", retryable=False)) is None  # never retried
    assert routing.retry_delay(s, 1, ModelError("429", retryable=True, retry_after_s=3.0), rng) == 3.0
    assert routing.retry_delay(s, 1, ModelError("429", retryable=True, retry_after_s=60.0)) is None  # too long


def test_retry_after_headers_and_error_classes():
    class Response:
        def __init__(self, headers):
            self.headers = headers

    class Limited(Exception):
        status_code = 429

        def __init__(self, headers):
            super().__init__("rate limited")
            self.response = Response(headers)

    assert retry_after(Limited({"retry-after": "2"})) == 2.0
    assert retry_after(Limited({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after(Limited({"retry-after": date})) <= 30
    assert retry_after(Limited({"retry-after": "soon"})) is None
    error = classify(Limited({"retry-after": "2"}), provider="openai", model="openai/x")
    assert error.retryable and error.status == 429 and error.retry_after_s == 2.0
    assert not classify(type("AuthenticationError", (Exception,), {"status_code": 401})(), provider="openai",
                        model="openai/x").retryable
    refused = classify(type("NotFoundError", (Exception,), {"status_code": 404})("no such model"),
                       provider="openai", model="openai/x")
    assert not refused.retryable and "OPENAI_BASE_URL" in refused.hint
    assert classify(json.JSONDecodeError("x", "{", 1), provider="openai", model="openai/x").retryable
    assert classify(ConnectionRefusedError(), provider="openai", model="openai/x", base_url="http://h/v1").retryable

    from langchain_openai.chat_models.base import OpenAIRateLimitError

    assert OpenAIRateLimitError.__name__ != "RateLimitError"
    assert error_class(OpenAIRateLimitError.__new__(OpenAIRateLimitError)) == "RateLimitError"


def test_bad_routing_settings_are_one_line_errors_naming_the_setting(tmp_path):
    cases = [({"policy": "fastest"}, "PODIUM_POLICY"), ({"budget_thread_usd": -1}, "PODIUM_BUDGET_THREAD_USD"),
             ({"budget_day_usd": "-0.5"}, "PODIUM_BUDGET_DAY_USD"), ({"timeouts": "openai=-3"}, "PODIUM_TIMEOUTS"),
             ({"agent_models": "{oops"}, "PODIUM_AGENT_MODELS"), ({"retries": -1}, "PODIUM_RETRIES")]
    for values, setting in cases:
        with pytest.raises(ConfigError) as info:
            Settings(home=tmp_path, **values)
        assert info.value.setting == setting and "\n" not in info.value.one_line()
    parsed = Settings(home=tmp_path, agent_models="chat=scripted/echo, conductor=llamacpp/smollm2-135m",
                      timeouts='{"openai": 7}')
    assert parsed.agent_models == {"chat": "scripted/echo", "conductor": LOCAL}
    assert routing.timeout_for(parsed, "openai") == 7 and routing.timeout_for(parsed, "llamacpp") == 300
    assert routing.timeout_for(parsed, "scripted") == parsed.request_timeout_s


def test_check_names_the_setting_of_an_unknown_model_or_policy(settings, pool, tmp_path):
    routing.check(settings, pool, fallbacks=[], nodes=["chat", "conductor"])
    problems = [
        (dict(fallbacks=["llamacpp/no-such-model"]), "--fallback"),
        (dict(model="nope/x"), "--model"),
        (dict(policy="cheapest"), "--policy"),
        (dict(agent_models={"chat": "llamacpp/missing"}), "agent_models"),
        (dict(agent_models={"astrologer": LOCAL}, nodes=["chat"]), "agent_models"),
    ]
    for kwargs, setting in problems:
        with pytest.raises(ConfigError) as info:
            routing.check(settings, pool, **kwargs)
        assert info.value.setting == setting, kwargs
    for updates, setting in [({"fallbacks": ["openai/"]}, "PODIUM_FALLBACKS"), ({"policy": "budget"}, "PODIUM_POLICY"),
                             ({"timeouts": {"bedrock": 3.0}}, "PODIUM_TIMEOUTS"),
                             ({"openai_base_url": "localhost:8000", "model": "openai/x"}, "OPENAI_BASE_URL")]:
        with pytest.raises(ConfigError) as info:
            routing.check(settings.model_copy(update=updates), ModelPool(settings.model_copy(update=updates)))
        assert setting in (info.value.setting, info.value.message), updates
    bad = tmp_path / "prices.json"
    bad.write_text('{"gpt-4o": [1]}')
    with pytest.raises(ConfigError) as info:
        routing.check(settings.model_copy(update={"prices_file": bad}), pool)
    assert info.value.setting == "PODIUM_PRICES_FILE"


def test_price_table_forms(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"gpt-4o-mini": [1, 2], "openai/special": {"input": 3, "output": 4},
                                "modal/qwen": [0, 0, 0.0005]}))
    table = load_table(path)
    assert table.lookup("openai/gpt-4o-mini", "gpt-4o-mini")[0] == (1.0, 2.0)
    assert table.lookup("openai/special", "special")[0] == (3.0, 4.0)
    assert table.lookup("modal/qwen", "qwen") == ((0.0, 0.0), 0.0005)
    assert table.lookup("openai/unknown", "unknown") == (None, 0.0)
    with pytest.raises(ConfigError, match="PODIUM_PRICES_FILE|cannot be read") as info:
        load_table(tmp_path / "absent.json")
    assert info.value.setting == "PODIUM_PRICES_FILE"


DOWN = "http://127.0.0.1:9/v1"


def _fail(ledger: Ledger, provider: str, n: int, *, retryable: int = 1, endpoint: str = DOWN) -> None:
    for _ in range(n):
        call = ledger.start(provider=provider, model=f"{provider}/x", turn="t", thread="th", node="chat",
                            endpoint=endpoint)
        ledger.finish(call, outcome="fell_back", retryable=retryable, error_class="InternalServerError",
                      duration_s=0.01)


def test_cooldown_skips_a_provider_that_keeps_failing(settings, pool, ledger):
    s = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1", "cooldown_after": 3,
                                    "cooldown_s": 60.0})
    pool = ModelPool(s)
    models = ["openai/gpt-4o-mini", LOCAL]
    _fail(ledger, "openai", 2)
    assert [c.spec for c in routing.plan(s, pool, ledger, models=models, policy="local-first", thread="th")
            .candidates] == models  # two failures are not "keeps failing"
    _fail(ledger, "openai", 1)
    route = routing.plan(s, pool, ledger, models=models, policy="local-first", thread="th")
    assert [c.spec for c in route.candidates] == [LOCAL]
    assert f"openai at {DOWN} is cooling down after 3 failed calls" in route.notices[0]
    assert routing.cooling(ledger, "openai", s, now=time.time() + 61, endpoint=DOWN) == 0  # it may try again later
    fixed = s.model_copy(update={"openai_base_url": "http://127.0.0.1:8/v1"})
    assert [c.spec for c in routing.plan(fixed, ModelPool(fixed), ledger, models=models, policy="local-first",
                                         thread="th").candidates] == models, "a fixed OPENAI_BASE_URL is tried"
    ok = ledger.start(provider="openai", model="openai/x", turn="t", thread="th", node="chat", endpoint=DOWN)
    ledger.finish(ok, outcome="ok")
    assert routing.cooling(ledger, "openai", s, endpoint=DOWN) == 0  # one success ends the streak
    _fail(ledger, "openai", 3, retryable=0)  # 401s say "fix your key" every time, they do not cool down
    assert routing.cooling(ledger, "openai", s, endpoint=DOWN) == 0


def test_thread_and_day_caps_route_to_the_local_model(settings, ledger):
    s = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1", "budget_thread_usd": 0.01,
                                    "max_tokens": 100})
    pool = ModelPool(s)
    models = ["openai/gpt-4o"]  # $2.50 / $10 per 1M: 100 answer tokens cost at most $0.001

    def plan(settings: Settings, thread: str = "th") -> routing.Route:
        return routing.plan(settings, pool, ledger, models=models, policy="budget", thread=thread,
                            prompt_tokens=lambda spec: 1000)

    assert [c.spec for c in plan(s).candidates] == ["openai/gpt-4o"]  # $0.0035 of $0.01
    spent = ledger.start(provider="openai", model="openai/gpt-4o", turn="t", thread="th", node="chat")
    ledger.finish(spent, outcome="ok", cost_usd=0.007)
    route = plan(s)
    assert [c.spec for c in route.candidates] == [LOCAL]
    assert "PODIUM_BUDGET_THREAD_USD" in route.notices[0] and LOCAL in route.notices[0]
    assert route.notes[LOCAL].startswith("budget:")
    assert [c.spec for c in plan(s, thread="other").candidates] == ["openai/gpt-4o"]  # a per-thread cap
    day = s.model_copy(update={"budget_thread_usd": None, "budget_day_usd": 0.009})
    route = plan(day, thread="other")
    assert [c.spec for c in route.candidates] == [LOCAL] and "PODIUM_BUDGET_DAY_USD" in route.notices[0]
    assert routing.day_start() <= time.time() < routing.day_start() + 86400
