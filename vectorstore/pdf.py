"""PDF manuals with pypdf: text per page, headings guessed from font sizes.

Every line's text and effective font size come from pypdf's ``visitor_text`` callback. The
body size is the size most characters use; a short line set noticeably larger is a heading,
its level given by the rank of its size. A manual typeset in one size falls back to numbered
headings (``3.2 Memory hierarchy``). Paragraphs end at a vertical gap wider than usual.
Chunks never cross a page, and each keeps its 1-based page number.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import statistics
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.errors import KnowledgeBaseError
from vectorstore.parsers import Outline, Parsed

HEADING_RATIO = 1.15
"""A line at least this many times the body size may be a heading."""
MAX_HEADING_CHARS = 120
_NUMBERED = re.compile(r"^(\d+(?:\.\d+){0,3})\.?\s+[A-Z][^\n]{0,78}$")
_PAGE_NUMBER = re.compile(r"^\s*(page\s*)?\d+(\s*(/|of)\s*\d+)?\s*$", re.IGNORECASE)


@dataclass
class _Line:
    text: str
    size: float
    y: float | None


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Keep pypdf's warnings about damaged files off the user's terminal while parsing."""
    log = logging.getLogger("pypdf")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def _scale(matrix: list[float]) -> float:
    value = math.hypot(matrix[2], matrix[3]) if matrix and len(matrix) >= 4 else 1.0
    return value or 1.0


def _page_lines(page: object) -> list[_Line]:
    lines: list[_Line] = []
    parts: list[str] = []
    sizes: Counter[float] = Counter()
    first_y: list[float] = []

    def end_line() -> None:
        text = "".join(parts).strip()
        if text and not _PAGE_NUMBER.match(text):
            size = sizes.most_common(1)[0][0] if sizes else 0.0
            lines.append(_Line(text, size, first_y[0] if first_y else None))
        parts.clear()
        sizes.clear()
        first_y.clear()

    def visit(text: str, cm: list[float], tm: list[float], font: object, font_size: float) -> None:
        for i, piece in enumerate(text.split("\n")):
            if i:
                end_line()
            parts.append(piece)
            if piece.strip():
                size = round(float(font_size or 0) * _scale(tm) * _scale(cm), 1)
                sizes[size] += len(piece.strip())
                if not first_y and tm and cm and len(tm) >= 6 and len(cm) >= 6:
                    first_y.append(tm[5] * cm[3] + cm[5])

    page.extract_text(visitor_text=visit)  # type: ignore[attr-defined]
    end_line()
    return lines


def _heading_levels(pages: list[list[_Line]]) -> tuple[float, dict[float, int]]:
    """The body font size and a level (1 = largest) for each heading font size."""
    weight: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            weight[line.size] += len(line.text)
    if not weight:
        return 0.0, {}
    body = weight.most_common(1)[0][0]
    larger = sorted(
        {
            line.size
            for lines in pages
            for line in lines
            if body and line.size >= body * HEADING_RATIO and len(line.text) <= MAX_HEADING_CHARS
        },
        reverse=True,
    )
    return body, {size: min(i + 1, 6) for i, size in enumerate(larger)}


def _heading_of(line: _Line, levels: dict[float, int]) -> int:
    """The heading level of a line, or 0 for body text."""
    if levels:
        if line.size in levels and len(line.text) <= MAX_HEADING_CHARS and re.search(r"[A-Za-z]", line.text):
            return levels[line.size]
        return 0
    match = _NUMBERED.match(line.text)
    if match and not line.text.rstrip().endswith((".", ",", ";", ":")):
        return min(match.group(1).count(".") + 1, 6)
    return 0


def _open(path: Path) -> object:
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise KnowledgeBaseError(
                f"{path.name} is encrypted with a password; decrypt it (for example `qpdf --decrypt`) and ingest it again."
            )
        _ = len(reader.pages)
    except KnowledgeBaseError:
        raise
    except (DependencyError, FileNotDecryptedError) as e:
        raise KnowledgeBaseError(
            f"{path.name} is encrypted in a way that cannot be opened here; decrypt it (for example `qpdf --decrypt`) and ingest it again."
        ) from e
    except (PdfReadError, Exception) as e:  # noqa: BLE001 - a damaged PDF fails in many ways
        raise KnowledgeBaseError(
            f"{path.name} is not a readable PDF ({type(e).__name__}); re-export or re-download it and ingest it again."
        ) from e
    return reader


def parse_pdf(path: Path) -> Parsed:
    """Read a PDF into page-bound sections under the headings pypdf's font sizes suggest.

    Raises:
        KnowledgeBaseError: The file is corrupt or encrypted, or has no extractable text.
    """
    with _quiet_pypdf():
        reader = _open(path)
        try:
            pages = [_page_lines(page) for page in reader.pages]  # type: ignore[attr-defined]
        except Exception as e:  # noqa: BLE001 - damaged content streams fail in many ways
            raise KnowledgeBaseError(
                f"{path.name} has a damaged page ({type(e).__name__}); re-export or re-download it and ingest it again."
            ) from e
        meta_title = ""
        with contextlib.suppress(Exception):
            meta_title = str((reader.metadata or {}).get("/Title") or "")  # type: ignore[attr-defined]
    if not any(pages):
        raise KnowledgeBaseError(
            f"{path.name} has no extractable text (a scan?); run OCR on it (for example `ocrmypdf`) and ingest it again."
        )
    _, levels = _heading_levels(pages)
    outline = Outline()
    headings: list[tuple[int, str]] = []
    for number, lines in enumerate(pages, start=1):
        outline.flush()
        outline.page = number
        gaps = [a.y - b.y for a, b in zip(lines, lines[1:]) if a.y is not None and b.y is not None and a.y > b.y]
        usual = statistics.median(gaps) if gaps else 0.0
        previous: _Line | None = None
        for line in lines:
            level = _heading_of(line, levels)
            if level:
                headings.append((level, line.text))
                outline.heading(level, line.text)
                previous = None
                continue
            if previous is not None and previous.y is not None and line.y is not None and usual:
                gap = previous.y - line.y
                if gap <= 0 or gap > 1.5 * usual:
                    outline.body.append("")
            outline.body.append(line.text)
            previous = line
    title, sections = outline.sections(headings, title_rule=bool(levels))  # a numbered heading is no title
    return Parsed(sections=sections, title=meta_title or title, pages=len(pages))
