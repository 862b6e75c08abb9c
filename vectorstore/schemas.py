"""Records of the knowledge base: chunks of manuals, search hits, documents, ingest reports.

Plain, JSON-serialisable pydantic models. A chunk's fields other than ``text`` are stored as
Chroma metadata, so each is a ``str`` or an ``int`` (Chroma accepts str/int/float/bool only).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

SECTION_SEP = " > "
"""Separator between heading levels in ``section_path`` (``"Memory hierarchy > L2 cache"``)."""


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Chunk(BaseModel):
    """A piece of a manual, verbatim, with where it came from."""

    model_config = ConfigDict(frozen=True)

    text: str
    """The document's own words, unchanged (it is data, never instructions)."""
    chip: str
    """Registry name of the chip the document is about (``h100``, ``mi300x``, a new chip)."""
    vendor: str = "unknown"
    section_path: str = ""
    """Headings above the chunk, outermost first, joined by ``" > "``; empty when none."""
    source: str
    """The document's short name for citations: its file name (``newchip_manual.pdf``), or
    ``hardware_docs/h100/guide.md`` for a shipped guide."""
    source_path: str = ""
    """Where the document was read from (the uploaded file's resolved path; the shipped guide's
    ``source``). With ``chip`` it identifies the document; empty only in stores written before
    it existed (``source`` then stands in for it)."""
    version: str = ""
    page: int = 0
    """1-based PDF page; 0 when the document is not paged."""
    chunk_index: int = 0
    """Position of the chunk in its document, from 0."""
    content_sha: str = ""
    """SHA-256 of ``text``; filled in when left empty."""
    file_sha: str = ""
    """SHA-256 of the whole source file's bytes, shared by every chunk of one version."""

    @property
    def document_key(self) -> tuple[str, str]:
        """(chip, source path): the document this chunk belongs to."""
        return self.chip, self.source_path or self.source

    @model_validator(mode="before")
    @classmethod
    def _fill_sha(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("content_sha") and isinstance(data.get("text"), str):
            data = {**data, "content_sha": sha256_text(data["text"])}
        return data

    def metadata(self) -> dict[str, str | int]:
        """The fields Chroma stores next to the text (every value a str or an int)."""
        return self.model_dump(exclude={"text"})

    @property
    def sections(self) -> list[str]:
        """``section_path`` split into its headings."""
        return self.section_path.split(SECTION_SEP) if self.section_path else []


class Hit(BaseModel):
    """One search result: a chunk and how close it is to the query."""

    model_config = ConfigDict(frozen=True)

    chunk: Chunk
    score: float
    """Cosine similarity between query and chunk embeddings, -1..1 (higher is closer)."""


class DocumentRecord(BaseModel):
    """A document of the store: what it is, for which chip, and how many chunks it has."""

    model_config = ConfigDict(frozen=True)

    source: str
    chip: str
    vendor: str
    version: str
    chunks: int
    """Chunks stored for the document."""


class DocumentInfo(DocumentRecord):
    """One stored document, as ``kevolve kb list`` shows it."""

    pages: int
    """Highest page number seen; 0 for documents without pages."""
    source_path: str = ""
    """Where it was read from; with ``chip`` it identifies the document."""
    file_sha: str = ""
    """SHA-256 of the stored version's file."""


class IngestReport(DocumentRecord):
    """What one ingest did (``chunks``: those stored now)."""

    replaced: int
    """Chunks of the previous version that were removed (0 for a new document)."""
    unchanged: bool = False
    """The same file (same content, same version label) was already stored for this chip:
    nothing was written."""
    source_path: str = ""
    pages: int
    """PDF pages read; 1 for an unpaged document."""
    seconds: float
    """Wall-clock time of parse + embed + write, in seconds."""
    spec_path: str | None = None
    """Where the chip's ``spec.yaml`` was copied, when one was given."""
    sections: list[str] = Field(default_factory=list)
    """Distinct section paths, in document order (for a quick look at the split)."""
