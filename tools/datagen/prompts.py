"""The prompts of each mode: records, chat turns, question-answer pairs from passages, Magpie, topics.

Pure functions from what a row should be (its topic, persona, angle, labels) to the
messages a model reads, so the per-row variation is visible and testable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from tools.datagen.schema import describe

WRITER = ("You write realistic, varied synthetic data for a dataset. Every row is new: never copy an example. "
          "Reply with one JSON object only.")
REPAIR = "That row is not valid: {problem}. Write the row again as one JSON object that fixes this."
USER_SCHEMA = {"type": "object", "properties": {"user": {"type": "string", "minLength": 8, "maxLength": 400}},
               "required": ["user"], "additionalProperties": False}
"""What a generated user message is decoded as (chat mode)."""
QA_SCHEMA = {"type": "object", "properties": {"question": {"type": "string", "minLength": 8, "maxLength": 200},
                                              "answer": {"type": "string", "minLength": 1, "maxLength": 400}},
             "required": ["question", "answer"], "additionalProperties": False}
"""A question-answer pair grounded in one passage (``--from-docs``)."""
TOPICS_SCHEMA = {"type": "object", "properties": {"topics": {
    "type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 60}, "minItems": 6, "maxItems": 12}},
    "required": ["topics"], "additionalProperties": False}
"""The seed topics a model proposes when ``--topics`` names none."""


@dataclass
class Variation:
    """What makes one row's request differ from the next one's."""

    topic: str | None = None
    persona: str | None = None
    angle: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    """Label fields pinned for this row (balanced enums)."""

    def lines(self) -> list[str]:
        """The variation as prompt lines."""
        out = []
        if self.topic:
            out.append(f"Topic: {self.topic}.")
        if self.persona:
            out.append(f"Written by {self.persona}.")
        if self.angle:
            out.append(f"Make it {self.angle}.")
        out += [f"Its {name} is {json.dumps(value)}." for name, value in self.labels.items()]
        return out


def record_messages(description: str, schema: dict[str, Any], variation: Variation,
                    examples: list[dict[str, Any]]) -> list[BaseMessage]:
    """Ask for one row of a flat dataset."""
    parts = [f"Dataset: {description}", f"Write one row with these fields:\n{describe(schema)}", *variation.lines()]
    if examples:
        shown = "\n".join(json.dumps(e, ensure_ascii=False) for e in examples[:3])
        parts.append(f"Example rows (write a new, different one):\n{shown}")
    return [SystemMessage(WRITER), HumanMessage("\n".join(parts))]


def user_turn_messages(description: str, variation: Variation, history: list[dict[str, str]]) -> list[BaseMessage]:
    """Ask for the next user message of a conversation (the first one when ``history`` is empty)."""
    if history:
        shown = "\n".join(f"{m['role']}: {m['content']}" for m in history)
        ask = (f"Here is a conversation between a user and an AI assistant:\n{shown}\n\n"
               "Write the user's next message: a natural follow-up.")
    else:
        ask = f"Write one message that a user might send to an AI assistant. The dataset: {description}."
    text = "\n".join([ask, *variation.lines(), 'Reply as JSON: {"user": "..."}'])
    return [SystemMessage(WRITER), HumanMessage(text)]


def style_system(style: str | None, system: str | None) -> str | None:
    """The system prompt the assistant answers under: the conversation's own, then the style asked for."""
    parts = [p for p in (system, f"Answer in this style: {style}" if style else None) if p]
    return "\n".join(parts) or None


def answer_messages(history: list[dict[str, str]], style: str | None, system: str | None,
                    shots: list[list[dict[str, str]]]) -> list[BaseMessage]:
    """The assistant's reply to the conversation so far, after example conversations in the wanted style."""
    out: list[BaseMessage] = []
    prompt = style_system(style, system)
    if prompt:
        out.append(SystemMessage(prompt))
    for shot in shots[:3]:
        out += _as_messages(shot)
    out += _as_messages(history)
    return out


def _as_messages(conversation: list[dict[str, str]]) -> list[BaseMessage]:
    kinds = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}
    return [kinds[m["role"]](m["content"]) for m in conversation if m.get("role") in kinds]


def qa_messages(passage: str, source: str, variation: Variation) -> list[BaseMessage]:
    """Ask for one question that ``passage`` answers, with its answer taken from the passage."""
    text = "\n".join([
        f'Passage from "{source}":', '"""', passage.strip(), '"""', "",
        "Write one question that this passage answers, and the answer, using only facts from the passage. "
        "The question must make sense without seeing the passage.",
        *([f"Written by {variation.persona}."] if variation.persona else []),
        'Reply as JSON: {"question": "...", "answer": "..."}'])
    return [SystemMessage(WRITER), HumanMessage(text)]


def topics_messages(description: str, count: int = 10) -> list[BaseMessage]:
    """Ask for distinct seed topics that a dataset should cover."""
    return [SystemMessage("You plan datasets. Reply with one JSON object only."),
            HumanMessage(f"List {count} different, specific topics that rows of this dataset should cover: "
                         f"{description}. Each topic is a few words.")]


def magpie_opening(render: Any, system: str | None) -> str:
    """The chat template's text up to where a user's message begins (Magpie's whole prompt).

    ``render(messages) -> str`` renders the template; a sentinel message marks the spot, so
    this works for any template (ChatML, Llama 3, Gemma...) without knowing its tokens.
    """
    sentinel = "\u2063PODIUM-MAGPIE\u2063"
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": sentinel}]
    text = render(messages)
    cut = text.find(sentinel)
    if cut == -1:
        raise ValueError("the chat template does not show the user's message")
    return text[:cut]
