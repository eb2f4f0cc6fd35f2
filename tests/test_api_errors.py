"""Every bad request gets a clear OpenAI-shaped error with the right status, never a 500 or a traceback."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from graph.app import PodiumApp
from podium.settings import Settings
from tests.fault_server import FaultServer
from ui.api import create_app
from ui.api_keys import KeyStore, open_keys

CHAT = "/v1/chat/completions"
HELLO = {"model": "podium", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def podium(tmp_path) -> PodiumApp:
    return PodiumApp(Settings(home=tmp_path, model="scripted/echo"))


@pytest.fixture
def api(podium) -> TestClient:
    return TestClient(create_app(podium, open_keys(podium.settings), max_body_bytes=64 * 1024))


def error(response, status: int, code: str | None = None, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"} and body["message"]
    assert "Traceback" not in response.text
    if code is not None:
        assert body["code"] == code, body
    if param is not None:
        assert body["param"] == param, body
    return body


def test_a_plain_request_works(api):
    response = api.post(CHAT, json=HELLO)
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "You said: hello"
    assert response.headers["x-podium-thread"]


@pytest.mark.parametrize(("body", "param", "code"), [
    ({**HELLO, "max_token": 5}, "max_token", "unknown_parameter"),
    ({**HELLO, "temperature": 9}, "temperature", "invalid_value"),
    ({**HELLO, "n": 2}, "n", "invalid_value"),
    ({"model": "podium"}, "messages", "missing_required_parameter"),
    ({**HELLO, "messages": []}, "messages", "invalid_value"),
    ({**HELLO, "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role", "invalid_value"),
    ({**HELLO, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     None, "invalid_value"),
    ({**HELLO, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
     "messages.1", "invalid_value"),
    ({**HELLO, "messages": [{"role": "user", "content": "   "}]}, "messages.0", "invalid_value"),
    ({**HELLO, "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "invalid_value"),
    ({**HELLO, "podium": {"thread_id": "no spaces allowed"}}, "podium.thread_id", "invalid_value"),
    ({**HELLO, "podium": {"multitask_strategy": "later"}}, "podium.multitask_strategy", "invalid_value"),
    ({**HELLO, "response_format": {"type": "xml"}}, "response_format", "invalid_value"),
    ({**HELLO, "model": "scripted/echo", "tools": [{"type": "function", "function": {"name": "f"}}]},
     "tools", "tools_unsupported"),
])
def test_invalid_fields_are_400_naming_the_field(api, body, param, code):
    found = error(api.post(CHAT, json=body), 400, code)
    if param is not None:
        assert found["param"] == param


def test_malformed_json_wrong_content_type_and_huge_bodies(api):
    error(api.post(CHAT, content=b'{"model": "podium", ', headers={"Content-Type": "application/json"}), 400,
          "invalid_json")
    error(api.post(CHAT, content=json.dumps(HELLO), headers={"Content-Type": "text/plain"}), 415,
          "unsupported_media_type", "Content-Type")
    error(api.post(CHAT, content=json.dumps(HELLO)), 415)  # no content type at all
    big = {**HELLO, "messages": [{"role": "user", "content": "x" * 100_000}]}
    error(api.post(CHAT, json=big), 413, "request_too_large")

    def chunks():  # no Content-Length: the gate counts what arrives
        yield b'{"model": "podium", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}]}'
    error(api.post(CHAT, content=chunks(), headers={"Content-Type": "application/json"}), 413)


def test_unknown_model_thread_and_routes(api):
    error(api.post(CHAT, json={**HELLO, "model": "nope/model"}), 404, "model_not_found", "model")
    error(api.post(CHAT, json={**HELLO, "model": "scripted/never-registered"}), 404, "model_not_found")
    error(api.post(CHAT, json={**HELLO, "podium": {"thread_id": "gone", "decision": "approve"}}), 404,
          "thread_not_found")
    error(api.post(CHAT, json=HELLO, headers={"X-Podium-Thread": "bad id!"}), 400, "invalid_value", "X-Podium-Thread")
    error(api.post(CHAT, json=HELLO, headers={"X-Podium-Multitask": "later"}), 400, param="X-Podium-Multitask")
    error(api.get("/v1/nothing"), 404, "not_found")
    error(api.get(CHAT), 405, "method_not_allowed")
    error(api.post("/v1/embeddings", json={"model": "other-embedder", "input": "x"}), 404, "model_not_found")
    error(api.post("/v1/embeddings", json={"model": "podium", "input": ["ok", ""]}), 400, param="input")
    error(api.post("/v1/embeddings", json={"model": "podium", "input": "ok", "dimensions": 12}), 400,
          param="dimensions")


def test_a_prompt_longer_than_every_context_is_400(podium):
    long = {**HELLO, "messages": [{"role": "user", "content": "word " * 100_001}]}  # scripted: 100k words
    app = create_app(podium, open_keys(podium.settings), max_body_bytes=2**22)
    error(TestClient(app).post(CHAT, json=long), 400, "context_length_exceeded", "messages")


def test_a_busy_thread_is_409_with_reject(api, podium):
    thread = api.post(CHAT, json=HELLO).headers["x-podium-thread"]
    with podium.locks.hold(thread):
        error(api.post(CHAT, json=HELLO, headers={"X-Podium-Thread": thread, "X-Podium-Multitask": "reject"}), 409,
              "thread_busy")


def test_keys_missing_invalid_revoked_rate_limited(podium):
    keys = KeyStore(open_keys(podium.settings).db, clock=lambda: 6000.0)  # one minute throughout
    api = TestClient(create_app(podium, keys))
    assert api.post(CHAT, json=HELLO).status_code == 200, "no keys: open (the server binds 127.0.0.1 only)"
    secret, key = keys.create("ci", rpm=2)
    error(api.post(CHAT, json=HELLO), 401, "missing_api_key")
    error(api.post(CHAT, json=HELLO, headers={"Authorization": "Bearer pk-wrong"}), 401, "invalid_api_key")
    auth = {"Authorization": f"Bearer {secret}"}
    assert api.post("/v1/embeddings", json={"model": "podium", "input": "x"}, headers=auth).status_code == 200
    assert api.post(CHAT, json=HELLO, headers=auth).status_code == 200
    limited = api.post(CHAT, json=HELLO, headers=auth)
    error(limited, 429, "rate_limit_exceeded")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    keys.revoke(key.id)
    error(api.post(CHAT, json=HELLO, headers=auth), 401, "revoked_api_key")
    assert api.get("/healthz").status_code == 200 and api.get("/metrics").status_code == 200


def test_threads_belong_to_the_key_that_started_them(podium):
    keys = open_keys(podium.settings)
    api = TestClient(create_app(podium, keys))
    alice, bob = (keys.create(n)[0] for n in ("alice", "bob"))
    thread = api.post(CHAT, json=HELLO, headers={"Authorization": f"Bearer {alice}"}).headers["x-podium-thread"]
    error(api.post(CHAT, json=HELLO, headers={"Authorization": f"Bearer {bob}", "X-Podium-Thread": thread}), 404,
          "thread_not_found")


def test_an_exhausted_budget_is_403_and_the_spend_is_the_ledgers(tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fault-model": [1_000_000, 1_000_000]}))  # $1 a token
    with FaultServer() as server:
        podium = PodiumApp(Settings(home=tmp_path, model="scripted/echo", openai_base_url=server.url,
                                    openai_api_key="sk-test-budget-key", prices_file=prices, retries=0))
        keys = KeyStore(open_keys(podium.settings).db)
        secret, key = keys.create("budget", budget_usd=1.0)
        api = TestClient(create_app(podium, keys))
        auth = {"Authorization": f"Bearer {secret}"}
        first = api.post(CHAT, json={**HELLO, "model": "openai/fault-model"}, headers=auth)
        assert first.status_code == 200, first.text
        spent = keys.get(key.id).spent_usd
        assert spent == pytest.approx(podium.ledger.spent()) and spent > 1.0
        error(api.post(CHAT, json={**HELLO, "model": "openai/fault-model"}, headers=auth), 403, "budget_exceeded")
