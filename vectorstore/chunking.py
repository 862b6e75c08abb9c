"""Splitting a document's sections into chunks of about 1,000 characters.

Sections come from the document's own structure (headings, pages). A section's body is cut
on paragraph boundaries; a paragraph longer than a chunk is cut on sentences, then on
whitespace. Consecutive chunks of one section share a short paragraph of overlap. Text is
kept verbatim: pieces are only joined with blank lines, never reworded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHARS = 1000
"""Target chunk length in characters."""
OVERLAP_CHARS = 200
"""A paragraph at most this long is repeated at the start of the next chunk of its section."""

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


@dataclass(frozen=True)
class Section:
    """A stretch of body text under one heading path, on one page (0 = unpaged)."""

    path: tuple[str, ...]
    text: str
    page: int = 0


def split_paragraphs(text: str) -> list[str]:
    """Split text on blank lines, keeping each fenced code block whole."""
    paragraphs: list[str] = []
    current: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is not None:
            current.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        if match:
            fence = match.group(1)
            current.append(line)
        elif line.strip():
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return [p.strip("\n") for p in paragraphs if p.strip()]


def _hard_split(text: str, max_chars: int) -> list[str]:
    """Cut at the last whitespace before ``max_chars`` (or at ``max_chars`` when there is none)."""
    pieces = []
    while len(text) > max_chars:
        cut = max(text.rfind(" ", 0, max_chars), text.rfind("\n", 0, max_chars))
        cut = cut if cut > max_chars // 2 else max_chars
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _split_long(paragraph: str, max_chars: int) -> list[str]:
    """Cut an over-long paragraph into pieces of at most ``max_chars``: lines for code, else sentences."""
    is_code = bool(_FENCE.match(paragraph))
    units = paragraph.split("\n") if is_code else _SENTENCE_END.split(paragraph)
    sep = "\n" if is_code else " "
    pieces: list[str] = []
    current = ""
    for unit in units:
        for part in _hard_split(unit, max_chars) if len(unit) > max_chars else [unit]:
            if current and len(current) + len(sep) + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current}{sep}{part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def pack(text: str, max_chars: int = MAX_CHARS, overlap_chars: int = OVERLAP_CHARS) -> list[str]:
    """Pack a section body into chunks of about ``max_chars`` on paragraph boundaries.

    Args:
        text: The section's body text.
        max_chars: Target chunk length; a chunk exceeds it only by an overlap paragraph.
        overlap_chars: Longest last paragraph that is repeated at the start of the next chunk.

    Returns:
        Chunks in order; empty when the text is blank.
    """
    pieces: list[str] = []
    for paragraph in split_paragraphs(text):
        pieces.extend(_split_long(paragraph, max_chars) if len(paragraph) > max_chars else [paragraph])
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    fresh = 0  # paragraphs in `current` not carried over from the previous chunk
    for piece in pieces:
        if current and size + 2 + len(piece) > max_chars and fresh:
            chunks.append("\n\n".join(current))
            tail = current[-1]
            keep = len(current) > 1 and len(tail) <= overlap_chars and len(tail) + 2 + len(piece) <= max_chars
            current, size, fresh = ([tail], len(tail), 0) if keep else ([], 0, 0)
        size += len(piece) + (2 if current else 0)
        current.append(piece)
        fresh += 1
    if current and fresh:
        chunks.append("\n\n".join(current))
    return chunks
