"""A minimal text-only PDF writer, so tests and benchmarks can build real manuals.

It writes PDF 1.4 by hand (Helvetica, WinAnsi text, one line per ``Td``), enough for
``pypdf`` to extract the text and the font size of every line. It exists so that no PDF
library beyond ``pypdf`` is needed; it is not a typesetter (no wrapping across pages).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

BODY_SIZE = 11.0
"""Font size of a body line, in points."""
_PAGE_WIDTH, _PAGE_HEIGHT = 612, 792  # US Letter, points
_MARGIN = 72
_WRAP = 95  # characters per body line

Line = str | tuple[str, float]
"""A body line, or ``(text, font_size_pt)`` for a heading or any other size."""


def _escape(text: str) -> str:
    safe = text.encode("cp1252", errors="replace").decode("cp1252")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content_stream(lines: Sequence[Line]) -> bytes:
    ops = ["BT"]
    y = _PAGE_HEIGHT - _MARGIN
    for line in lines:
        text, size = (line, BODY_SIZE) if isinstance(line, str) else line
        parts = textwrap.wrap(text, _WRAP) if isinstance(line, str) and text else [text]
        for part in parts:
            y -= size * 1.4
            ops.append(f"/F1 {size:g} Tf 1 0 0 1 {_MARGIN} {y:.1f} Tm ({_escape(part)}) Tj")
    ops.append("ET")
    return "\n".join(ops).encode("cp1252", errors="replace")


def pdf_bytes(pages: Sequence[Sequence[Line]]) -> bytes:
    """Render pages of lines to the bytes of a PDF file.

    Args:
        pages: One sequence of lines per page; a ``str`` is a body line (wrapped at about 95
            characters), a ``(text, size)`` tuple is one line at that font size in points.

    Returns:
        The complete PDF file.
    """
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in once the page object numbers are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    page_ids = []
    for lines in pages:
        stream = _content_stream(lines)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % (_PAGE_WIDTH, _PAGE_HEIGHT, content_id)
        )
        page_ids.append(len(objects))
    kids = " ".join(f"{i} 0 R" for i in page_ids).encode()
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def write_text_pdf(path: Path, pages: Sequence[Sequence[Line]]) -> Path:
    """Write a text-only PDF (see :func:`pdf_bytes`) and return its path."""
    path.write_bytes(pdf_bytes(pages))
    return path
