"""modal_app.py imports without Modal credentials, and its training body runs here on the CPU."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.finetune_helpers import HELD_OUT_QUESTIONS, TRAIN_QUESTIONS, base_gguf, weight_cache, write_jsonl

pytest.importorskip("modal", reason="the modal extra is not installed (make install brings it)")


@pytest.fixture
def modal_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """modal_app.py imported with no token anywhere (a fresh HOME, no MODAL_* variables)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in [n for n in os.environ if n.startswith("MODAL_")]:
        monkeypatch.delenv(name)
    spec = importlib.util.spec_from_file_location("modal_app_under_test", ROOT / "modal_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_modal_app_imports_without_credentials_and_declares_its_functions(modal_app):
    import modal
    from modal.config import config

    assert not config.get("token_id"), "the test must run without a Modal token"
    assert modal_app.app.name == "podium"
    assert isinstance(modal_app.finetune, modal.Function) and isinstance(modal_app.Inference, modal.Cls)
    source = (ROOT / "modal_app.py").read_text()
    assert "from podium" not in source and "import podium" not in source and "from tools" not in source


@pytest.mark.model
def test_the_training_body_runs_locally_on_cpu_through_the_same_code(modal_app, tmp_path: Path, pytestconfig):
    from llama_cpp import Llama

    from tools.finetune.data import ChatTokenizer, encode_all, read_conversations

    root = tmp_path / "volume"
    (root / "bases").mkdir(parents=True)
    (root / "bases" / base_gguf().name).symlink_to(base_gguf())
    (root / "cache").mkdir()
    (root / "cache" / base_gguf().stem).symlink_to(weight_cache(pytestconfig))  # the session's dequantized weights
    run = root / "runs" / "smoke"
    run.mkdir(parents=True)
    tokenizer = ChatTokenizer(base_gguf())
    for split, questions in (("train", TRAIN_QUESTIONS), ("val", HELD_OUT_QUESTIONS)):
        examples, _ = encode_all(tokenizer, read_conversations(write_jsonl(tmp_path / f"{split}.jsonl", questions)),
                                 256)
        (run / f"{split}.jsonl").write_text("\n".join(json.dumps(e) for e in examples))
    (run / "meta.json").write_text(json.dumps({"pad_id": tokenizer.eos_id}))

    result = modal_app.run_finetune(root, "smoke", base_gguf().name,
                                    {"steps": 2, "batch_size": 2, "checkpoint_every": 1}, device="cpu")
    assert result["steps"] == 2 and len(result["losses"]) == 2 and result["eval_loss"] > 0
    assert (run / "adapter.safetensors").is_file() and (run / "checkpoint" / "state.json").is_file()
    llm = Llama(model_path=str(base_gguf()), lora_path=str(run / "adapter.gguf"), n_ctx=128, verbose=False)
    assert llm.create_completion("Hello", max_tokens=2, temperature=0)["choices"][0]["text"] is not None
    llm.close()
