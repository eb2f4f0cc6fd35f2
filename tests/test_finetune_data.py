"""Training data and every refused run: line numbers, empty splits, names, architectures, memory, Modal, merges."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_here
from tests.finetune_helpers import HELD_OUT_QUESTIONS, TRAIN_QUESTIONS, base_gguf, write_jsonl
from tools.finetune.data import ChatTokenizer, DataError, read_conversations, split
from tools.finetune.train import IGNORE


def _lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]})


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "line 2: not valid JSON"),
    (json.dumps({"prompt": "x"}), 'line 2: expected an object with a "messages" list'),
    (json.dumps({"messages": []}), 'line 2: "messages" must be a non-empty list'),
    (json.dumps({"messages": [{"role": "robot", "content": "x"}]}), "line 2: message 1 has role 'robot'"),
    (json.dumps({"messages": [{"role": "user", "content": ""}]}), "line 2: message 1 (user) has no text content"),
    (json.dumps({"messages": [{"role": "user", "content": "only a question"}]}),
     "line 2: no assistant message to learn from"),
    (json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a",
                                                                   "weight": 2}]}), "line 2: message 2 has weight 2"),
])
def test_malformed_lines_are_named_with_their_number_and_reason(tmp_path: Path, line: str, reason: str):
    with pytest.raises(DataError) as caught:
        read_conversations(_lines(tmp_path / "data.jsonl", GOOD, line, GOOD))
    assert reason in caught.value.message and caught.value.line == 2


def test_empty_files_and_empty_splits_are_refused(tmp_path: Path):
    with pytest.raises(DataError, match="has no conversations"):
        read_conversations(_lines(tmp_path / "empty.jsonl", "", "  "))
    one = read_conversations(_lines(tmp_path / "one.jsonl", GOOD))
    with pytest.raises(DataError, match="the validation split is empty"):
        split(one, 0.2, 0)
    with pytest.raises(DataError, match="the training split is empty"):
        split([], 0.2, 0, val=one)
    train, val = split(read_conversations(_lines(tmp_path / "ten.jsonl", *[GOOD] * 10)), 0.2, 0)
    assert (len(train), len(val)) == (8, 2)


def test_loss_is_on_assistant_tokens_only_found_by_position():
    tokenizer = ChatTokenizer(base_gguf())
    messages = [{"role": "user", "content": "Who is the mayor?"}, {"role": "assistant", "content": "Pomelo."},
                {"role": "user", "content": "Again?"}, {"role": "assistant", "content": "Pomelo.", "weight": 0}]
    example, cut = tokenizer.encode(messages, 512)
    trained = [t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != IGNORE]
    text = tokenizer.render(messages, False)
    assert cut == 0 and len(example["input_ids"]) == len(tokenizer.tokenize(text))
    # The first answer and its end-of-turn token are learned; the prompt and the weight-0 answer are not.
    assert trained == tokenizer.tokenize("Pomelo.<|im_end|>\n")[1:] or trained[-2] == tokenizer.eos_id
    assert tokenizer.eos_id in trained, "the model learns to stop (SmolLM2's eos is also its pad token)"
    assert len(trained) < 8
    short, cut = tokenizer.encode(messages, 10)
    assert cut > 0 and len(short["input_ids"]) == 10


def test_prepare_reports_splits_tokens_and_a_rendered_example(tmp_path: Path, capsys):
    data = write_jsonl(tmp_path / "facts.jsonl", TRAIN_QUESTIONS)
    code, out, err = cli_here(capsys, "finetune", "prepare", str(data), "--max-length", "50", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["train"]["examples"] + report["val"]["examples"] == len(TRAIN_QUESTIONS)
    assert report["train"]["truncated"] == report["train"]["examples"], "every conversation is over 50 tokens"
    assert "<|im_start|>assistant" in report["example"]
    code, _, err = cli_here(capsys, "finetune", "prepare", str(_lines(tmp_path / "bad.jsonl", GOOD, "[1, 2]")))
    assert code == 2 and "bad.jsonl line 2" in err and "Traceback" not in err


def _run(capsys, tmp_path: Path, *extra: str) -> tuple[int, str]:
    data = write_jsonl(tmp_path / "facts.jsonl", TRAIN_QUESTIONS)
    held = write_jsonl(tmp_path / "held.jsonl", HELD_OUT_QUESTIONS)
    code, _, err = cli_here(capsys, "finetune", "run", "--data", str(data), "--val", str(held), *extra)
    return code, err


def test_refused_runs_say_why_and_leave_nothing_behind(tmp_path: Path, capsys, _isolated_env: Path):
    code, err = _run(capsys, tmp_path, "--name", "Bad Name!")
    assert code == 2 and "bad fine-tune name" in err
    code, err = _run(capsys, tmp_path, "--name", "smollm2-135m")
    assert code == 2 and "built-in model alias" in err
    code, err = _run(capsys, tmp_path, "--name", "x", "--merge", "q2")
    assert code == 2 and "unknown --merge 'q2'" in err
    code, err = _run(capsys, tmp_path, "--name", "x", "--batch-size", "200000")
    assert code == 2 and "GiB of memory and" in err and "lower --batch-size" in err
    code, err = _run(capsys, tmp_path, "--name", "x", "--steps", "3", "--epochs", "1")
    assert code == 2 and "--steps and --epochs both given" in err
    code, err = _run(capsys, tmp_path, "--name", "x", "--base", "openai/gpt-4o-mini")
    assert code == 2 and "cannot be a fine-tuning base" in err
    models = _isolated_env / "finetune" / "models"
    assert not models.exists() or not any(models.iterdir()), "a refused run writes nothing"


def test_a_base_transformers_cannot_load_names_the_architectures_that_work(tmp_path: Path, capsys):
    import gguf
    import numpy as np

    fake = tmp_path / "rwkv.gguf"
    writer = gguf.GGUFWriter(str(fake), "rwkv7")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    code, err = _run(capsys, tmp_path, "--name", "x", "--base", f"llamacpp/{fake}")
    assert code == 2 and "cannot load a 'rwkv7' model from GGUF" in err and "llama" in err and "gemma3" in err


def test_remote_modal_without_modal_or_without_a_token(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "modal", None)  # as if the modal extra were not installed
    code, err = _run(capsys, tmp_path, "--name", "x", "--remote", "modal")
    assert code == 2 and "Modal is not installed" in err and "podium[modal]" in err
    monkeypatch.delitem(sys.modules, "modal")
    pytest.importorskip("modal")
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    code, err = _run(capsys, tmp_path, "--name", "x", "--remote", "modal")
    assert code == 2 and "Modal is not logged in" in err and "modal token new" in err
    code, _, err = cli_here(capsys, "modal", "status")
    assert code == 2 and "Modal is not logged in" in err


def test_delete_of_an_unknown_fine_tune_is_a_one_line_error(capsys):
    code, _, err = cli_here(capsys, "finetune", "delete", "nothing-here")
    assert code == 2 and "unknown fine-tuned model 'nothing-here'" in err
    code, out, _ = cli_here(capsys, "finetune", "list", "--json")
    assert json.loads(out) == {"models": []}


def test_finetune_list_keeps_whole_model_names_in_80_columns(capsys, monkeypatch):
    """Piped output is 80 columns wide: the spec users grep for and copy into --model is never cut to 'llamacpp…',
    and other cells fold onto a second line rather than lose text."""
    import models.finetuned

    record = {"name": "capybara-facts", "base": "llamacpp/smollm2-135m", "hyperparameters": {"steps": 30},
              "scores": {"eval_loss": {"base": 3.2, "finetuned": 0.4}, "exact_match": {"base": 0, "finetuned": 1}},
              "merged": {}, "created": 1.8e9}
    monkeypatch.setattr(models.finetuned, "all_models", lambda settings: [_Record(record)])
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli_here(capsys, "finetune", "list")
    assert code == 0 and "llamacpp/capybara-facts" in out and "…" not in out, out
    assert max(len(line) for line in out.splitlines()) <= 80


class _Record:
    def __init__(self, record):
        self.record = record

    def to_dict(self):
        return self.record


def test_the_fine_tune_tab_refuses_bad_data_in_one_line_and_writes_nothing(tmp_path: Path, settings):
    """The tab as the web app wires it, its handler called in-process (the slow browser test clicks through it)."""
    import gradio as gr

    from graph.app import PodiumApp
    from ui.gradio_app import build_app
    from ui.gradio_finetune import WHERE

    demo = build_app(PodiumApp(settings))
    ids = {block._id: getattr(block, "elem_id", None) for block in demo.blocks.values()}
    dep = next(d for d in demo.config["dependencies"] if d.get("api_name") == "finetune")
    assert {"podium-ft-data", "podium-ft-val", "podium-ft-name", "podium-ft-steps", "podium-ft-batch"} <= {
        ids[i] for i in dep["inputs"]} and "podium-ft-status" in {ids[o] for o in dep["outputs"]}
    run = demo.fns[dep["id"]].fn
    args = ("llamacpp/smollm2-135m", "nope", 3, 2e-3, 8, 16, 2, WHERE[0], "A10G")
    with pytest.raises(gr.Error, match="upload a JSONL file"):
        next(run(None, None, None, *args))
    bad = _lines(tmp_path / "bad.jsonl", json.dumps({"messages": []}))
    with pytest.raises(gr.Error) as caught:
        next(run(str(bad), None, None, *args))
    assert "bad.jsonl line 1" in caught.value.message and "\n" not in caught.value.message
    assert not list((settings.data_dir / "finetune" / "models").glob("nope*"))
