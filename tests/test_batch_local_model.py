"""Batched generation and scoring on the real SmolLM2 GGUF: the same outputs as one prompt at a time."""

from __future__ import annotations

import json
import os
import threading

import jsonschema
import numpy as np
import pytest

from models import registry
from models.batch import complete_batch, loglikelihood
from models.gbnf import compiled, schema_grammar
from models.registry import local_model
from podium.errors import ConfigError, ContextOverflowError
from podium.settings import Settings
from tests.conftest import LOCAL_MODEL

pytestmark = pytest.mark.model

CHATS = [
    [{"role": "system", "content": Settings().system_prompt},
     {"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Name three colors."}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Is water wet?"}],
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    """The shared SmolLM2 instance, with a small context so the tests stay quick."""
    settings = Settings(home=tmp_path_factory.mktemp("batch-home"), max_context=1024)
    return local_model(LOCAL_MODEL, settings)


def alone(loaded, prompt, **params) -> dict:
    """``create_completion`` for one prompt on a fresh cache: the reference a batch must equal."""
    if isinstance(prompt, list) and isinstance(prompt[0], dict):
        tokens, stop = loaded.render(prompt)
        params["stop"] = [*params.get("stop", []), *stop]
    else:
        tokens = prompt if isinstance(prompt, list) else loaded.llm.tokenize(prompt.encode(), add_bos=True,
                                                                              special=True)
    with loaded.lock:
        loaded.llm.reset()
        return loaded.llm.create_completion(tokens, temperature=0.0, **params)["choices"][0]


def test_batched_completions_equal_one_at_a_time(loaded):
    """Chat, raw text and token prompts, more prompts than sequences (continuous batching), a stop string."""
    raw = "The three primary colors are"
    prompts = [*CHATS, raw, loaded.llm.tokenize(b"Once upon a time", add_bos=True, special=True)]
    done: list[tuple[int, str]] = []
    results = complete_batch(loaded, prompts, max_tokens=20, stop=["\n\n"], parallel=2,
                             on_done=lambda i, c: done.append((i, c.text)))
    assert sorted(done) == [(i, r.text) for i, r in enumerate(results)], "on_done hears each completion once"
    for prompt, result in zip(prompts, results, strict=True):
        reference = alone(loaded, prompt, max_tokens=20, stop=["\n\n"])
        assert result.text == reference["text"]
        assert result.finish_reason == reference["finish_reason"]
        assert result.completion_tokens <= 20 and result.tokens
    assert "Paris" in results[0].text
    assert results[3].prompt_tokens == len(loaded.llm.tokenize(raw.encode(), add_bos=True, special=True))
    assert results[0].usage["total_tokens"] == results[0].prompt_tokens + results[0].completion_tokens


def test_grammar_per_prompt(loaded):
    """One JSON row per schema-constrained prompt, a GBNF choice, and a free row, in one batch."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"]}
    yes_no = 'root ::= "yes" | "no"'
    prompts = [[{"role": "user", "content": "Give a city and its country as JSON."}],
               [{"role": "user", "content": "Is Paris in France? Answer yes or no."}],
               [{"role": "user", "content": "Say hello."}]]
    results = complete_batch(loaded, prompts, max_tokens=40, grammar=[schema, yes_no, None])
    row = json.loads(results[0].text)
    jsonschema.validate(row, schema)
    assert results[1].text in ("yes", "no") and results[1].finish_reason == "stop"
    grammars = [schema_grammar(json.dumps(schema)), compiled(yes_no), None]
    for prompt, grammar, result in zip(prompts, grammars, results, strict=True):
        assert result.text == alone(loaded, prompt, max_tokens=40, grammar=grammar)["text"]


def test_chat_cache_is_left_as_it_was(loaded):
    """Batches run on their own llama.cpp context: a conversation's KV cache and prefix survive."""
    tokens, stop = loaded.render(CHATS[0])
    with loaded.lock:
        loaded.llm.reset()
        loaded.llm.create_completion(tokens, max_tokens=8, temperature=0.0, stop=stop)
    held = loaded.llm.n_tokens
    ids = loaded.llm.input_ids[:held].copy()
    complete_batch(loaded, CHATS[1:], max_tokens=8)
    assert loaded.llm.n_tokens == held
    assert np.array_equal(loaded.llm.input_ids[:held], ids)


def test_loglikelihood_matches_a_full_forward_pass(loaded):
    """Shared-context scores equal log-softmax over a plain llama.cpp evaluation of context + continuation."""
    import llama_cpp

    requests = [("The capital of France is", [" Paris", " Berlin", " the city of Lyon"]),
                ("Two plus two equals ", ["four", "five"])]
    scores = loglikelihood(loaded, requests, parallel=3)  # 5 continuations over 3 sequences: two waves
    reference = llama_cpp.Llama(model_path=loaded.llm.model_path, n_ctx=256, n_threads=1, logits_all=True,
                                verbose=False)
    try:
        for (context, continuations), row in zip(requests, scores, strict=True):
            ctx = context.rstrip()
            ctx_tokens = reference.tokenize(ctx.encode(), add_bos=True, special=False)
            for text, score in zip(continuations, row, strict=True):
                whole = reference.tokenize((context + text).encode(), add_bos=True, special=False)
                assert score.tokens == whole[len(ctx_tokens):]
                reference.reset()
                reference.eval(ctx_tokens + score.tokens)
                logits = np.asarray(reference.scores[: reference.n_tokens], dtype=np.float64)
                logprobs = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
                    - logits.max(1, keepdims=True)
                expected = [logprobs[len(ctx_tokens) - 1 + i, t] for i, t in enumerate(score.tokens)]
                assert score.token_logprobs == pytest.approx(expected, abs=2e-3)
                assert score.logprob == pytest.approx(sum(expected), abs=5e-3)
    finally:
        reference.close()
    assert scores[0][0].logprob > scores[0][1].logprob, "Paris is likelier than Berlin"


def test_greedy_flag_agrees_with_greedy_generation(loaded):
    context = "The capital of France is"
    greedy = complete_batch(loaded, [context], max_tokens=3)[0].text
    row = loglikelihood(loaded, [(context, [greedy, " a banana"])])[0]
    assert row[0].greedy and not row[1].greedy


def test_batches_and_chat_turns_share_the_model_safely(loaded, tmp_path):
    """A batch and a chat stream at once queue on the model's lock; each gets its lone-run answer."""
    settings = Settings(home=tmp_path, max_context=1024, temperature=0.0)
    chat = registry.build(registry.resolve(LOCAL_MODEL, settings), settings)
    assert chat.loaded() is loaded
    expected_batch = [r.text for r in complete_batch(loaded, CHATS, max_tokens=12)]
    expected_chat = chat.invoke("Tell me a joke.", max_tokens=12).content
    got: dict[str, object] = {}

    def run_batch() -> None:
        got["batch"] = [r.text for r in chat.complete_batch(CHATS, max_tokens=12)]

    def run_chat() -> None:
        got["chat"] = chat.invoke("Tell me a joke.", max_tokens=12).content

    threads = [threading.Thread(target=run_batch), threading.Thread(target=run_chat)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert got == {"batch": expected_batch, "chat": expected_chat}


def test_bad_batch_input_is_a_clear_error(loaded):
    with pytest.raises(ConfigError, match="2 grammar for 3 prompts"):
        complete_batch(loaded, CHATS, grammar=[None, None])
    with pytest.raises(ConfigError, match="invalid GBNF"):  # llama.cpp would crash the process at sampling
        complete_batch(loaded, ["Hi"], grammar="root ::= (")
    with pytest.raises(ConfigError, match="empty prompt"):
        complete_batch(loaded, [[]])
    with pytest.raises(ConfigError, match="max_tokens"):
        complete_batch(loaded, ["Hi"], max_tokens=0)
    with pytest.raises(ContextOverflowError):
        complete_batch(loaded, ["word " * 2000])
    with pytest.raises(ConfigError, match="no tokens"):
        loglikelihood(loaded, [("Question", [""])])
    with pytest.raises(ConfigError, match="without continuations"):
        loglikelihood(loaded, [("Question", [])])
    with pytest.raises(ConfigError, match="not a local llama.cpp model"):
        local_model("scripted/echo", Settings())
    assert complete_batch(loaded, []) == [] and loglikelihood(loaded, []) == []
    chat = registry.build(registry.resolve(LOCAL_MODEL, Settings(max_context=1024)), Settings(max_context=1024))
    with pytest.raises(ConfigError, match="invalid GBNF"):  # the chat path checks grammars the same way
        chat.invoke("Hi", grammar='root ::= "a" | (')
    assert complete_batch(loaded, ["The capital of France is"], max_tokens=3)[0].text  # the model still works


def test_a_prompt_prefix_every_prompt_shares_is_decoded_once(loaded):
    """Dataset rows share their instructions: the first sequence decodes them, the others copy its keys and values
    (llama.cpp's sequence copy) and decode only their own tail, with the very completions of each prompt alone."""
    from models.batch import MIN_SHARED

    system = ("You write realistic, varied synthetic data for a dataset. Every row is new: never copy an example. "
              "Reply with one JSON object only.")
    prompts = [[{"role": "system", "content": system}, {"role": "user", "content": f"A support ticket about {t}."}]
               for t in ("invoices", "a slow dashboard", "password resets")]
    tokens = [loaded.render(p)[0] for p in prompts]
    engine = loaded.engine
    before = engine.prefilled if engine is not None else 0
    results = complete_batch(loaded, prompts, max_tokens=12, parallel=3)
    shared = len(os.path.commonprefix(tokens))  # the system turn and the user turn's opening
    assert shared >= MIN_SHARED
    assert loaded.engine.prefilled - before == sum(map(len, tokens)) - 2 * shared
    for prompt, result in zip(prompts, results, strict=True):
        assert result.text == alone(loaded, prompt, max_tokens=12)["text"]
        assert result.prompt_tokens == len(loaded.render(prompt)[0])
