"""Turning Markdown, HTML and plain text into sections that follow the document's headings.

Each parser returns a :class:`Parsed`: front-matter (Markdown only), a title, and the body
split into :class:`~vectorstore.chunking.Section` records whose ``path`` is the stack of
headings above them. A document with exactly one top-level heading that comes first treats
it as the title, so paths read ``Memory hierarchy > L2 cache`` rather than repeating it.
PDF parsing lives in :mod:`vectorstore.pdf`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import yaml

from tools.errors import KnowledgeBaseError
from vectorstore.chunking import Section

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_OR_QUOTE = re.compile(r"^ {0,3}([-*+>]|\d+[.)])\s")


@dataclass
class Parsed:
    """A parsed document before chunking."""

    sections: list[Section]
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    pages: int = 0
    """Pages read (PDF); 0 for unpaged formats."""


class Outline:
    """Collects body text under a stack of (level, heading) entries."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []
        self.body: list[str] = []
        self.raw: list[tuple[tuple[tuple[int, str], ...], str, int]] = []
        self.page = 0

    def flush(self) -> None:
        text = "\n".join(self.body).strip()
        if text:
            self.raw.append((tuple(self.stack), text, self.page))
        self.body = []

    def heading(self, level: int, text: str) -> None:
        self.flush()
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, " ".join(text.split())))

    def sections(self, headings: list[tuple[int, str]], *, title_rule: bool = True) -> tuple[str, list[Section]]:
        """Finish: return (title, sections), dropping a lone leading top-level heading as title."""
        self.flush()
        title = ""
        top = min((lvl for lvl, _ in headings), default=0)
        lone = sum(1 for lvl, _ in headings if lvl == top) == 1
        if title_rule and headings and headings[0][0] == top and lone:
            title = headings[0][1]
        out = []
        for stack, text, page in self.raw:
            names = [name for lvl, name in stack]
            if title and stack and stack[0] == (top, title):
                names = names[1:]
            out.append(Section(tuple(n for n in names if n), text, page))
        return title, out


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Separate YAML front-matter (``---`` ... ``---`` at the very top) from the body.

    Raises:
        KnowledgeBaseError: The front-matter block is not a YAML mapping.
    """
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            try:
                meta = yaml.safe_load("\n".join(lines[1:i])) or {}
            except yaml.YAMLError as e:
                raise KnowledgeBaseError(f"The front-matter is not valid YAML ({e.problem}); fix it or remove it.") from e
            if not isinstance(meta, dict):
                raise KnowledgeBaseError("The front-matter must be a YAML mapping of keys to values.")
            return meta, "\n".join(lines[i + 1 :])
    return {}, text


def parse_markdown(text: str) -> Parsed:
    """Split Markdown on ATX (``#``) and setext headings, outside fenced code blocks."""
    meta, body = split_front_matter(text.lstrip("\ufeff"))
    outline = Outline()
    headings: list[tuple[int, str]] = []
    fence: str | None = None
    for line in body.split("\n"):
        fence_match = _FENCE.match(line)
        if fence is not None:
            outline.body.append(line)
            if fence_match and fence_match.group(1)[0] == fence[0] and len(fence_match.group(1)) >= len(fence):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            outline.body.append(line)
            continue
        atx = _ATX.match(line)
        if atx and atx.group(2):
            level = len(atx.group(1))
            headings.append((level, atx.group(2).strip()))
            outline.heading(level, atx.group(2))
            continue
        setext = _SETEXT.match(line)
        prev = outline.body[-1] if outline.body else ""
        starts_block = len(outline.body) < 2 or not outline.body[-2].strip()
        if setext and prev.strip() and starts_block and not _LIST_OR_QUOTE.match(prev):
            level = 1 if setext.group(1)[0] == "=" else 2
            outline.body.pop()
            headings.append((level, prev.strip()))
            outline.heading(level, prev)
            continue
        outline.body.append(line)
    title, sections = outline.sections(headings)
    return Parsed(sections=sections, title=str(meta.get("title") or title), meta=meta)


def parse_text(text: str) -> Parsed:
    """Plain text: one section without headings; chunking splits it on paragraphs."""
    body = text.lstrip("\ufeff").strip()
    return Parsed(sections=[Section((), body)] if body else [])


_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object"})
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "aside", "header", "footer", "nav", "ul", "ol",
        "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "blockquote", "figure",
        "figcaption", "hr", "pre", "caption", "details", "summary", "form",
    }
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}


class _HtmlSections(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = Outline()
        self.headings: list[tuple[int, str]] = []
        self.skip_depth = 0
        self.in_title = False
        self.title = ""
        self.heading_level = 0
        self.heading_text: list[str] = []
        self.pre_depth = 0
        self.line: list[str] = []

    def _end_line(self, blank: bool) -> None:
        text = "".join(self.line)
        self.line = []
        if self.pre_depth == 0:
            text = " ".join(text.split())
        if text.strip():
            self.outline.body.append(text)
        if blank and self.outline.body and self.outline.body[-1] != "":
            self.outline.body.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip_depth = 0  # an unclosed <head> must not hide the body
        if tag in _SKIP:
            self.skip_depth += 1
        if tag == "title":
            self.in_title = True
        if self.skip_depth:
            return
        if tag in _HEADINGS:
            self._end_line(blank=True)
            self.heading_level, self.heading_text = _HEADINGS[tag], []
        elif tag in _BLOCK:
            self._end_line(blank=True)
            if tag == "pre":
                self.pre_depth += 1
        elif tag == "br":
            self._end_line(blank=False)
        elif tag in ("td", "th") and self.line:
            self.line.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag in _HEADINGS and self.heading_level:
            text = " ".join("".join(self.heading_text).split())
            if text:
                self.headings.append((self.heading_level, text))
                self.outline.heading(self.heading_level, text)
            self.heading_level = 0
        elif tag in _BLOCK:
            self._end_line(blank=True)
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        if self.skip_depth:
            return
        if self.heading_level:
            self.heading_text.append(data)
        elif self.pre_depth:
            for i, part in enumerate(data.split("\n")):
                if i:
                    self._end_line(blank=False)
                self.line.append(part)
        else:
            self.line.append(data)


def parse_html(text: str) -> Parsed:
    """HTML with the standard library parser: ``h1``-``h6`` form the section path; scripts,
    styles and the ``<head>`` are dropped; block elements end paragraphs."""
    parser = _HtmlSections()
    parser.feed(text)
    parser.close()
    parser._end_line(blank=True)
    title, sections = parser.outline.sections(parser.headings)
    return Parsed(sections=sections, title=" ".join(parser.title.split()) or title)
