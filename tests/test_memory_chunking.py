"""Structure-aware parsing and token-sized chunking, counted with the real MiniLM tokenizer."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.chunking import Block, chunk_blocks
from memory.embeddings import OnnxMiniLM
from memory.markup import html_blocks, markdown_blocks, rst_blocks


@pytest.fixture(scope="module")
def count():
    return OnnxMiniLM().count_tokens


def test_markdown_headings_code_and_front_matter():
    text = ("---\ntitle: x\n---\n# Guide\n\nIntro text.\n\n## Install\n\nRun this:\n\n```sh\npip install podium\n\n"
            "make run\n```\n\nSetext\n------\nUnder setext.\n")
    blocks = markdown_blocks(text)
    assert [(b.heading, b.kind) for b in blocks] == [
        (("Guide",), "text"), (("Guide", "Install"), "text"), (("Guide", "Install"), "code"),
        (("Guide", "Setext"), "text")]
    assert blocks[2].text == "```sh\npip install podium\n\nmake run\n```", "a blank line inside a fence stays inside"
    assert "title" not in " ".join(b.text for b in blocks), "front matter is not content"


def test_rst_titles_by_first_use_and_literal_blocks():
    text = ("=====\nTitle\n=====\n\nIntro.\n\nSection\n-------\n\nExample::\n\n    x = 1\n    y = 2\n\n"
            "Sub\n~~~\n\nDeep.\n")
    blocks = rst_blocks(text)
    assert [(b.heading, b.kind, b.text) for b in blocks] == [
        (("Title",), "text", "Intro."), (("Title", "Section"), "text", "Example::"),
        (("Title", "Section"), "code", "    x = 1\n    y = 2"), (("Title", "Section", "Sub"), "text", "Deep.")]


def test_html_skips_chrome_and_keeps_pre():
    page = ("<html><head><title>T</title><style>p{}</style></head><body><nav>Home | About</nav><h1>Top</h1>"
            "<p>Hello <b>world</b> &amp; more.</p><h2>Sub</h2><pre>a = 1\n  b = 2</pre><ul><li>one</li></ul>"
            "<script>alert(1)</script></body></html>")
    blocks = html_blocks(page)
    assert [(b.heading, b.kind, b.text) for b in blocks] == [
        (("Top",), "text", "Hello world & more."), (("Top", "Sub"), "code", "a = 1\n  b = 2"),
        (("Top", "Sub"), "text", "one")]


def test_long_section_is_cut_between_sentences_with_overlap(count):
    sentences = [f"Sentence {i} is about topic {i % 5} and nothing else." for i in range(60)]
    chunks = chunk_blocks([Block(" ".join(sentences), ("Doc",))], count, max_tokens=80, overlap=20)
    assert len(chunks) > 3 and all(c.heading == "Doc" for c in chunks)
    assert all(c.tokens <= 80 and count([c.text])[0] <= 80 for c in chunks)
    for a, b in zip(chunks, chunks[1:], strict=False):
        first = re.match(r"Sentence \d+ [^.]*\.", b.text).group()
        assert a.text.endswith(first) or f"{first} " in a.text, "the next chunk repeats the previous one's tail"
        assert a.text.endswith(".") and b.text.startswith("Sentence"), "cuts fall between sentences"


def test_code_block_that_fits_is_never_cut(count):
    code = "```python\n" + "\n".join(f"x{i} = {i}  # line {i}" for i in range(12)) + "\n```"
    prose = " ".join(f"Filler sentence number {i}." for i in range(30))
    chunks = chunk_blocks([Block(prose, ("S",)), Block(code, ("S",), "code"), Block(prose, ("S",))], count, 120, 30)
    holding = [c for c in chunks if "x0 = 0" in c.text]
    assert len(holding) == 1 and code in holding[0].text
    assert sum("x11 = 11" in c.text for c in chunks) == 1, "code is never repeated as overlap"


def test_oversize_code_and_words_are_split_to_fit(count):
    code = "\n".join(f"value_{i} = compute_something({i}, argument_{i})" for i in range(80))
    word = "ab-" * 500  # no space to cut at: split by characters
    chunks = chunk_blocks([Block(code, (), "code"), Block(word)], count, max_tokens=64, overlap=8)
    assert all(count([c.text])[0] <= 64 for c in chunks)
    assert all(f"value_{i} =" in "".join(c.text for c in chunks) for i in range(80))
    pieces = [c.text for c in chunks if "value_" not in c.text]
    assert all(p in word for p in pieces), "pieces of a cut word are joined without inventing spaces"
    assert word.startswith(pieces[0]) and word.endswith(pieces[-1]) and sum(map(len, pieces)) >= len(word)


def test_tiny_sections_merge_under_their_shared_heading(count):
    blocks = [Block("Alpha is short.", ("Guide", "A")), Block("Beta is short.", ("Guide", "B")),
              Block(" ".join(["A long section sentence."] * 40), ("Other",))]
    chunks = chunk_blocks(blocks, count, max_tokens=100, overlap=10)
    assert chunks[0].heading == "Guide"
    assert chunks[0].text.startswith("A\n\nAlpha is short.\n\nB\n\nBeta is short.")
    assert all(c.heading == "Other" for c in chunks[1:])


def test_pages_and_embed_text_carry_context(count):
    chunks = chunk_blocks([Block("On page two.", ("Intro",), page=2)], count)
    assert chunks[0].page == 2 and chunks[0].embed_text == "Intro\n\nOn page two."


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text(alphabet="abc xyz.\n", min_size=1, max_size=400),
                          st.sampled_from([(), ("H",), ("H", "I")]), st.sampled_from(["text", "code"])),
                min_size=1, max_size=8),
       st.integers(min_value=16, max_value=120))
def test_every_word_lands_in_a_chunk_within_the_limit(count, parts, limit):
    blocks = [Block(text, heading, kind) for text, heading, kind in parts]
    chunks = chunk_blocks(blocks, count, max_tokens=limit, overlap=limit // 4)
    # The merge of tiny sections adds their titles as lines; give it that allowance.
    assert all(count([c.text])[0] <= limit + 4 for c in chunks)
    words = " ".join(c.text for c in chunks).split()
    for text, _, _ in parts:
        for word in text.split():
            assert word in words


def test_a_line_the_tokenizer_reads_as_one_unknown_token_is_still_cut(count):
    """WordPiece reads a 300,000-character word as one [UNK]: characters bound the chunk too."""
    blob = "x" * 300_000
    assert count([blob]) == [1]
    chunks = chunk_blocks([Block("Intro line."), Block(blob)], count, max_tokens=200)
    assert all(len(c.text) <= 200 * 8 for c in chunks) and len(chunks) >= 300_000 // 1600
    assert "".join(c.text for c in chunks).count("x") >= 300_000  # cut, not lost (overlap may repeat some)
