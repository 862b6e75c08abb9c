"""Curator uploads: turning a manual file into chunks and storing it as one document.

``parse_document`` reads PDF, Markdown, HTML or text into verbatim chunks whose
``section_path`` follows the document's headings (and ``page`` its PDF pages).
``ingest_file`` parses, then replaces any stored version of the same document (same chip,
same source path; the same content is not written again), and for a new
chip copies its ``spec.yaml`` to ``<data_dir>/hardware_docs/<chip>/`` where the hardware
registry (``tools.hardware.load_target(chip, extra_dirs=[data_dir / "hardware_docs"])``) finds
it. A failure at any step leaves the knowledge base and the data dir as they were.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from tools.errors import KevolveError, KnowledgeBaseError
from vectorstore.chunking import MAX_CHARS, pack
from vectorstore.parsers import Parsed, parse_html, parse_markdown, parse_text
from vectorstore.pdf import parse_pdf
from vectorstore.quoting import quote_for_prompt
from vectorstore.schemas import SECTION_SEP, Chunk, IngestReport

if TYPE_CHECKING:
    from vectorstore.store import KnowledgeStore

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest file accepted by default (50 MB)."""
ALLOWED_SUFFIXES = (".pdf", ".md", ".markdown", ".html", ".htm", ".txt")
SPEC_FILE = "spec.yaml"
_CHIP_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")

__all__ = [
    "ALLOWED_SUFFIXES",
    "MAX_FILE_BYTES",
    "check_file",
    "file_sha256",
    "ingest_file",
    "install_spec",
    "load_shipped_docs",
    "parse_document",
    "quote_for_prompt",
]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Refuse a missing file, a type that cannot be parsed, or one over ``max_bytes``.

    Raises:
        KnowledgeBaseError: The file is missing, of a refused type, or too large.
    """
    if not path.is_file():
        raise KnowledgeBaseError(f"{path} does not exist or is not a file.")
    if path.suffix.lower() not in ALLOWED_SUFFIXES:
        raise KnowledgeBaseError(
            f"{path.name} has type {path.suffix or '(none)'}; only {' '.join(ALLOWED_SUFFIXES)} files can be ingested."
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise KnowledgeBaseError(
            f"{path.name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; split it or raise the limit."
        )
    if size == 0:
        raise KnowledgeBaseError(f"{path.name} is empty.")


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.warning("%s is not UTF-8; decoding it as Latin-1", path.name)
        return data.decode("latin-1")


def _parse(path: Path) -> Parsed:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return parse_pdf(path)
    text = _read_text(path)
    if suffix in (".md", ".markdown"):
        return parse_markdown(text)
    if suffix in (".html", ".htm"):
        return parse_html(text)
    return parse_text(text)


def parse_document(
    path: Path,
    chip: str,
    version: str | None = None,
    *,
    vendor: str | None = None,
    source: str | None = None,
    source_path: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_chars: int = MAX_CHARS,
) -> list[Chunk]:
    """Read a manual into verbatim chunks that follow its headings and pages.

    Args:
        path: A ``.pdf``, ``.md``/``.markdown``, ``.html``/``.htm`` or ``.txt`` file.
        chip: Registry name of the chip the manual describes (stored lower-case).
        version: Document version; default the front-matter ``version``, else empty.
        vendor: Chip vendor; default the front-matter ``vendor``, else ``unknown``.
        source: The document's short name (citations); default the file name.
        source_path: Where it was read from, part of its identity; default the file's
            resolved path (``source`` when that is given).
        max_bytes: Largest file accepted.
        max_chars: Target chunk length in characters.

    Returns:
        Chunks in document order, ``chunk_index`` counting from 0.

    Raises:
        KnowledgeBaseError: The file is refused, unreadable, or has no text.
    """
    path = Path(path)
    check_file(path, max_bytes)
    try:
        parsed = _parse(path)
    except KevolveError:
        raise
    except (OSError, ValueError) as e:
        raise KnowledgeBaseError(f"{path.name} cannot be read ({type(e).__name__}: {e}).") from e
    meta = parsed.meta
    common = {
        "chip": chip.strip().lower(),
        "vendor": str(vendor or meta.get("vendor") or "unknown").lower(),
        "source": source or path.name,
        "source_path": source_path or source or str(path.resolve()),
        "version": str(version if version is not None else meta.get("version", "")),
        "file_sha": file_sha256(path),
    }
    chunks: list[Chunk] = []
    for section in parsed.sections:
        for text in pack(section.text, max_chars=max_chars):
            chunks.append(
                Chunk(text=text, section_path=SECTION_SEP.join(section.path), page=section.page, chunk_index=len(chunks), **common)
            )
    if not chunks:
        raise KnowledgeBaseError(f"{path.name} has no text to ingest.")
    return chunks


def install_spec(spec: Path, chip: str, data_dir: Path) -> tuple[Path, str]:
    """Validate ``spec`` as chip ``chip``'s registry entry and stage it for ``data_dir``.

    The file is checked exactly as the hardware registry will load it, then copied to a
    temporary file next to its destination; :func:`ingest_file` renames it to ``spec.yaml``
    once the document is stored (and deletes it if storing fails).

    Returns:
        (staged temporary file, the chip's vendor).

    Raises:
        KnowledgeBaseError: The chip name is not a folder name, or the spec is invalid.
    """
    from tools.hardware import load_target  # the registry's own checks

    if not _CHIP_NAME.match(chip):
        raise KnowledgeBaseError(f"Chip name {chip!r} must be lower-case letters, digits, '-' or '_' to name a folder.")
    if not spec.is_file():
        raise KnowledgeBaseError(f"Spec file {spec} does not exist.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / chip
        folder.mkdir()
        shutil.copyfile(spec, folder / SPEC_FILE)
        try:
            installed = Path(data_dir) / "hardware_docs"  # checked together: aliases must not collide
            target = load_target(chip, extra_dirs=[*([installed] if installed.is_dir() else []), Path(tmp)])
        except KevolveError as e:  # name the user's file, not the temporary copy
            raise KnowledgeBaseError(str(e).replace(str(folder / SPEC_FILE), str(spec))) from e
    if target.name != chip:
        raise KnowledgeBaseError(f"{spec.name} resolves to chip {target.name!r}, not {chip!r}; check its aliases.")
    dest_dir = Path(data_dir) / "hardware_docs" / chip
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(prefix=".spec-", suffix=".yaml", dir=dest_dir)
    os.close(fd)
    shutil.copyfile(spec, staged)
    return Path(staged), target.vendor


def ingest_file(
    store: KnowledgeStore,
    path: Path,
    chip: str,
    version: str | None = None,
    spec: Path | None = None,
    *,
    data_dir: Path | None = None,
    vendor: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> IngestReport:
    """Parse a manual and make it the stored version of its document.

    A document is its chip and the file's resolved path; its version is the file's SHA-256
    (and the version label). Ingesting the same file for the same chip again writes nothing;
    a changed file replaces the previous version; the same file name in another folder, or
    for another chip, is another document.

    Args:
        store: Where the chunks go.
        path: The manual.
        chip: Registry name of its chip; for a new chip, the folder name its spec goes to.
        version: Document version label (default from front-matter, else empty).
        spec: ``spec.yaml`` for a chip the registry does not know yet; needs ``data_dir``.
        data_dir: kevolve's data dir; the spec is copied to ``<data_dir>/hardware_docs/<chip>/``.
        vendor: Chip vendor (default: the spec's, else the front-matter's, else ``unknown``).
        max_bytes: Largest file accepted.

    Returns:
        What was stored and how long it took.

    Raises:
        KnowledgeBaseError: Any failure; the store and the data dir are then unchanged.
    """
    started = time.perf_counter()
    path = Path(path)
    chip = chip.strip().lower()
    staged: Path | None = None
    if spec is not None:
        if data_dir is None:
            raise KnowledgeBaseError("A spec file needs the data dir to be copied into; pass data_dir.")
        staged, spec_vendor = install_spec(Path(spec), chip, Path(data_dir))
        vendor = vendor or spec_vendor
    try:
        chunks = parse_document(path, chip, version, vendor=vendor, max_bytes=max_bytes)
        first = chunks[0]
        stored = store.find_document(chip, first.source_path)
        unchanged = stored is not None and (stored.file_sha, stored.version) == (first.file_sha, first.version)
        replaced = 0 if unchanged else store.replace_document(first.source, chunks)
        spec_path = None
        if staged is not None:
            spec_path = staged.with_name(SPEC_FILE)
            os.replace(staged, spec_path)
            staged = None
    finally:
        if staged is not None:
            staged.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                staged.parent.rmdir()  # only succeeds when the folder was made for this spec
    pages = max((c.page for c in chunks), default=0) or 1
    sections = list(dict.fromkeys(c.section_path for c in chunks))
    return IngestReport(
        source=first.source, chip=first.chip, vendor=first.vendor, version=first.version, chunks=len(chunks),
        replaced=replaced, pages=pages, seconds=time.perf_counter() - started,
        spec_path=str(spec_path) if spec_path else None, sections=sections,
        unchanged=unchanged, source_path=first.source_path,
    )


def load_shipped_docs(store: KnowledgeStore, docs_dir: Path) -> list[str]:
    """Load ``<docs_dir>/<chip>/guide.md`` files that are new or changed since last loaded.

    A guide's SHA-256 is kept on its chunks (``file_sha``); an unchanged guide is skipped,
    a changed one replaces its previous version. The vendor comes from the chip's
    ``spec.yaml`` (else the guide's front-matter).

    Returns:
        Sources (``hardware_docs/<chip>/guide.md``) that were (re)loaded.
    """
    loaded = []
    for guide in sorted(Path(docs_dir).glob("*/guide.md")):
        chip = guide.parent.name
        source = f"hardware_docs/{chip}/guide.md"
        if store.document_sha(chip, source) == file_sha256(guide):
            continue
        vendor = None
        spec = guide.parent / SPEC_FILE
        if spec.is_file():
            with contextlib.suppress(OSError, yaml.YAMLError):
                data = yaml.safe_load(spec.read_text(encoding="utf-8"))
                vendor = str(data["vendor"]) if isinstance(data, dict) and data.get("vendor") else None
        store.replace_document(source, parse_document(guide, chip=chip, vendor=vendor, source=source))
        loaded.append(source)
    if loaded:
        logger.info("loaded shipped guides: %s", ", ".join(loaded))
    return loaded
