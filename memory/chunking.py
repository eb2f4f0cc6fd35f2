"""Structure-aware chunking: sections stay apart, code blocks stay whole, sizes are counted in tokens.

Loaders turn a file into :class:`Block` records (a paragraph or a code block under a
heading path). :func:`chunk_blocks` packs them into chunks of at most ``max_tokens``
tokens of the embedding model: a chunk never mixes two sections unless both are
tiny, a code block that fits is never cut, an over-long paragraph is cut between
sentences, and consecutive chunks of one section share about ``overlap`` tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Counter = Callable[[Sequence[str]], list[int]]
"""Counts the tokens of each text (the embedder's ``count_tokens``)."""

HEADING_SEPARATOR = " > "

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)")


@dataclass(frozen=True)
class Block:
    """One paragraph, list, table or code block of a document."""

    text: str
    heading: tuple[str, ...] = ()
    """Titles of the enclosing sections, outermost first."""
    kind: str = "text"
    """``text`` or ``code`` (code is cut between lines, never inside one where avoidable)."""
    page: int | None = None
    """1-based page, for paginated formats."""


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed, with where it came from."""

    text: str
    heading: str = ""
    """Heading path joined with `` > ``."""
    page: int | None = None
    tokens: int = 0

    @property
    def embed_text(self) -> str:
        """What is embedded and indexed: the heading path gives a short chunk its context."""
        return f"{self.heading}\n\n{self.text}" if self.heading else self.text


@dataclass
class _Unit:
    """A piece that is never cut further: a sentence, a code block, or a run of code lines."""

    text: str
    tokens: int
    sep: str
    """Joins it to the previous unit: a blank line between blocks, a space inside a paragraph."""
    kind: str
    page: int | None


def _sentences(text: str) -> list[tuple[str, str]]:
    """``(separator before, sentence)`` pairs; the separators keep a list's line breaks."""
    out, start, sep = [], 0, "\n\n"
    for match in _SENTENCE_END.finditer(text):
        out.append((sep, text[start:match.start()]))
        start, sep = match.end(), match.group()
    out.append((sep, text[start:]))
    return [(sep, sentence) for sep, sentence in out if sentence.strip()]


def _cut(word: str, count: Counter, limit: int) -> list[str]:
    """Cut a single over-long word (a URL, a base64 blob) by characters into pieces that fit."""
    pieces, start = [], 0
    while start < len(word):
        end = min(len(word), start + limit * CHARS_PER_TOKEN)  # no more characters than that can fit
        while end - start > 1 and count([word[start:end]])[0] > limit:
            end = start + max(1, (end - start) * 3 // 4)
        pieces.append(word[start:end])
        start = end
    return pieces


def _windows(text: str, count: Counter, limit: int, joiner: str) -> list[tuple[str, str]]:
    """Cut ``text`` (lines for code, words for prose) into ``(piece, separator before)`` of at most ``limit`` tokens."""
    parts = text.split("\n") if joiner == "\n" else text.split()
    sizes = count(parts)
    pieces: list[tuple[str, str]] = []
    current: list[str] = []
    size = 0
    for part, n in zip(parts, sizes, strict=True):
        if current and size + n > limit:
            pieces.append((joiner.join(current), joiner))
            current, size = [], 0
        if n > limit:
            pieces += [(piece, joiner if i == 0 else "") for i, piece in enumerate(_cut(part, count, limit))]
            continue
        current.append(part)
        size += n
    if current:
        pieces.append((joiner.join(current), joiner))
    return pieces


def _units(blocks: Sequence[Block], count: Counter, limit: int) -> list[_Unit]:
    """Sentences of prose and whole code blocks, cut further only where one exceeds ``limit``."""
    pieces: list[tuple[str, str, Block]] = []
    for block in blocks:
        if block.kind == "code":
            pieces.append(("\n\n", block.text, block))
        else:
            pieces += [(sep, sentence, block) for sep, sentence in _sentences(block.text)]
    units: list[_Unit] = []
    for (sep, text, block), size in zip(pieces, count([p[1] for p in pieces]), strict=True):
        if size <= limit:
            units.append(_Unit(text, size, sep, block.kind, block.page))
            continue
        parts = _windows(text, count, limit, "\n" if block.kind == "code" else " ")
        units += [_Unit(part, n, sep if i == 0 else joiner, block.kind, block.page)
                  for i, ((part, joiner), n) in enumerate(zip(parts, count([p for p, _ in parts]), strict=True))]
    return units


def _sections(blocks: Sequence[Block]) -> list[list[Block]]:
    groups: list[list[Block]] = []
    for block in blocks:
        if groups and groups[-1][0].heading == block.heading:
            groups[-1].append(block)
        else:
            groups.append([block])
    return groups


def _pack(units: list[_Unit], limit: int, overlap: int) -> list[list[_Unit]]:
    """Greedy packing; each new chunk starts with the tail of the previous one (whole sentences)."""
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        if current and sum(u.tokens for u in current) + unit.tokens > limit:
            chunks.append(current)
            tail: list[_Unit] = []
            for prev in reversed(current):
                if prev.kind == "code" or sum(u.tokens for u in tail) + prev.tokens > overlap:
                    break
                tail.insert(0, prev)
            # Overlap must leave room for the new unit, or the chunk would overflow.
            while tail and sum(u.tokens for u in tail) + unit.tokens > limit:
                tail.pop(0)
            current = tail
        current.append(unit)
    if current:
        chunks.append(current)
    return chunks


def _join(units: list[_Unit]) -> str:
    return "".join(u.text if i == 0 else u.sep + u.text for i, u in enumerate(units)).strip()


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


CHARS_PER_TOKEN = 8
"""Characters from which a text counts one more token than its tokenizer says: WordPiece reads any
word over 100 characters (minified JSON, base64, a line of ``x``) as one unknown token, so without
this floor one such line would become a single chunk of any length."""


def _bounded(count: Counter) -> Counter:
    """``count``, but never fewer than one token per ``CHARS_PER_TOKEN`` characters."""
    def sizes(texts: Sequence[str]) -> list[int]:
        return [max(n, -(-len(text) // CHARS_PER_TOKEN)) for text, n in zip(texts, count(texts), strict=True)]

    return sizes


def chunk_blocks(blocks: Sequence[Block], count: Counter, max_tokens: int = 200, overlap: int = 32) -> list[Chunk]:
    """Pack a document's blocks into token-bounded chunks (see the module docstring)."""
    count = _bounded(count)
    blocks = [b for b in blocks if b.text.strip()]
    if not blocks:
        return []
    raw: list[Section] = []
    for section in _sections(blocks):
        units = _units(section, count, max_tokens)
        raw += [(section[0].heading, packed) for packed in _pack(units, max_tokens, overlap)]
    merged = _merge_small(raw, max_tokens)
    return [Chunk(text=_join(units), heading=HEADING_SEPARATOR.join(heading),
                  page=next((u.page for u in units if u.page is not None), None),
                  tokens=sum(u.tokens for u in units)) for heading, units in merged]


Section = tuple[tuple[str, ...], list[_Unit]]


def _merge_small(raw: list[Section], limit: int) -> list[Section]:
    """Join runs of tiny sections (a heading and a line or two) so they don't become tiny chunks.

    The merged chunk keeps the headings the sections share, and names each section inline.
    """
    out: list[Section] = []
    small = limit // 4
    for heading, units in raw:
        size = sum(u.tokens for u in units)
        if out:
            prev_heading, prev_units = out[-1]
            prev_size = sum(u.tokens for u in prev_units)
            if prev_heading != heading and prev_size < small and prev_size + size + len(heading) <= limit:
                shared = _common(prev_heading, heading)
                title = [_Unit(" / ".join(heading[len(shared):]), len(heading), "\n\n", "text", units[0].page)]
                lead = [] if len(prev_heading) == len(shared) else \
                    [_Unit(" / ".join(prev_heading[len(shared):]), 0, "", "text", prev_units[0].page)]
                out[-1] = (shared, [*lead, *prev_units, *(title if heading[len(shared):] else []), *units])
                continue
        out.append((heading, units))
    return out
