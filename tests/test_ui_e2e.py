"""End to end: ``podium ui`` in a subprocess, driven through gradio_client on the real local model."""

from __future__ import annotations

import threading

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.conftest import LOCAL_MODEL
from tests.ui_server import serve_ui

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("ui-e2e") / "home"
    # Every token its own piece (no display frames, models/frames.py), so the pieces counted below do not depend
    # on how fast the machine generates; frames have their own tests (tests/test_speed_frames.py).
    with serve_ui(home, PODIUM_MAX_TOKENS="24", PODIUM_STREAM_FRAME_MS="0") as url:
        yield url


def text_of(message: dict) -> str:
    """A chat message's text as gradio_client returns it (a list of content parts)."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def chat(client: Client, question: str, model: str = LOCAL_MODEL) -> list[list[dict]]:
    """Send a message and stream the turn, as the browser does; returns every chat update in order."""
    sent = client.predict(question, api_name="/send")
    assert text_of(sent[1][-1]) == question
    job = client.submit(model, None, api_name="/generate")
    job.result(timeout=180)
    return [out[0] for out in job.outputs()]


def test_a_chat_streams_answers_and_persists_the_thread(url: str):
    client = Client(url, verbose=False)
    updates = chat(client, "What is the capital of France?")
    answers = [text_of(u[-1]) for u in updates if u[-1]["role"] == "assistant" and not u[-1]["metadata"]]
    assert len(set(answers)) >= 3, f"expected several streamed pieces, got {answers}"
    final = updates[-1]
    answer = text_of(final[-1])
    assert answer.split("<sub>")[0].strip(), "the final answer is not empty"
    assert f"{LOCAL_MODEL} · " in answer and "tok/s" in answer and "free (local)" in answer
    steps = [m["metadata"]["title"] for m in final if m["metadata"]]
    assert steps == ["⚙ Conductor", "✎ Chat specialist"]

    # Persisted: a different browser session lists the thread and reopens it from the checkpointer.
    other = Client(url, verbose=False)
    choices = other.predict(api_name="/threads")[0]
    listed = choices["choices"] if isinstance(choices, dict) else choices
    assert len(listed) == 1 and "What is the capital of France?" in str(listed[0][0])
    thread_id = listed[0][1]
    reopened = other.predict(thread_id, api_name="/open_thread")[0]
    assert [(m["role"], text_of(m)) for m in reopened] == [(m["role"], text_of(m)) for m in final], \
        "reopened as it was shown live: steps and footer too"


def test_two_browser_sessions_chat_at_once_without_seeing_each_other(url: str):
    results: dict[str, list] = {}

    def run(name: str, question: str) -> None:
        results[name] = chat(Client(url, verbose=False), question)[-1]

    workers = [
        threading.Thread(target=run, args=("a", "Tell me about apples.")),
        threading.Thread(target=run, args=("b", "Tell me about boats.")),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
    a, b = (" ".join(text_of(m) for m in results[k]) for k in ("a", "b"))
    assert "apples" in a and "boats" not in a
    assert "boats" in b and "apples" not in b


def test_bad_input_is_refused_and_the_app_keeps_serving(url: str):
    client = Client(url, verbose=False)
    # A warning toast in the browser; the box and the chat are left as they are.
    assert client.predict("   ", api_name="/send") == ({"__type__": "update"},) * 2
    updates = chat(client, "Hello", model="openai/gpt-4o-mini")
    assert "OPENAI_API_KEY" in text_of(updates[-1][-1])
    with pytest.raises(AppError, match="OPENAI_API_KEY"):
        client.predict("openai/gpt-4o-mini", api_name="/choose_model")
    table = client.predict(api_name="/models")
    rows = [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]
    assert any(r["spec"] == LOCAL_MODEL and r["architecture"] == "llama" for r in rows)
    assert text_of(chat(client, "Say hi.")[-1][-1]).strip()
