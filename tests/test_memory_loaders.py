"""Loaders per file type, and the reason each kind of bad file is refused."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from memory.loaders import LoadError, load_blocks


def make_pdf(pages: list[str]) -> bytes:
    """A small valid PDF with one line of Helvetica text per page, xref offsets and all."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
                       "/Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{o:010d} 00000 n \n" for o in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypt(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_pages_are_numbered():
    blocks = load_blocks(Path("report.pdf"), make_pdf(["Revenue grew nine percent.", "Costs fell."]))
    assert [(b.text, b.page) for b in blocks] == [("Revenue grew nine percent.", 1), ("Costs fell.", 2)]


def test_pdf_with_an_empty_user_password_opens():
    blocks = load_blocks(Path("open.pdf"), encrypt(make_pdf(["Readable."]), ""))
    assert blocks[0].text == "Readable."


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("locked.pdf", encrypt(make_pdf(["Secret plans."]), "hunter2"), "encrypted PDF"),
    ("scan.pdf", make_pdf([""]), "no extractable text"),
    ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", "corrupt PDF"),
    ("fake.pdf", b"PK\x03\x04 a zip file", "not a PDF"),
    ("photo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ("latin.txt", "caf\xe9".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 3)"),
    ("empty.md", b"  \n\n ", "empty file"),
    ("data.json", b'{"a": 1,,}', "invalid JSON at line 1"),
    ("rows.jsonl", b'{"text": "fine here"}\n{oops}\n', "invalid JSON on line 2"),
    ("ids.json", b'{"id": 1, "tags": ["a", "b"]}', "no text found"),
])
def test_bad_files_say_why(name, data, reason):
    with pytest.raises(LoadError) as info:
        load_blocks(Path(name), data)
    assert reason in info.value.reason


def test_utf16_and_bom_are_decoded():
    assert load_blocks(Path("a.txt"), "\ufeffhello there".encode())[0].text == "hello there"
    assert load_blocks(Path("b.txt"), "héllo wörld".encode("utf-16"))[0].text == "héllo wörld"


def test_json_and_jsonl_keep_text_fields_under_a_record_title():
    rows = [{"title": "Refunds", "body": "Refunds take five days.", "id": 7, "meta": {"note": "ask the desk"}},
            {"question": "Who answers?", "answer": "The help desk answers."}]
    blocks = load_blocks(Path("faq.jsonl"), "\n".join(json.dumps(r) for r in rows).encode())
    assert [(b.heading, b.text) for b in blocks] == [
        (("Refunds",), "body: Refunds take five days."), (("Refunds",), "meta.note: ask the desk"),
        (("Who answers?",), "question: Who answers?"), (("Who answers?",), "answer: The help desk answers.")]
    doc = load_blocks(Path("one.json"), json.dumps({"summary": "A single document here."}).encode())
    assert [(b.heading, b.text) for b in doc] == [(("record 1",), "summary: A single document here.")]


def test_source_code_splits_at_top_level_definitions():
    code = ('"""Module doc."""\nimport os\n\n\n@cache\ndef load(path):\n    """Load it."""\n'
            "    return os.stat(path)\n\n\n"
            "class Store:\n    def get(self):\n        return 1\n")
    blocks = load_blocks(Path("store.py"), code.encode())
    assert [(b.heading, b.kind) for b in blocks] == [((), "code"), (("def load(path)",), "code"),
                                                     (("class Store",), "code")]
    assert blocks[1].text.startswith("@cache\ndef load"), "a decorator stays with its function"
    assert "def get" in blocks[2].text, "methods stay inside their class"


def test_unknown_suffix_given_directly_reads_as_text():
    assert load_blocks(Path("NOTES"), b"First para.\n\nSecond para.")[1].text == "Second para."
