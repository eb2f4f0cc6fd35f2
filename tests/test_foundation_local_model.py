"""The real SmolLM2 GGUF at temperature 0: streaming, JSON schema, durable threads, bad input."""

from __future__ import annotations

import json
import threading

import pytest

from graph.app import PodiumApp
from models import registry
from podium.settings import Settings
from tests.conftest import LOCAL_MODEL, run_cli

pytestmark = pytest.mark.model


def test_streamed_answer_from_the_local_model(app: PodiumApp):
    events = list(app.stream_turn("What is the capital of France?"))
    tokens = [e.data["text"] for e in events if e.kind == "token"]
    result = events[-1].data["result"]
    assert len(tokens) >= 2, "the answer must arrive in several streamed pieces"
    assert "".join(tokens).strip() == result.answer.strip()
    assert "Paris" in result.answer
    assert result.model == LOCAL_MODEL
    usage = result.usage
    # token events are display frames (models/frames.py): the first token alone, then one or more tokens each
    assert usage["prompt_tokens"] > 10 and usage["completion_tokens"] >= len(tokens)
    assert 0 < usage["ttft_s"] < usage["latency_s"]
    assert usage["cost_usd"] == 0


def test_json_schema_constrained_answer(settings: Settings):
    """The schema forces an assertable answer: valid JSON, keys in order, a value from the enum."""
    model = registry.build(registry.resolve(LOCAL_MODEL, settings), settings)
    schema = {
        "type": "object",
        "properties": {
            "country": {"type": "string", "enum": ["France", "Germany", "Italy", "Spain"]},
            "capital": {"type": "string", "enum": ["Berlin", "Madrid", "Paris", "Rome"]},
            "population_millions": {"type": "integer"},
        },
        "required": ["country", "capital", "population_millions"],
    }
    reply = model.invoke(
        "Answer in JSON: what is the capital of France, and roughly how many millions live in France?",
        response_format={"type": "json_object", "schema": schema},
    )
    data = json.loads(reply.content)
    assert list(data) == ["country", "capital", "population_millions"]
    assert data["country"] == "France" and data["capital"] == "Paris"
    assert isinstance(data["population_millions"], int)


def test_concurrent_requests_queue_on_the_shared_model(settings: Settings):
    model = registry.build(registry.resolve(LOCAL_MODEL, settings), settings)
    answers, errors = [], []

    def ask(q: str) -> None:
        try:
            answers.append(model.invoke(q, max_tokens=16).content)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=ask, args=(f"Say the number {i}.",)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors and len(answers) == 4 and all(answers)


def _fresh(model) -> None:
    """Empty the shared model's KV cache and its saved states, so a run starts from nothing."""
    import llama_cpp

    loaded = model.loaded()
    loaded.llm.reset()
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(loaded.llm._ctx.ctx), True)
    loaded.states.clear()


def test_interleaved_conversations_resume_their_own_kv_prefix(settings: Settings):
    """A second turn after another session's turn restores its saved state and answers exactly as uninterrupted."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    model = registry.build(registry.resolve(LOCAL_MODEL, settings), settings)
    states = model.loaded().states
    first = [SystemMessage("You are a helpful assistant."), HumanMessage("Tell me one fact about the number 7.")]
    other = [SystemMessage("You are a helpful assistant."), HumanMessage("Tell me one fact about the number 3.")]

    def second(answer: str) -> list:
        return [*first, AIMessage(answer), HumanMessage("And another one?")]

    _fresh(model)
    saves = states.saves
    alone_1 = model.invoke(first).content
    alone_2 = model.invoke(second(alone_1)).content
    assert states.saves == saves  # one conversation at a time: its prefix stays in place, nothing is parked

    _fresh(model)
    restores = states.restores
    mixed_1 = model.invoke(first).content
    model.invoke(other)  # another session takes the model between the two turns
    assert len(states) == 1 and 0 < states.size <= settings.kv_cache_mb * 2**20
    mixed_2 = model.invoke(second(mixed_1)).content
    assert states.restores == restores + 1
    assert (mixed_1, mixed_2) == (alone_1, alone_2)


def test_kv_states_stay_within_their_memory_and_can_be_turned_off(settings: Settings):
    from langchain_core.messages import HumanMessage

    def take_turns(mb: int) -> tuple[int, int]:
        model = registry.build(registry.resolve(LOCAL_MODEL, settings), settings.model_copy(update={"kv_cache_mb": mb}))
        _fresh(model)
        states, peak = model.loaded().states, 0
        for i in range(4):
            model.invoke([HumanMessage(f"Write two sentences about the number {i}. " * 3)], max_tokens=8)
            peak = max(peak, states.size)
        return peak, len(states)

    assert take_turns(0) == (0, 0)
    unbounded_peak, kept = take_turns(256)
    assert kept == 3  # every session but the current one is parked
    one = unbounded_peak // 3
    small_peak, kept = take_turns(1)  # 1 MB holds fewer of them
    assert small_peak <= 2**20 and kept < 3 and (kept > 0) == (one <= 2**20)


def test_conversations_taking_turns_beyond_the_memory_limit_still_answer(settings: Settings):
    """When the state to restore is also the oldest, parking another must not evict it from under the restore."""
    from langchain_core.messages import AIMessage, HumanMessage

    model = registry.build(registry.resolve(LOCAL_MODEL, settings), settings.model_copy(update={"kv_cache_mb": 3}))
    _fresh(model)
    states = model.loaded().states
    talks = [[HumanMessage(f"Tell me two facts about {topic}, please, in two sentences.")]
             for topic in ("volcanoes", "penguins", "the moon")]
    for _ in range(3):  # round robin: each conversation comes back when its state is the oldest one kept
        for talk in talks:
            talk += [AIMessage(model.invoke(talk, max_tokens=24).content), HumanMessage("And another one?")]
            assert states.size <= 3 * 2**20
    assert states.restores > 0 and all(len(talk) == 7 for talk in talks)


def test_long_threads_are_trimmed_and_the_trace_says_so(tmp_path):
    settings = Settings(home=tmp_path / "h", temperature=0.0, max_tokens=48, max_context=256)
    app = PodiumApp(settings)
    thread = None
    notices: list[str] = []
    for i in range(6):
        result = app.ask(f"Tell me fact number {i} about the ocean, in two sentences.", thread_id=thread)
        thread = result.thread_id
        notices += result.notices
    assert any("trimmed" in n for n in notices)
    assert len(app.history(thread)) == 12  # the stored thread keeps everything


def test_thread_continues_across_processes():
    first = run_cli("ask", "--json", "My name is Ada. Say hello to me.")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) >= {"thread_id", "route", "answer", "model", "usage"}
    assert data["route"] == ["conductor", "chat"] and data["answer"]
    assert set(data["usage"]) >= {"prompt_tokens", "completion_tokens", "ttft_s", "latency_s", "cost_usd"}
    second = run_cli("ask", "--json", "--thread", data["thread_id"], "What did I just tell you my name was?")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["thread_id"] == data["thread_id"]
    history = json.loads(run_cli("history", data["thread_id"], "--json").stdout)
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "user", "assistant"]
    listed = json.loads(run_cli("threads", "--json").stdout)
    assert [t["thread_id"] for t in listed] == [data["thread_id"]]


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--model", "nope/x"], {}, "unknown model spec"),
        (["--model", "/nowhere/model.gguf"], {}, "not found"),
        (["--model", "openai/gpt-4o-mini"], {}, "OPENAI_API_KEY"),
        (["--thread", "missing-thread"], {}, "unknown thread"),
        ([], {"PODIUM_MAX_CONTEXT": "256", "PODIUM_MAX_TOKENS": "64"}, "tokens"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(args, env, needle):
    long_prompt = "word " * 200 if env else "hello"
    proc = run_cli("ask", *args, long_prompt, env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr.splitlines()[0]
    assert "hint:" in proc.stderr
    assert json.loads(run_cli("threads", "--json").stdout) == []


def test_corrupt_gguf_is_a_one_line_error(tmp_path):
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    proc = run_cli("ask", "--model", f"llamacpp/{bad}", "hi")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not a valid GGUF" in proc.stderr


def test_models_lists_internals():
    proc = run_cli("models", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    smol = next(m for m in data["models"] if m["spec"] == LOCAL_MODEL)
    for key in (
        "architecture",
        "parameters",
        "layers",
        "heads",
        "embedding_size",
        "context_length",
        "vocab_size",
        "quantization",
        "file_size",
        "license",
    ):
        assert smol[key], key
    assert data["default"] == LOCAL_MODEL
