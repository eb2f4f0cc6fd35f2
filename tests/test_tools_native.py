"""Native tool calling: an ``openai/...`` model gets the tools' schemas through a real OpenAI-compatible server.

llama-cpp-python's server, serving the embedded SmolLM2, stands in for a frontier model:
the request carries ``tools`` (and ``tool_choice`` when the rules are sure which tool),
the reply's tool call is validated and run, the result goes back as a tool message,
and the model writes the answer. The 135M model's arguments are often nonsense; the
point here is that whatever it sends is contained and the loop ends.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from langchain_core.messages import AIMessage, ToolMessage

from graph.app import PodiumApp
from models.llamacpp import locate
from podium.settings import Settings
from tools.calculator import CalculatorError, evaluate, format_number

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama_cpp.server on a free port, polled (not slept on) until it answers."""
    gguf = locate("smollm2-135m", Settings(home=tmp_path_factory.mktemp("home")))[0]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("log") / "server.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host",
                                 "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--seed", "0"],
                                stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            try:
                proc.wait(timeout=0.2)
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            except subprocess.TimeoutExpired:
                pass
            assert time.monotonic() < deadline, f"server did not start: {log.read_text()[-2000:]}"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_native_tool_calls_run_and_the_model_answers(server, tmp_path):
    podium = PodiumApp(Settings(home=tmp_path, temperature=0.0, max_tokens=48, openai_base_url=server))
    result = podium.ask("What is 1234 * 5678?", model="openai/smollm2")
    assert result.route[:2] == ["conductor", "tools"]
    first = result.tool_calls[0]
    assert first["name"] == "calculator" and first["approved"] is None
    assert set(first["args"]) == {"expression"} or first["error"], "a call is validated against the schema"
    try:
        expected = format_number(evaluate(first["args"]["expression"]))
    except (CalculatorError, KeyError, TypeError):
        expected = None
    assert first["result"] == expected, "the result is the calculator's own, whatever the model sent"
    messages = podium.graph.get_state({"configurable": {"thread_id": result.thread_id}}).values["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in tool_messages] == [c["id"] for m in calls for c in m.tool_calls]
    assert len(calls) <= 4, "the loop is bounded"
    assert isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls, "the model had the last word"
    for record, message in zip(result.tool_calls, tool_messages, strict=True):  # what the model was told
        assert message.content == (record["result"] if record["error"] is None else f"Error: {record['error']}")
    assert result.answer == messages[-1].text and result.answer.strip()
