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
from tools.datagen.backend import Answer, BatchCall
from tools.datagen.job import Job
from tools.datagen.prompts import Variation
from tools.datagen.schema import Validator, grammar_schema

ANSWER_TOKENS = 256
"""Most tokens of one assistant reply in chat mode (unless ``--max-tokens`` says otherwise)."""
QA_TOKENS = 220
"""Most tokens of one question-answer pair."""


@dataclass
class Ask:
    """What one row asks the model for, in modes whose rows are one structured call (records, QA pairs)."""

    index: int
    variation: Variation
    sampling: dict[str, Any]
    messages: list[Any]
    schema: dict[str, Any]
    """The JSON schema the answer is constrained to (labels pinned)."""
    passage: dict[str, Any] | None = None
    """The passage a QA pair is grounded in."""
    replies: list[Any] = field(default_factory=list)
    """Every reply the row took (for its cost)."""


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

    validator: Validator
    """What a row must pass (modes whose rows are one structured call)."""
    max_tokens: int
    """Most tokens of that call's answer."""

    def __init__(self, job: Job, backend: Any) -> None:
        self.job, self.backend = job, backend
        default = backend.ctx.settings.temperature
        self.schedule = job.temperature or (diversity.TEMPERATURES if job.diversity else (default, default))
        self.topics: list[str] = list(job.topics)
        self.personas = list(job.personas) or (list(diversity.PERSONAS) if job.diversity else [])
        self.unbatched: str | None = None
        """Why batched generation was given up in this run (rows are then made one at a time)."""
        self.log: Any = lambda _: None

    def prepare(self, saved_topics: list[str] | None, log: Any) -> list[str]:
        """Settle the seed topics before the first row: given, saved by an earlier run, or generated now."""
        self.log = log
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
                   max_tokens: int, sampling: dict[str, Any], replies: list[Any],
                   first: Answer | None = None) -> tuple[dict | None, str | None]:
        """A row that passes ``validator``, repaired at most ``job.repairs`` times; (None, problem) otherwise.

        ``first`` is the answer a batch already gave to ``messages`` (see :meth:`make_batch`): the work goes on from
        it as from the first call's answer. One whose JSON broke its schema is asked for again here (at
        temperature 0 the same answer), so the routing layer repairs it exactly as it repairs a row made alone.
        """
        problem = None
        for attempt in range(self.job.repairs + 1):
            if first is not None and first[0] is not None:
                parsed, reply = first[0], first[1]
            else:
                try:
                    parsed, reply = self.backend.structured(messages, schema, max_tokens=max_tokens, **sampling)
                except StructuredOutputError as exc:
                    return None, exc.message.split(": ", 1)[-1]
            first = None
            replies.append(reply)
            problem = validator.problem(parsed)
            if problem is None:
                return parsed, None
            if attempt < self.job.repairs:
                messages = [*messages, prompts.AIMessage(reply.text),
                            prompts.HumanMessage(prompts.REPAIR.format(problem=problem))]
        return None, problem

    def ask(self, index: int) -> Ask:
        """What row ``index`` asks the model for (modes whose rows are one structured call)."""
        raise NotImplementedError

    def candidate(self, ask: Ask, row: dict[str, Any] | None, problem: str | None) -> Candidate:
        """The candidate row made from an answer to ``ask``."""
        raise NotImplementedError

    def make(self, index: int) -> Candidate:
        """Row ``index``."""
        ask = self.ask(index)
        row, problem = self.structured(ask.messages, ask.schema, self.validator, max_tokens=self.max_tokens,
                                       sampling=ask.sampling, replies=ask.replies)
        return self.candidate(ask, row, problem)

    def batches(self) -> bool:
        """Whether :meth:`make_batch` decodes rows together (a one-call mode on a local llama.cpp model)."""
        return type(self).ask is not Maker.ask and self.job.batch > 1 and not self.unbatched \
            and self.backend.batchable()

    def make_batch(self, indexes: list[int]) -> list[Candidate]:
        """Rows ``indexes``, their first calls decoded together on the local model; repairs go one by one."""
        if self.unbatched:
            return [self.make(i) for i in indexes]
        asks = [self.ask(i) for i in indexes]
        calls = [BatchCall(a.messages, a.schema, a.sampling["temperature"], a.sampling["seed"]) for a in asks]
        try:
            answers = self.backend.structured_batch(calls, max_tokens=self.max_tokens)
        except PodiumError as exc:  # e.g. a prompt over the context: one by one, each through the whole chain
            self.unbatched = exc.one_line()
            self.log(f"rows are made one at a time from now on: batched generation failed ({self.unbatched})")
            return [self.make(i) for i in indexes]
        out = []
        for ask, answer in zip(asks, answers, strict=True):
            row, problem = self.structured(ask.messages, ask.schema, self.validator, max_tokens=self.max_tokens,
                                           sampling=ask.sampling, replies=ask.replies, first=answer)
            out.append(self.candidate(ask, row, problem))
        return out

    def first_cost(self) -> float:
        """What the first row may cost before any is seen: one call, a prompt of a few hundred tokens (what a row's
        request takes) and the whole answer budget."""
        return self.backend.worst_cost(400, self.job.max_tokens or 512)


class RecordMaker(Maker):
    """Flat rows matching the job's schema."""

    def __init__(self, job: Job, backend: Any) -> None:
        super().__init__(job, backend)
        self.validator = Validator(job.schema or {})
        self.max_tokens = job.max_tokens or row_tokens(job.schema or {})

    def ask(self, index: int) -> Ask:
        """Row ``index``: labels pinned in prompt and grammar, then checked against the full schema."""
        variation, sampling = self.variation(index), self.sampling(index)
        schema = self.job.schema or {}
        messages = prompts.record_messages(self.job.description, schema, variation, self.job.examples)
        return Ask(index, variation, sampling, messages, grammar_schema(schema, variation.labels))

    def candidate(self, ask: Ask, row: dict[str, Any] | None, problem: str | None) -> Candidate:
        """The row with the schema's fields only, in the schema's order."""
        if row is not None:
            row = {k: row[k] for k in (self.job.schema or {}).get("properties", {}) if k in row}
        return Candidate(ask.index, row, problem, self.meta(ask.index, ask.variation, ask.replies, ask.sampling),
                         _prompt(ask.messages))


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
        self.max_tokens = QA_TOKENS

    def ask(self, index: int) -> Ask:
        """Pair ``index``: passages taken in a shuffled round-robin, so each is used before any repeats."""
        passage = diversity.pick(self.passages, index, self.job.seed)
        variation = Variation(persona=diversity.pick(self.personas, index, self.job.seed + 1))
        messages = prompts.qa_messages(passage["text"], passage["source"], variation)
        return Ask(index, variation, self.sampling(index), messages, prompts.QA_SCHEMA, passage=passage)

    def candidate(self, ask: Ask, row: dict[str, Any] | None, problem: str | None) -> Candidate:
        """The pair with its passage's id and source (the gold source for ``podium kb eval``)."""
        meta = self.meta(ask.index, ask.variation, ask.replies, ask.sampling)
        if row is None:
            return Candidate(ask.index, None, problem, meta, _prompt(ask.messages))
        passage = ask.passage or {}
        pair = {"question": row["question"].strip(), "answer": row["answer"].strip(),
                "sources": [passage["source"]], "passage_id": passage["id"], "passage": passage["text"]}
        return Candidate(ask.index, pair, None, meta, _prompt(ask.messages))


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
