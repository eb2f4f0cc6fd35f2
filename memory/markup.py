"""Markdown, reStructuredText and HTML to blocks under their heading paths (no third-party parser).

Only the structure that matters for chunking is recognized: headings (their level
sets the path), fenced or indented code blocks (kept whole), and paragraphs.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from memory.chunking import Block

_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")


class _Outline:
    """Tracks the current heading path while a document is read top to bottom."""

    def __init__(self) -> None:
        self.levels: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        while self.levels and self.levels[-1][0] >= level:
            self.levels.pop()
        self.levels.append((level, title.strip()))

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self.levels)


def _front_matter(lines: list[str]) -> list[str]:
    """Drop a YAML front-matter header (``---`` ... ``---``) at the very top."""
    if lines and lines[0].strip() == "---":
        for i, line in enumerate(lines[1:], 1):
            if line.strip() in ("---", "..."):
                return lines[i + 1:]
    return lines


def markdown_blocks(text: str) -> list[Block]:
    """Headings (ATX and setext), fenced code, and blank-line separated paragraphs.

    A document of headings only is still text: each heading becomes a block of its own.
    """
    outline = _Outline()
    blocks: list[Block] = []
    para: list[str] = []
    titles: list[Block] = []
    lines = _front_matter(text.splitlines())
    fence: str | None = None
    code: list[str] = []

    def flush() -> None:
        if any(p.strip() for p in para):
            blocks.append(Block("\n".join(para).strip(), outline.path))
        para.clear()

    for line in lines:
        if fence is not None:
            code.append(line)
            if line.strip().startswith(fence) and len(code) > 1:
                blocks.append(Block("\n".join(code), outline.path, "code"))
                fence, code = None, []
            continue
        if match := _FENCE.match(line):
            flush()
            fence, code = match.group(1), [line]
        elif match := _ATX.match(line):
            flush()
            outline.enter(len(match.group(1)), match.group(2))
            titles.append(Block(match.group(2).strip(), outline.path[:-1]))
        elif _SETEXT.match(line) and len(para) == 1 and para[0].strip():
            title = para.pop()
            outline.enter(1 if line.strip()[0] == "=" else 2, title)
            titles.append(Block(title.strip(), outline.path[:-1]))
        elif not line.strip():
            flush()
        else:
            para.append(line)
    if code:  # an unclosed fence still holds text worth keeping
        blocks.append(Block("\n".join(code), outline.path, "code"))
    flush()
    return blocks or [t for t in titles if t.text]


_RST_RULE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")


def rst_blocks(text: str) -> list[Block]:
    """Section titles (underlined, optionally overlined; levels in order of first use),
    literal blocks after ``::`` kept whole, and paragraphs."""
    outline, blocks, styles = _Outline(), [], []
    lines = text.splitlines()
    para: list[str] = []
    i = 0

    def flush() -> None:
        if any(p.strip() for p in para):
            kind = "code" if para[0].startswith((" ", "\t")) else "text"
            blocks.append(Block("\n".join(para).rstrip() if kind == "code" else "\n".join(para).strip(),
                                outline.path, kind))
        para.clear()

    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        over = _RST_RULE.match(line)
        if over and i + 2 < len(lines) and _RST_RULE.match(lines[i + 2]) and lines[i + 1].strip():
            style = "over" + over.group(1)  # overlined titles rank apart from underlined ones
            title, i = lines[i + 1], i + 3
        elif line.strip() and not line.startswith(" ") and (under := _RST_RULE.match(nxt)) \
                and len(nxt.strip()) >= len(line.strip()) and not para:
            style, title, i = under.group(1), line, i + 2
        else:
            if not line.strip():
                flush()
            elif para and not para[0].startswith((" ", "\t")) and line.startswith((" ", "\t")) \
                    and para[-1].rstrip().endswith("::"):
                flush()  # the indented literal block after "::" is code
                para.append(line)
            else:
                para.append(line)
            i += 1
            continue
        flush()
        if style not in styles:
            styles.append(style)
        outline.enter(styles.index(style) + 1, title)
    flush()
    return blocks


class _HTMLBlocks(HTMLParser):
    """Collects headings, ``<pre>`` code and text blocks; skips scripts, styles and page chrome."""

    BREAKS = {"p", "div", "li", "tr", "table", "section", "article", "blockquote", "br", "ul", "ol", "dl", "dt", "dd",
              "figcaption", "main", "header", "footer", "td", "th"}
    SKIP = {"script", "style", "noscript", "template", "head", "nav", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = _Outline()
        self.blocks: list[Block] = []
        self.text: list[str] = []
        self.skip = 0
        self.pre = 0
        self.heading: int | None = None

    def flush(self, kind: str = "text") -> None:
        raw = "".join(self.text)
        body = raw.strip("\n") if kind == "code" else re.sub(r"\s+", " ", raw).strip()
        if body:
            self.blocks.append(Block(body, self.outline.path, kind))
        self.text = []

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: D102
        if tag == "body":  # a page may never close <head>
            self.skip = 0
        elif tag in self.SKIP:
            self.skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.flush()
            self.heading = int(tag[1])
        elif tag == "pre":
            self.flush()
            self.pre += 1
        elif tag in self.BREAKS and not self.pre:
            self.flush()

    def handle_endtag(self, tag: str) -> None:  # noqa: D102
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self.heading is not None:
            title = re.sub(r"\s+", " ", "".join(self.text)).strip()
            self.text = []
            if title:
                self.outline.enter(self.heading, title)
            self.heading = None
        elif tag == "pre" and self.pre:
            self.pre -= 1
            self.flush("code")
        elif tag in self.BREAKS and not self.pre:
            self.flush()

    def handle_data(self, data: str) -> None:  # noqa: D102
        if not self.skip:
            self.text.append(data)


def html_blocks(text: str) -> list[Block]:
    """Blocks of an HTML page (headings set the path; ``<pre>`` is code)."""
    parser = _HTMLBlocks()
    parser.feed(text)
    parser.close()
    parser.flush()
    return parser.blocks
