"""Training data: OpenAI chat JSONL (``{"messages": [...]}`` per line) checked, split and tokenized.

Tokens come from llama.cpp's own tokenizer and the GGUF's own chat template, so the
model is trained on exactly the ids llama.cpp feeds it when it serves the fine-tune.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from podium.errors import PodiumError
from podium.jsonl import BadLine, records
from tools.finetune.train import IGNORE, encode_conversation

ROLES = ("system", "user", "assistant")
# Gemma's GGUF ships no chat template: its documented turn format, ended by <end_of_turn>.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
_FORMAT_HINT = 'each line must be {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}]}'


class DataError(PodiumError):
    """Training data the user must fix; ``line`` is the 1-based line of the first problem (0: the whole file)."""

    def __init__(self, message: str, *, path: Path | None = None, line: int = 0, hint: str = _FORMAT_HINT) -> None:
        where = f"{path.name} line {line}: " if path and line else f"{path.name}: " if path else ""
        super().__init__(where + message, hint=hint)
        self.path = path
        self.line = line


def _check(record: Any) -> str | None:
    """Why one parsed line is not a training conversation (``None`` when it is)."""
    if not isinstance(record, dict) or "messages" not in record:
        return 'expected an object with a "messages" list'
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        return '"messages" must be a non-empty list'
    for index, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            return f"message {index} is not an object"
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            return f"message {index} has role {role!r}; use one of {', '.join(ROLES)}"
        if not isinstance(content, str) or not content.strip():
            return f"message {index} ({role}) has no text content"
        if message.get("weight", 1) not in (0, 1):
            return f"message {index} has weight {message['weight']!r}; use 0 or 1"
    if not any(m["role"] == "assistant" and m.get("weight", 1) for m in messages):
        return "no assistant message to learn from"
    return None


def read_conversations(path: Path) -> list[list[dict[str, Any]]]:
    """Every conversation of a JSONL file; a :class:`DataError` names the first bad line and why."""
    if not path.is_file():
        raise DataError(f"{path} does not exist" if not path.exists() else f"{path} is a folder", line=0,
                        hint="pass a .jsonl file, e.g. one written by `podium datagen --chat`")
    conversations = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    try:
        lines = records(text)
    except BadLine as exc:
        raise DataError(f"not valid JSON ({exc.msg}, column {exc.column})", path=path, line=exc.line) from None
    for number, record in lines:
        problem = _check(record)
        if problem:
            raise DataError(problem, path=path, line=number)
        conversations.append([{k: m[k] for k in ("role", "content", "weight") if k in m}
                              for m in record["messages"]])
    if not conversations:
        raise DataError("has no conversations", path=path)
    return conversations


def split(conversations: list[list[dict[str, Any]]], val_fraction: float, seed: int,
          val: list[list[dict[str, Any]]] | None = None) -> tuple[list[Any], list[Any]]:
    """Train and validation conversations: ``val`` when given, else a seeded ``val_fraction`` of the data."""
    if val is None:
        order = list(range(len(conversations)))
        random.Random(seed).shuffle(order)
        n_val = round(len(order) * val_fraction)
        if val_fraction > 0 and len(order) > 1:
            n_val = max(1, n_val)
        held = set(order[:n_val])
        train = [c for i, c in enumerate(conversations) if i not in held]
        val = [c for i, c in enumerate(conversations) if i in held]
    else:
        train = conversations
    hint = "add conversations, or pass --val FILE with held-out ones"
    if not train:
        raise DataError("the training split is empty", hint=hint + " (or lower --val-fraction)")
    if not val:
        raise DataError(f"the validation split is empty ({len(train)} conversation(s), "
                        f"--val-fraction {val_fraction:g})", hint=hint)
    return train, val


@lru_cache(maxsize=4)
def _vocab(path: str) -> Any:
    """llama.cpp's tokenizer of a GGUF without its weights (loads in a fraction of a second)."""
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    return LlamaModel(path_model=path, params=params, verbose=False)


@dataclass
class ChatTokenizer:
    """Renders conversations with a GGUF's chat template and tokenizes them as llama.cpp does."""

    gguf: Path
    """The base model file."""
    _template: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        vocab = _vocab(str(self.gguf))
        source = vocab.metadata().get("tokenizer.chat_template") or GEMMA_TEMPLATE
        self.eos_id = vocab.token_eos()
        self.bos = vocab.token_get_text(vocab.token_bos()) if vocab.token_bos() != -1 else ""
        self.eos = vocab.token_get_text(self.eos_id) if self.eos_id != -1 else ""
        # The same environment llama-cpp-python renders with, so training and serving see one prompt.
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        self._template = env.from_string(source)
        self.has_template = "tokenizer.chat_template" in vocab.metadata()

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        """The conversation as the model's prompt text."""
        plain = [{"role": m["role"], "content": m["content"]} for m in messages]
        return self._template.render(messages=plain, add_generation_prompt=add_generation_prompt,
                                     bos_token=self.bos, eos_token=self.eos)

    def tokenize(self, text: str) -> list[int]:
        """Token ids, special tokens parsed (as llama.cpp tokenizes a rendered chat prompt)."""
        return _vocab(str(self.gguf)).tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def encode(self, messages: list[dict[str, Any]], max_length: int) -> tuple[dict[str, list[int]], int]:
        """One training example and the tokens cut to fit ``max_length``."""
        ids, labels, cut = encode_conversation(messages, self.render, self.tokenize, max_length)
        return {"input_ids": ids, "labels": labels}, cut


def encode_all(tokenizer: ChatTokenizer, conversations: list[Any], max_length: int) -> tuple[list[Any], dict]:
    """Examples and their statistics: tokens per example, trained tokens, truncation."""
    examples, lengths, cuts = [], [], []
    for messages in conversations:
        example, cut = tokenizer.encode(messages, max_length)
        examples.append(example)
        lengths.append(len(example["input_ids"]) + cut)
        cuts.append(cut)
    trained = sum(sum(1 for t in e["labels"] if t != IGNORE) for e in examples)
    truncated = sum(1 for c in cuts if c)
    stats = {"examples": len(examples), "tokens": sum(lengths), "trained_tokens": trained,
             "mean_tokens": round(statistics.fmean(lengths), 1), "median_tokens": statistics.median(lengths),
             "max_tokens": max(lengths), "max_length": max_length, "truncated": truncated,
             "tokens_cut": sum(cuts)}
    if trained == 0:
        raise DataError(f"no assistant token is left to learn from after truncation to {max_length} tokens",
                        hint="raise --max-length or shorten the conversations")
    return examples, stats
