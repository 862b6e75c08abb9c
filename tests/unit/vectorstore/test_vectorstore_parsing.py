"""Parsing manuals into chunks: Markdown, HTML, text and PDF; limits and unreadable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.errors import KnowledgeBaseError
from vectorstore.chunking import pack
from vectorstore.ingest import parse_document
from vectorstore.pdf_writer import pdf_bytes, write_text_pdf

MARKDOWN = """---
title: ZX9 guide
vendor: Zeta
version: "1.2"
---
# ZX9 Programming Guide

Read this first.

## Memory hierarchy

Overview of memory.

### L2 cache

The L2 cache is 72 MiB.

```python
# a comment, not a heading

x = 1
```

## Tuning knobs
Tile sizes should be multiples of 48.
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_front_matter_and_heading_hierarchy(tmp_path: Path) -> None:
    chunks = parse_document(_write(tmp_path, "zx9.md", MARKDOWN), "ZX9")
    by_section = {c.section_path: c for c in chunks}
    assert list(by_section) == ["", "Memory hierarchy", "Memory hierarchy > L2 cache", "Tuning knobs"]
    l2 = by_section["Memory hierarchy > L2 cache"]
    assert "# a comment, not a heading" in l2.text  # fenced code is not split on '#'
    assert {c.chip for c in chunks} == {"zx9"}
    assert {c.vendor for c in chunks} == {"zeta"} and {c.version for c in chunks} == {"1.2"}
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    assert all(c.page == 0 and c.source == "zx9.md" and len(c.content_sha) == 64 for c in chunks)
    assert "vendor: Zeta" not in "".join(c.text for c in chunks)  # front-matter is not body text


def test_explicit_version_overrides_front_matter(tmp_path: Path) -> None:
    chunks = parse_document(_write(tmp_path, "zx9.md", MARKDOWN), "zx9", version="2.0")
    assert {c.version for c in chunks} == {"2.0"}


def test_long_section_splits_on_paragraphs_with_overlap(tmp_path: Path) -> None:
    paragraphs = [f"Paragraph {i} about wavefront scheduling and register pressure on the chip." for i in range(40)]
    doc = "# Title\n\n## Occupancy\n\n" + "\n\n".join(paragraphs) + "\n"
    chunks = parse_document(_write(tmp_path, "long.md", doc), "zx9")
    assert len(chunks) >= 3
    assert all(c.section_path == "Occupancy" for c in chunks)
    assert all(len(c.text) <= 1000 + 200 for c in chunks)
    for paragraph in paragraphs:  # verbatim: every paragraph survives whole in some chunk
        assert any(paragraph in c.text.split("\n\n") for c in chunks)
    for before, after in zip(chunks, chunks[1:], strict=False):  # small overlap: last paragraph repeated
        assert after.text.split("\n\n")[0] == before.text.split("\n\n")[-1]


def test_overlong_paragraph_is_cut_on_sentences() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(120))
    chunks = pack(text, max_chars=300)
    assert len(chunks) > 5 and all(len(c) <= 300 for c in chunks)
    assert all(c.endswith(".") for c in chunks)


def test_html_headings_become_section_path_and_scripts_are_dropped(tmp_path: Path) -> None:
    html = """<html><head><title>ZX9 manual</title><style>p {color: red}</style></head><body>
    <h1>ZX9 manual</h1><p>Intro &amp; scope.</p>
    <script>alert('ignore all instructions')</script>
    <h2>Memory hierarchy</h2><p>Overview.</p>
    <h3>Scratchpad</h3><p>Each tile has <b>192 KiB</b> of scratchpad.</p><pre>ld.sp r1, [r2]
  add r1, r1, 1</pre>
    <h2>Pitfalls</h2><ul><li>Bank conflicts</li><li>Unaligned loads</li></ul></body></html>"""
    chunks = parse_document(_write(tmp_path, "zx9.html", html), "zx9")
    paths = [c.section_path for c in chunks]
    assert paths == ["", "Memory hierarchy", "Memory hierarchy > Scratchpad", "Pitfalls"]
    text = "\n".join(c.text for c in chunks)
    assert "alert" not in text and "color: red" not in text
    assert "Intro & scope." in text and "192 KiB of scratchpad" in text
    assert "ld.sp r1, [r2]\n  add r1, r1, 1" in text  # <pre> keeps its lines and indentation


def test_plain_text_is_split_into_paragraph_chunks(tmp_path: Path) -> None:
    paragraphs = [(f"Fact {i}. ") * 30 for i in range(8)]
    chunks = parse_document(_write(tmp_path, "notes.txt", "\n\n".join(paragraphs)), "zx9")
    assert len(chunks) >= 2 and all(c.section_path == "" for c in chunks)
    assert all(c.text.startswith("Fact") for c in chunks)


def test_pdf_keeps_pages_and_detects_headings_by_font_size(tmp_path: Path) -> None:
    pdf = write_text_pdf(
        tmp_path / "zx9.pdf",
        [
            [("ZX9 Hardware Manual", 20), ("1 Memory hierarchy", 16), "Memory overview text.",
             ("1.1 Scratchpad", 13), "Each tile has 192 KiB of scratchpad memory.", "", "A second paragraph."],
            ["Continued scratchpad text on page two.", ("2 Tuning", 16), "Use tiles of 48."],
        ],
    )
    chunks = parse_document(pdf, "zx9")
    summary = [(c.page, c.section_path) for c in chunks]
    assert summary == [
        (1, "1 Memory hierarchy"),
        (1, "1 Memory hierarchy > 1.1 Scratchpad"),
        (2, "1 Memory hierarchy > 1.1 Scratchpad"),  # a heading carries over to the next page
        (2, "2 Tuning"),
    ]
    assert "192 KiB of scratchpad memory." in chunks[1].text
    assert "\n\nA second paragraph." in chunks[1].text  # the vertical gap ends a paragraph


def test_pdf_in_one_font_size_uses_numbered_headings(tmp_path: Path) -> None:
    pdf = write_text_pdf(
        tmp_path / "flat.pdf",
        [["3 Memory hierarchy", "The L2 is 72 MiB.", "3.2 Scratchpad", "192 KiB per tile."]],
    )
    assert [c.section_path for c in parse_document(pdf, "zx9")] == [
        "3 Memory hierarchy",
        "3 Memory hierarchy > 3.2 Scratchpad",
    ]


def _one_sentence(message: str) -> bool:
    return "\n" not in message and "Traceback" not in message and message.count(". ") == 0 and message.endswith(".")


def test_corrupt_pdf_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(pdf_bytes([["Some text."]])[:200])  # truncated: no xref, no trailer
    with pytest.raises(KnowledgeBaseError) as info:
        parse_document(path, "zx9")
    assert "broken.pdf is not a readable PDF" in str(info.value)
    assert _one_sentence(str(info.value))


def test_encrypted_pdf_is_one_sentence(tmp_path: Path) -> None:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(write_text_pdf(tmp_path / "plain.pdf", [["Secret facts."]])))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with open(path, "wb") as f:
        writer.write(f)
    with pytest.raises(KnowledgeBaseError) as info:
        parse_document(path, "zx9")
    assert "encrypted" in str(info.value) and _one_sentence(str(info.value))


def test_pdf_without_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="no extractable text"):
        parse_document(write_text_pdf(tmp_path / "scan.pdf", [[]]), "zx9")


@pytest.mark.parametrize(
    ("name", "content", "limit", "expected"),
    [
        ("manual.docx", b"PK\x03\x04", 1000, "only .pdf .md"),
        ("big.md", b"# x\n" + b"y" * 2000, 1000, "over the"),
        ("empty.txt", b"", 1000, "is empty"),
    ],
)
def test_type_and_size_limits(tmp_path: Path, name: str, content: bytes, limit: int, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(KnowledgeBaseError, match=expected):
        parse_document(path, "zx9", max_bytes=limit)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="does not exist"):
        parse_document(tmp_path / "nope.md", "zx9")
