"""Knowledge collections have owners (issue 17 web 0): a user lists, searches, routes to and is answered from only
what they own or what was shared with them; the rest does not exist for them. Real Chroma and MiniLM, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.contract import TurnOptions
from graph.app import PodiumApp
from memory.access import scoped, share
from memory.documents import delete_document, document_chunks, document_list, reingest
from memory.ingest import ingest
from memory.owners import EVERYONE, local_user, owner_of, shared_with
from models.scripted import register_script
from podium.db import open_database
from podium.errors import ConfigError, NotFoundError, PodiumError
from tests.conftest import cli_here
from ui.api_keys import KeyStore

PIN = "The vault PIN of the night shift is 4711; only the night supervisor may use it."


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "vault.txt").write_text(PIN + "\n")
    (folder / "plants.txt").write_text("The office plant is watered on Mondays by the facilities team.\n")
    return folder


def test_a_user_sees_only_their_own_and_shared_collections(app: PodiumApp, notes: Path):
    alice, bob = scoped(app.knowledge, "alice"), scoped(app.knowledge, "bob")
    ingest(alice, [notes], "alice-notes")
    assert owner_of(app.knowledge.client.get_collection("alice-notes").metadata) == "alice"
    assert [c["name"] for c in alice.collections()] == ["alice-notes"] and alice.usable()
    assert bob.collections() == [] and not bob.usable() and bob.catalog() == {}
    with pytest.raises(NotFoundError, match="unknown collection 'alice-notes'"):
        bob.search("vault PIN", "alice-notes")
    with pytest.raises(ConfigError, match="not available"):
        ingest(bob, [notes], "alice-notes")  # nor can bob write into it (or learn more than that it is taken)
    assert bob.best_collection("what is the vault PIN?") == (None, None)
    assert [c["name"] for c in app.knowledge.collections()] == ["alice-notes"], "the operator (CLI) sees all"

    assert share(alice, "alice-notes", "bob") == ["bob"]
    assert "4711" in bob.search("vault PIN", "alice-notes", k=1)[0].text
    with pytest.raises(PodiumError, match="only alice, who owns"):
        bob.delete("alice-notes")
    with pytest.raises(PodiumError, match="shared with you to read"):
        ingest(bob, [notes], "alice-notes")
    with pytest.raises(PodiumError, match="only alice"):
        share(bob, "alice-notes", "carol")
    assert share(alice, "alice-notes", "bob", revoke=True) == []
    assert bob.collections() == []
    assert share(app.knowledge, "alice-notes", "all") == [EVERYONE], "the operator may share any collection"
    assert [c["name"] for c in scoped(app.knowledge, "carol").collections()] == ["alice-notes"]


def test_a_turn_as_another_user_neither_routes_to_nor_cites_private_documents(app: PodiumApp, notes: Path):
    ingest(scoped(app.knowledge, "alice"), [notes], "alice-notes")
    asked = "What is the vault PIN of the night shift?"
    ctx = app.context("t", TurnOptions(user="bob"))
    assert not ctx.knowledge.usable() and ctx.tools.knowledge is ctx.knowledge, "the tools see bob's view too"
    events = []
    try:
        events += app.stream_turn(asked, None, TurnOptions(model="scripted/echo", user="bob"))
    except PodiumError:
        pass  # the specialist it went to may fail on a scripted model: what matters is where it went
    routes = [e.data.get("route") for e in events if e.kind == "route"]
    assert routes and "knowledge" not in routes and "4711" not in str([e.data for e in events])
    with pytest.raises(NotFoundError, match="unknown collection 'alice-notes'"):
        app.ask(asked, options=TurnOptions(model="scripted/echo", collection="alice-notes", user="bob"))
    model = register_script("owners-kb", ["It is 4711 [1]."])
    as_alice = app.ask("What do my notes say about the vault PIN of the night shift?",
                       options=TurnOptions(model=model, user="alice", collection="alice-notes"))
    assert "knowledge" in as_alice.route and "vault.txt" in {s["source"] for s in as_alice.sources}
    cited = next(s for s in as_alice.sources if s["cited"])
    assert "4711" in cited["text"] and cited["collection"] == "alice-notes", "a source carries its passage"


def test_documents_are_listed_opened_deleted_and_read_again(app: PodiumApp, notes: Path):
    alice = scoped(app.knowledge, "alice")
    ingest(alice, [notes], "alice-notes")
    docs = document_list(alice, "alice-notes")
    assert [d["source"] for d in docs] == ["plants.txt", "vault.txt"]
    assert docs[1]["path"] == str((notes / "vault.txt").resolve()) and docs[1]["chunks"] == 1
    chunks = document_chunks(alice, "alice-notes", "vault.txt")
    assert [c["chunk"] for c in chunks] == [0] and "4711" in chunks[0]["text"]
    with pytest.raises(NotFoundError, match="unknown document"):
        document_chunks(alice, "alice-notes", "nope.txt")
    share(alice, "alice-notes", "bob")
    with pytest.raises(PodiumError, match="only alice"):
        delete_document(scoped(app.knowledge, "bob"), "alice-notes", "vault.txt")
    (notes / "vault.txt").write_text("The vault PIN changed: it is now 9090.\n")
    (notes / "plants.txt").unlink()
    report = reingest(alice, "alice-notes")
    status = {f.source: f.status for f in report.files}
    assert status["vault.txt"] == "updated" and status["plants.txt"] == "failed", "a file gone since is reported"
    assert "9090" in document_chunks(alice, "alice-notes", "vault.txt")[0]["text"]
    assert delete_document(alice, "alice-notes", "plants.txt") == 1
    assert [d["source"] for d in document_list(alice, "alice-notes")] == ["vault.txt"]
    assert app.knowledge.collections()[0]["documents"] == 1, "the counts follow"


def test_cli_shares_and_lists_owners(app: PodiumApp, notes: Path, capsys: pytest.CaptureFixture[str]):
    ingest(app.knowledge, [notes], "mine")
    assert owner_of(app.knowledge.client.get_collection("mine").metadata) == local_user(), "the CLI's user owns it"
    code, _out, err = cli_here(capsys, "kb", "share", "mine", "--with", "bob")
    assert code == 0 and "shared with bob" in err
    code, out, _err = cli_here(capsys, "kb", "list", "--json")
    assert code == 0 and '"shared": ["bob"]' in out and f'"owner": "{local_user()}"' in out
    code, _out, err = cli_here(capsys, "kb", "unshare", "mine", "--with", "carol")
    assert code == 2 and "not shared with carol" in err and "Traceback" not in err
    code, _out, err = cli_here(capsys, "kb", "share", "nope", "--with", "all")
    assert code == 2 and "unknown collection 'nope'" in err
    assert shared_with(app.knowledge.client.get_collection("mine").metadata) == ["bob"]


def test_api_keys_belong_to_a_user(settings):
    keys = KeyStore(open_database(settings, "keys.sqlite"))
    _secret, default = keys.create("laptop")
    _secret, bobs = keys.create("bob's", user="bob")
    assert default.user == local_user() and bobs.user == "bob" and keys.get(bobs.id).user == "bob"
    with pytest.raises(PodiumError, match="not a user name"):
        keys.create("x", user="a,b")
