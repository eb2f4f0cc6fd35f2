"""Stop a generation that repeats itself: an n-gram check on the streamed words.

Small models at low temperature fall into loops ("The sky is blue. The sky is blue. ...")
and would run to the token limit. :class:`RepetitionGuard` watches the words as they
stream and reports a loop once the text ends with the same block of words several
times back to back, or once its last n-gram has come many times within the last
hundred-odd words (a loop that varies a little: a list numbering the same sentence);
the caller stops the stream there and says so.

Words are runs of letters and digits, so punctuation, Markdown rules and table borders
never count, and a loop must be long in words before it is called one: "ha ha ha" and
three identical short lines of code are not loops.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")

MIN_REPEATS = 3
"""Back-to-back copies of a block that make a loop (two copies when the block is long)."""
LONG_BLOCK = 20
"""Words in a block long enough that two copies in a row already make a loop."""
MIN_LOOP_WORDS = 24
"""Fewest words a loop must cover, so short legitimate repetition ("no, no, no") passes."""
MAX_BLOCK = 120
"""Longest block (in words) looked for: a loop of a whole paragraph."""
NGRAM = 4
"""Words in the n-gram counted by the second check, for loops that vary ("2. The cat is a cat. 3. The cat ...")."""
NGRAM_REPEATS = 8
"""Times the text's last n-gram must occur within the last :data:`MAX_BLOCK` words to call it a loop."""


def loop_at_end(words: list[str], blocks: list[int] | None = None) -> tuple[int, int] | None:
    """``(block, copies)`` when ``words`` end with a block of words repeated back to back, else ``None``.

    ``blocks`` are the block sizes worth trying (the distances back to earlier copies of the last
    word); all sizes by default. Shortest block first, so "a b a b a b" is block 2, copies 3.
    """
    n = len(words)
    if n < MIN_LOOP_WORDS:
        return None
    sizes = range(1, min(MAX_BLOCK, n // 2) + 1) if blocks is None else sorted(b for b in blocks if b <= n // 2)
    for block in sizes:
        if words[n - 1 - block] != words[n - 1]:  # cheap first look: most block sizes fail here
            continue
        tail = words[n - block:]
        copies = 1
        while (copies + 1) * block <= n and words[n - (copies + 1) * block:n - copies * block] == tail:
            copies += 1
        needed = 2 if block >= LONG_BLOCK else MIN_REPEATS
        if copies >= needed and block * copies >= MIN_LOOP_WORDS:
            return block, copies
    return None


class RepetitionGuard:
    """Fed streamed text piece by piece; :meth:`feed` returns True once the text is looping."""

    def __init__(self) -> None:
        self.text = ""
        self.words: list[str] = []
        """The complete words so far, lower-cased."""
        self._read = 0
        self._last: dict[str, list[int]] = {}
        self.loop: tuple[int, int] | None = None
        """``(block, copies)`` of the loop found, once found."""

    def feed(self, piece: str) -> bool:
        """Add a streamed piece; checks only when a new word has been completed (cheap per token)."""
        if not piece or self.loop:
            return self.loop is not None
        self.text += piece
        # Only the text since the last complete word is re-read; a word still growing is not counted yet.
        pending = self.text[self._read:]
        found = list(_WORD.finditer(pending))
        if found and found[-1].end() == len(pending):
            found.pop()
        if not found:
            return False
        for match in found:
            word = match.group().lower()
            self.words.append(word)
            seen = self._last.setdefault(word, [])
            seen.append(len(self.words) - 1)
            while seen[0] < len(self.words) - 1 - MAX_BLOCK:
                seen.pop(0)
        self._read += found[-1].end()
        # A block ends where the last word occurred before: only those distances can be loops.
        last = self._last[self.words[-1]]
        self.loop = loop_at_end(self.words, [last[-1] - p for p in last[:-1]]) or self._frequent(last)
        return self.loop is not None

    def _frequent(self, last: list[int]) -> tuple[int, int] | None:
        """``(n, count)`` when the last n-gram came :data:`NGRAM_REPEATS` times within :data:`MAX_BLOCK` words."""
        if len(last) < NGRAM_REPEATS or len(self.words) < MIN_LOOP_WORDS:
            return None
        words, tail = self.words, self.words[-NGRAM:]
        count = sum(1 for p in last if p >= NGRAM - 1 and words[p - NGRAM + 1:p + 1] == tail)
        return (NGRAM, count) if count >= NGRAM_REPEATS else None



def loop_notice(block: int, copies: int, tokens: int | None = None) -> str:
    """What to tell the user about a generation stopped in a loop of ``copies`` blocks of ``block`` words."""
    after = f" after {tokens} tokens" if tokens else ""
    return f"stopped a looping answer{after}: the same {block} words came {copies} times"
