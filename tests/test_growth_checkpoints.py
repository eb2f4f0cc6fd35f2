"""Long threads stay small: the retention policy, compressed blobs and ``podium threads compact``.

Real graph runs (scripted model, real SQLite checkpoints); sizes are deterministic enough to bound,
times are not asserted.
"""

from __future__ import annotations

import sqlite3
import zlib

import pytest

from agents.contract import TurnOptions
from graph import trace as T
from graph.app import PodiumApp
from graph.branch import rerun, turn_inputs
from graph.checkpoint_compact import compact
from graph.checkpoint_retention import StoreSerializer, plan_prune
from podium.errors import NotFoundError
from podium.settings import Settings
from tests.conftest import cli_here

ECHO = TurnOptions(model="scripted/echo")


def turns(app: PodiumApp, n: int, thread: str | None = None, start: int = 1) -> str:
    for i in range(start, start + n):
        thread = app.ask(f"hello {i}" if i % 2 else "thanks", thread, ECHO).thread_id
    assert thread is not None
    return thread


def rows(app_or_settings: PodiumApp | Settings, thread: str) -> list[tuple[str, str | None, str]]:
    settings = app_or_settings.settings if isinstance(app_or_settings, PodiumApp) else app_or_settings
    with sqlite3.connect(settings.data_dir / "checkpoints.sqlite") as conn:
        return conn.execute("SELECT checkpoint_id, parent_checkpoint_id, json_extract(CAST(metadata AS TEXT), "
                            "'$.source') FROM checkpoints WHERE thread_id = ? ORDER BY checkpoint_id",
                            (thread,)).fetchall()


def result_of(events) -> object:
    return [e for e in events if e.kind == "done"][-1].data["result"]


def test_plan_keeps_inputs_ends_branch_points_tips_and_the_last_turns():
    chain: list[tuple[str, str | None, str]] = []
    parent = None
    for t in range(1, 5):  # each turn: input, two steps, end; ids sort by creation, as uuid6 ids do
        for step, source in (("i", "input"), ("a", "loop"), ("b", "loop"), ("e", "loop")):
            chain.append((f"{len(chain):02d}-{t}{step}", parent, source))
            parent = chain[-1][0]
    chain.append(("99-2az", "05-2a", "loop"))  # a replay branched off turn 2's first step, one checkpoint long
    plan = plan_prune(chain, keep_turns=2)
    assert plan.delete == ["01-1a", "02-1b", "06-2b"]  # 2a has two children: a branch point stays
    assert plan.reparent == {"03-1e": "00-1i", "07-2e": "05-2a"}
    # A later pruning reads only from the last cutoff on: what is older was pruned already and stays.
    later = plan_prune([row for row in chain if row[0] >= plan.cutoff], keep_turns=1)
    assert plan.cutoff == "08-3i" and later.cutoff == "12-4i"
    assert later.delete == ["09-3a", "10-3b"] and later.reparent == {"11-3e": "08-3i"}
    assert plan_prune(chain, keep_turns=0).delete == [] and plan_prune(chain, keep_turns=4).delete == []


def test_retention_keeps_every_step_of_recent_turns_and_each_old_turn_whole(settings):
    app = PodiumApp(settings.model_copy(update={"checkpoint_keep_turns": 2}))
    thread = turns(app, 1)
    per_turn = len(rows(app, thread))  # every checkpoint of one turn (nothing to prune yet)
    thread = turns(app, 4, thread, start=2)
    saved = rows(app, thread)
    assert len(saved) == 2 * 3 + 2 * per_turn  # turns 1-3: input and end; turns 4-5: every step
    assert [s for _, _, s in saved].count("input") == 5
    # Lineages are whole: every turn is reachable from the head, messages are all there.
    assert len(turn_inputs(app, thread)) == 5
    assert [m["content"] for m in app.history(thread)][-2:] == ["hello 5", "You said: hello 5"]
    assert len(app.history(thread)) == 10
    traced = T.trace(app, thread)
    assert [r.node for r in traced].count("chat") == 2 and [r.node for r in traced].count("__start__") == 5

    # Time travel: replay a step of the last turn, and regenerate the first turn from its kept input.
    step = next(s for s in reversed(T.history(app, thread)) if s.next == ("chat",))
    replayed = result_of(T.replay(app, thread, T.cid(step) or ""))
    assert replayed.answer == "You said: hello 5"
    again = result_of(rerun(app, thread, 0))
    assert again.answer == "You said: hello 1" and len(app.history(thread)) == 2
    # The end of an old turn is a boundary whose state is whole.
    first_end = T.find(T.history(app, thread), saved[1][0])
    assert [m.content for m in first_end.values["messages"]] == ["hello 1", "You said: hello 1"]


def test_a_long_thread_stays_under_a_bound(settings):
    app = PodiumApp(settings)  # the default policy: every step of the last 20 turns
    thread = turns(app, 60)
    saved = rows(app, thread)
    per_turn = (len(saved) - 2 * 40) // 20
    assert len(saved) == 2 * 40 + 20 * per_turn and per_turn >= 3
    with sqlite3.connect(settings.data_dir / "checkpoints.sqlite") as conn:
        (stored,) = conn.execute("SELECT SUM(length(checkpoint)) FROM checkpoints").fetchone()
        types = {t for (t,) in conn.execute("SELECT DISTINCT type FROM checkpoints")}
    assert types == {"msgpack+zlib"}
    assert stored < 600_000  # every step of every turn, uncompressed, is over 3 MB


def test_compressed_blobs_and_blobs_saved_before_are_both_read():
    serde = StoreSerializer()
    value = {"text": "x" * 2000}
    typ, blob = serde.dumps_typed(value)
    assert typ == "msgpack+zlib" and len(blob) < 200
    assert serde.loads_typed((typ, blob)) == value
    plain = super(StoreSerializer, serde).dumps_typed(value)
    assert plain[0] == "msgpack" and serde.loads_typed(plain) == value


def test_messages_encoded_once_give_langgraphs_own_bytes():
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde, reference = StoreSerializer(), JsonPlusSerializer()
    messages = [HumanMessage("hi", id="1"), AIMessage("hello " * 80, id="2")]
    state = {"channel_values": {"messages": messages}, "versions_seen": {}}
    assert serde._encode(state) == reference.dumps_typed(state) == serde._encode(state)
    edited = [messages[0], AIMessage("changed", id="2")]  # a replaced message is a new object: encoded anew
    assert serde._encode({"messages": edited}) == reference.dumps_typed({"messages": edited})
    fresh = HumanMessage("no id yet")  # LangGraph's reducer sets the id of a new message in place
    serde._encode({"messages": [fresh]})
    fresh.id = "3"
    assert serde._encode({"messages": [fresh]}) == reference.dumps_typed({"messages": [fresh]})


def test_compact_prunes_an_old_database_and_a_paused_turn_still_resumes(settings, capsys):
    old = PodiumApp(settings.model_copy(update={"checkpoint_keep_turns": 0}))  # as before the policy
    thread = turns(old, 4)
    paused = old.ask("Run this python code: print(sum(range(10)))", thread, ECHO)
    assert paused.pending and paused.paused_before == ["approval"]
    other = turns(old, 2)
    untouched = rows(settings, other)
    history = old.history(thread)
    before = rows(settings, thread)
    assert {t for (t,) in sqlite3.connect(settings.data_dir / "checkpoints.sqlite")
            .execute("SELECT DISTINCT type FROM checkpoints")} == {"msgpack+zlib"}
    with sqlite3.connect(settings.data_dir / "checkpoints.sqlite") as conn:  # blobs of an older Podium
        raw = [(r, t, b) for r, t, b in conn.execute("SELECT rowid, type, checkpoint FROM checkpoints")]
        conn.executemany("UPDATE checkpoints SET type = ?, checkpoint = ? WHERE rowid = ?",
                         [(t.removesuffix("+zlib"), zlib.decompress(b), r) for r, t, b in raw])

    code, out, _ = cli_here(capsys, "threads", "compact", thread, "--keep-turns", "1")
    assert code == 0 and out.startswith("compacted 1 thread: removed ") and "MB freed)" in out
    after = rows(settings, thread)
    assert len(after) == 2 * 4 + len([r for r in before if r[0] >= max(c for c, _, s in before if s == "input")])
    assert rows(settings, other) == untouched  # not named
    with sqlite3.connect(settings.data_dir / "checkpoints.sqlite") as conn:
        kinds = {t for (t,) in conn.execute("SELECT DISTINCT type FROM checkpoints WHERE thread_id = ?", (thread,))}
    assert kinds == {"msgpack+zlib"}  # what an older Podium saved is compressed too
    app = PodiumApp(settings)
    assert app.history(thread) == history and len(turn_inputs(app, thread)) == 5
    done = result_of(app.resume(thread, "approve"))
    assert "45" in done.answer and not done.pending

    code, out, _ = cli_here(capsys, "threads", "compact", "--all", "--json")
    assert code == 0 and '"threads": 2' in out
    with pytest.raises(NotFoundError):
        compact(settings, "no-such-thread")
    code, _, err = cli_here(capsys, "threads", "compact")
    assert code == 2 and "a thread id or --all" in err


def test_postgres_prunes_and_compacts_the_same_way(settings, postgres_url):
    import psycopg

    def count(thread: str) -> tuple[int, int]:
        with psycopg.connect(postgres_url) as conn:
            checkpoints = conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = %s", (thread,)).fetchone()
            blobs = conn.execute("SELECT COUNT(*) FROM checkpoint_blobs WHERE thread_id = %s", (thread,)).fetchone()
        return int(checkpoints[0]), int(blobs[0])

    pg = settings.model_copy(update={"postgres_url": postgres_url, "checkpoint_keep_turns": 0})
    thread = turns(PodiumApp(pg), 4)
    everything = count(thread)
    kept = PodiumApp(pg.model_copy(update={"checkpoint_keep_turns": 1}))
    history = kept.history(thread)
    done = compact(kept.settings, thread)
    assert done.threads == 1 and done.removed > 0
    pruned = count(thread)
    assert pruned[0] == everything[0] - done.removed and pruned[1] < everything[1]  # unused blobs go too
    assert kept.history(thread) == history and len(turn_inputs(kept, thread)) == 4
    thread = turns(kept, 3, thread, start=5)  # pruning as turns are written
    assert count(thread)[0] == pruned[0] + 2 * 3 and len(kept.history(thread)) == 14
    assert result_of(rerun(kept, thread, 0)).answer == "You said: hello 1"
