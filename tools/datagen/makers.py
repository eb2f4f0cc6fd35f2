"""Row makers, one per mode: records from a schema, chat conversations (optionally Magpie), QA from passages.

A maker turns a row index into a :class:`Candidate`: the row (or why none came), its
provenance and the prompt it came from. The index alone decides the row's seed, topic,
persona, angle, balanced labels and temperature, so a resumed run never repeats one.
Makers run in worker threads and touch nothing shared but the backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from models.failures import StructuredOutputError
from podium.errors import PodiumError
from tools.datagen import diversity, prompts
from tools.datagen.job import Job
from tools.datagen.prompts import Variation
from tools.datagen.schema import Validator, grammar_schema

ANSWER_TOKENS = 256
"""Most tokens of one assistant reply in chat mode (unless ``--max-tokens`` says otherwise)."""


@dataclass
class Candidate:
    """One attempt at a row."""

    index: int
    row: dict[str, Any] | None
    problem: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""


def row_tokens(schema: dict[str, Any]) -> int:
    """Tokens a row of ``schema`` may need: its text limits at ~3 characters a token, plus the JSON around them."""
    total = 8
    for prop in schema.get("properties", {}).values():
        if not isinstance(prop, dict):
            total += 64
        elif prop.get("type") == "string" and "enum" not in prop:
            total += int(prop.get("maxLength", 300)) // 3 + 8
        elif prop.get("type") == "array":
            total += int(prop.get("maxItems", 5)) * 20 + 8
        else:
            total += 12
    return total


class Maker:
    """Shared by every mode: the row's variation, seed and temperature, and a validated, repaired call."""

    def __init__(self, job: Job, backend: Any) -> None:
        self.job, self.backend = job, backend
        default = backend.ctx.settings.temperature
        self.schedule = job.temperature or (diversity.TEMPERATURES if job.diversity else (default, default))
        self.topics: list[str] = list(job.topics)
        self.personas = list(job.personas) or (list(diversity.PERSONAS) if job.diversity else [])

    def prepare(self, saved_topics: list[str] | None, log: Any) -> list[str]:
        """Settle the seed topics before the first row: given, saved by an earlier run, or generated now."""
        if self.topics or not self.job.diversity or self.job.mode == "docs":
            return self.topics
        if saved_topics:
            self.topics = list(saved_topics)
            return self.topics
        try:
            parsed, _ = self.backend.structured(prompts.topics_messages(self.job.description), prompts.TOPICS_SCHEMA,
                                                temperature=0.7, seed=self.job.seed, max_tokens=256)
            self.topics = list(dict.fromkeys(t.strip() for t in parsed["topics"] if t.strip()))
        except StructuredOutputError as exc:
            log(f"could not generate seed topics ({exc.message}); rows vary by persona and angle only")
        if self.topics:
            log(f"seed topics: {'; '.join(self.topics)}")
        return self.topics

    def variation(self, index: int, labels: bool = True) -> Variation:
        """Topic, persona, angle and balanced labels of row ``index`` (nothing with --no-diversity)."""
        if not self.job.diversity:
            return Variation(topic=diversity.pick(self.topics, index, self.job.seed))
        schema = self.job.schema or {}
        return Variation(topic=diversity.pick(self.topics, index, self.job.seed),
                         persona=diversity.pick(self.personas, index, self.job.seed + 1),
                         angle=diversity.pick(diversity.ANGLES, index, self.job.seed + 2),
                         labels=diversity.balanced_labels(schema, index, self.job.seed + 3) if labels else {})

    def sampling(self, index: int) -> dict[str, Any]:
        """Per-row seed and temperature."""
        return {"seed": (self.job.seed * 1_000_003 + index) % 2**31,
                "temperature": diversity.temperature_for(index, self.schedule)}

    def meta(self, index: int, variation: Variation, replies: list[Any], sampling: dict[str, Any]) -> dict[str, Any]:
        """Provenance of a row: model, seed, temperature, topic, persona, cost."""
        costs = [self.backend.cost(r) for r in replies]
        models = [(getattr(r, "response_metadata", None) or {}).get("model") for r in replies]
        meta = {"index": index, "model": next((m for m in models if m), self.backend.spec.spec), **sampling,
                "topic": variation.topic, "persona": variation.persona,
                "cost_usd": None if None in costs else round(sum(c or 0.0 for c in costs), 8)}
        return {k: v for k, v in meta.items() if v is not None or k == "cost_usd"}

    def structured(self, messages: list[Any], schema: dict[str, Any], validator: Validator, *,
                   max_tokens: int, sampling: dict[str, Any], replies: list[Any]) -> tuple[dict | None, str | None]:
        """A row that passes ``validator``, repaired at most ``job.repairs`` times; (None, problem) otherwise."""
        problem = None
        for attempt in range(self.job.repairs + 1):
            try:
                parsed, reply = self.backend.structured(messages, schema, max_tokens=max_tokens, **sampling)
            except StructuredOutputError as exc:
                return None, exc.message.split(": ", 1)[-1]
            replies.append(reply)
            problem = validator.problem(parsed)
            if problem is None:
                return parsed, None
            if attempt < self.job.repairs:
                messages = [*messages, prompts.AIMessage(reply.text),
                            prompts.HumanMessage(prompts.REPAIR.format(problem=problem))]
        return None, problem

    def first_cost(self) -> float:
        """What the first row may cost before any is seen: one call, a prompt of a few hundred tokens (what a row's
        request takes) and the whole answer budget."""
        return self.backend.worst_cost(400, self.job.max_tokens or 512)

    def make(self, index: int) -> Candidate:
        """Row ``index``."""
        raise NotImplementedError


class RecordMaker(Maker):
    """Flat rows matching the job's schema."""

    def __init__(self, job: Job, backend: Any) -> None:
        super().__init__(job, backend)
        self.validator = Validator(job.schema or {})
        self.max_tokens = job.max_tokens or row_tokens(job.schema or {})

    def make(self, index: int) -> Candidate:
        """Row ``index``: labels pinned in prompt and grammar, then checked against the full schema."""
        variation, sampling = self.variation(index), self.sampling(index)
        schema = self.job.schema or {}
        messages = prompts.record_messages(self.job.description, schema, variation, self.job.examples)
        replies: list[Any] = []
        row, problem = self.structured(messages, grammar_schema(schema, variation.labels), self.validator,
                                       max_tokens=self.max_tokens, sampling=sampling, replies=replies)
        if row is not None:
            row = {k: row[k] for k in schema.get("properties", {}) if k in row}
        return Candidate(index, row, problem, self.meta(index, variation, replies, sampling), _prompt(messages))


class ChatMaker(Maker):
    """Conversations in the OpenAI fine-tuning format: ``{"messages": [{"role", "content"}, ...]}``."""

    def __init__(self, job: Job, backend: Any) -> None:
        super().__init__(job, backend)
        self.users = Validator(prompts.USER_SCHEMA)
        self.answer_tokens = job.max_tokens or ANSWER_TOKENS
        self.opening = ""
        if job.magpie:  # the template's user-turn opening, steered by a system prompt naming the dataset
            system = f"You are an AI assistant. Users ask you about: {job.description}."
            self.opening = prompts.magpie_opening(backend.render, system)

    def make(self, index: int) -> Candidate:
        """Conversation ``index``: user message (asked for, or Magpie's raw completion), then the reply."""
        variation, sampling = self.variation(index, labels=False), self.sampling(index)
        history: list[dict[str, str]] = []
        replies: list[Any] = []
        prompt = ""
        for turn in range(max(1, self.job.turns)):
            if self.job.magpie and turn == 0:
                prompt = self.opening
                user = self.backend.raw(self.opening, max_tokens=160, **sampling).strip()
                if len(user) < 8:
                    return Candidate(index, None, "the model wrote no instruction", prompt=prompt)
            else:
                messages = prompts.user_turn_messages(self.job.description, variation, history)
                prompt = prompt or _prompt(messages)
                parsed, problem = self.structured(messages, prompts.USER_SCHEMA, self.users, max_tokens=160,
                                                  sampling=sampling, replies=replies)
                if parsed is None:
                    return Candidate(index, None, problem, prompt=prompt)
                user = parsed["user"].strip()
            history.append({"role": "user", "content": user})
            answer, reply = self.backend.text(
                prompts.answer_messages(history, self.job.style, self.job.system, self.job.style_shots),
                max_tokens=self.answer_tokens, **sampling)
            replies.append(reply)
            if not answer:
                return Candidate(index, None, "empty assistant reply", prompt=prompt)
            history.append({"role": "assistant", "content": answer})
        system = [{"role": "system", "content": self.job.system}] if self.job.system else []
        meta = self.meta(index, variation, replies, sampling)
        return Candidate(index, {"messages": system + history}, None, meta, prompt)


class QAMaker(Maker):
    """Question-answer pairs grounded in one passage each, with the passage's id and source."""

    def __init__(self, job: Job, backend: Any, passages: list[dict[str, Any]]) -> None:
        super().__init__(job, backend)
        if not passages:
            raise PodiumError(f"--from-docs: collection {job.collection!r} has no passages",
                              hint=f"ingest documents first: podium ingest PATH --collection {job.collection}")
        self.passages = passages
        self.validator = Validator(prompts.QA_SCHEMA)

    def make(self, index: int) -> Candidate:
        """Pair ``index``: passages taken in a shuffled round-robin, so each is used before any repeats."""
        passage = diversity.pick(self.passages, index, self.job.seed)
        variation = Variation(persona=diversity.pick(self.personas, index, self.job.seed + 1))
        sampling = self.sampling(index)
        messages = prompts.qa_messages(passage["text"], passage["source"], variation)
        replies: list[Any] = []
        parsed, problem = self.structured(messages, prompts.QA_SCHEMA, self.validator, max_tokens=220,
                                          sampling=sampling, replies=replies)
        meta = self.meta(index, variation, replies, sampling)
        if parsed is None:
            return Candidate(index, None, problem, meta, _prompt(messages))
        row = {"question": parsed["question"].strip(), "answer": parsed["answer"].strip(),
               "sources": [passage["source"]], "passage_id": passage["id"], "passage": passage["text"]}
        return Candidate(index, row, None, meta, _prompt(messages))


def _prompt(messages: list[Any]) -> str:
    return json.dumps([[m.type, m.text] for m in messages], ensure_ascii=False)


def maker_for(job: Job, backend: Any, passages: list[dict[str, Any]]) -> Maker:
    """The maker of the job's mode."""
    if job.mode == "chat":
        return ChatMaker(job, backend)
    if job.mode == "docs":
        return QAMaker(job, backend, passages)
    return RecordMaker(job, backend)


def load_passages(kb: Any, collection: str) -> list[dict[str, Any]]:
    """Every passage of a knowledge collection: id, text and source (an unknown collection is an error)."""
    from memory.chroma import read_all

    col = kb.collection(collection)
    return [{"id": r["id"], "text": r["document"], "source": r["metadata"].get("source", "")}
            for r in read_all(col, ["documents", "metadatas"]) if (r["document"] or "").strip()]
