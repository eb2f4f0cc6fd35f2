"""``podium ui`` flags, and a real in-process server: logins, and queueing (scripted models, no GGUF needed)."""

from __future__ import annotations

import socket
import threading

import pytest
from gradio_client import Client
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from graph.app import PodiumApp
from models import registry
from models.scripted import ScriptedChatModel
from models.spec import ModelSpec
from podium.errors import ConfigError
from tests.conftest import run_cli
from tests.servers import free_port
from ui.cli_ui import parse_auth
from ui.gradio_app import launch


def test_auth_values_are_parsed_or_refused():
    assert parse_auth(None) is None
    assert parse_auth(["alice:s3:cret", "bob:pw"]) == [("alice", "s3:cret"), ("bob", "pw")]
    for bad in ("alice", "alice:", ":pw"):
        with pytest.raises(ConfigError, match="user:password"):
            parse_auth([bad])


def test_bad_flags_are_one_line_errors():
    result = run_cli("ui", "--auth", "no-password")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--auth must look like user:password" in result.stderr and "hint:" in result.stderr
    result = run_cli("ui", "--port", "70000")
    assert result.returncode == 2 and "bad port 70000" in result.stderr


def test_a_busy_port_is_a_friendly_error(app: PodiumApp):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1:\d+: the port is in use"):
            launch(app, port=busy.getsockname()[1], block=False)


def chat_once(client: Client, text: str) -> str:
    client.predict(text, api_name="/send")
    return client.predict("scripted/echo", None, api_name="/generate")[0][-1]["content"][0]["text"]


def test_with_logins_each_user_sees_only_their_own_threads(app: PodiumApp):
    port = free_port()
    demo = launch(app, port=port, auth=[("alice", "a-pw"), ("bob", "b-pw")], block=False)
    url = f"http://127.0.0.1:{port}/"
    try:
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises different classes across versions
            Client(url, verbose=False).predict(api_name="/threads")
        alice = Client(url, auth=("alice", "a-pw"), verbose=False)
        bob = Client(url, auth=("bob", "b-pw"), verbose=False)
        assert chat_once(alice, "alice's secret").startswith("You said: alice's secret")
        assert chat_once(bob, "bob's note").startswith("You said: bob's note")
        listed = {name: str(client.predict(api_name="/threads")) for name, client in (("a", alice), ("b", bob))}
        assert "alice's secret" in listed["a"] and "bob's note" not in listed["a"]
        assert "bob's note" in listed["b"] and "alice's secret" not in listed["b"]
        assert len(app.threads()) == 2
    finally:
        demo.close()


started, release = threading.Event(), threading.Event()


class _Held(ScriptedChatModel):
    """Answers only once the test releases it, so a turn is 'long' for exactly as long as needed."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        started.set()
        assert release.wait(timeout=60), "the test never released the model"
        chunk = ChatGenerationChunk(message=AIMessageChunk(content="finally"))
        if run_manager:
            run_manager.on_llm_new_token("finally", chunk=chunk)
        yield chunk


def test_light_events_never_wait_behind_a_running_turn(app: PodiumApp, monkeypatch: pytest.MonkeyPatch):
    spec = ModelSpec(spec="held/model", provider="held", name="model", context_length=100_000)
    monkeypatch.setitem(
        registry.PROVIDERS, "held", registry.Provider(lambda n, s: spec, lambda sp, s: _Held(script="echo"))
    )
    port = free_port()
    demo = launch(app, port=port, block=False)
    try:
        busy = Client(f"http://127.0.0.1:{port}/", verbose=False)
        other = Client(f"http://127.0.0.1:{port}/", verbose=False)
        busy.predict("take your time", api_name="/send")
        job = busy.submit("held/model", None, api_name="/generate")
        assert started.wait(timeout=60), "the long turn started"
        # While that turn holds its model, another session lists threads, reads the models and chats.
        assert other.predict(api_name="/threads") is not None
        assert [row[0] for row in other.predict(api_name="/models")["data"]][0] == "llamacpp/smollm2-135m"
        other.predict("quick one", api_name="/send")
        assert other.predict("scripted/echo", None, api_name="/generate")[0][-1]["content"][0]["text"].startswith(
            "You said"
        )
        assert not job.done(), "the long turn was still running all along"
        release.set()
        assert job.result(timeout=60)[0][-1]["content"][0]["text"].startswith("finally")
    finally:
        release.set()
        demo.close()
