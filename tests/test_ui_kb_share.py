"""Two signed-in users of one web app (issue 17 web 0), through gradio_client on a real in-process server:
a private note uploaded by alice is not listed, searched or cited for bob until alice shares the collection."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from graph.app import PodiumApp
from tests.servers import free_port
from ui.gradio_app import launch

PIN = "The vault PIN of the night shift is 4711; only the night supervisor may use it."


def ask(client: Client, text: str, collection: str | None) -> str:
    client.predict(text, api_name="/send")
    chat = client.predict("scripted/echo", collection, api_name="/generate")[0]
    return str(chat[-1]["content"])


@pytest.fixture
def server(app: PodiumApp):
    port = free_port()
    demo = launch(app, port=port, auth=[("alice", "a-pw"), ("bob", "b-pw")], block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_a_private_collection_is_invisible_to_another_user_until_shared(server: str, tmp_path: Path):
    note = tmp_path / "vault.txt"
    note.write_text(PIN + "\n")
    alice = Client(server, auth=("alice", "a-pw"), verbose=False)
    bob = Client(server, auth=("bob", "b-pw"), verbose=False)
    summary = alice.predict([handle_file(str(note))], None, "", "alice-notes", api_name="/ingest")[0]
    assert summary.startswith("**alice-notes**: 1 added")
    assert "alice-notes" in str(alice.predict(api_name="/collections")[0])
    assert "alice-notes" not in str(bob.predict(api_name="/collections")), "not listed, not even in a picker"
    with pytest.raises(AppError, match="not in the list of choices"):  # bob's pickers do not offer it
        bob.predict("vault PIN night shift", "alice-notes", 3, "hybrid", api_name="/search")
    answer = ask(bob, "What is the vault PIN?", "alice-notes")
    assert "unknown collection 'alice-notes'" in answer and "4711" not in answer
    alice.predict("alice-notes", "bob", api_name="/share")
    assert "alice-notes" in str(bob.predict(api_name="/collections")[0])
    hits = bob.predict("vault PIN night shift", "alice-notes", 3, "hybrid", api_name="/search")
    assert "4711" in str(hits[0]), "shared: now bob may search it"
    bob.predict("alice-notes", api_name="/delete_collection")
    assert "alice-notes" in str(alice.predict(api_name="/collections")[0]), "only its owner can delete it"
