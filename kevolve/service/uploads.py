"""Manual uploads: ``POST /api/manuals`` stores a chip manual inside the data dir (size limit,
type check by name and content) and can ingest it into the knowledge base."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile

log = logging.getLogger(__name__)

ALLOWED = (".pdf", ".md", ".markdown", ".html", ".htm", ".txt")
_CHIP = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def _check_content(suffix: str, head: bytes) -> str | None:
    """Why the bytes are not of the type the name says, or None."""
    if suffix == ".pdf":
        return None if head.startswith(b"%PDF-") else "it does not start like a PDF (%PDF-)"
    if b"\x00" in head:
        return "it holds binary data, not text"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
            return "it is not UTF-8 text"
    return None


def router(settings: Any, max_bytes: int) -> APIRouter:
    api = APIRouter(prefix="/api/manuals", tags=["manuals"])
    root = (Path(settings.data_dir) / "uploads").resolve()

    @api.post("", status_code=201)
    async def upload(file: UploadFile = File(...), chip: str = Form(...),
                     ingest: bool = Form(False)) -> dict[str, Any]:  # fmt: skip
        """Store a manual for ``chip`` under <data_dir>/uploads/<chip>/ (and ingest it)."""
        chip = chip.strip().lower()
        if not _CHIP.match(chip):
            raise HTTPException(422, "chip must be a lowercase name such as h100 or mi300x.")
        name = _SAFE.sub("_", Path(file.filename or "").name).strip("._") or "manual"
        suffix = Path(name).suffix.lower()
        if suffix not in ALLOWED:
            raise HTTPException(415, f"{name}: only {' '.join(ALLOWED)} files are accepted.")
        data = bytearray()
        while chunk := await file.read(1 << 20):
            data += chunk
            if len(data) > max_bytes:
                raise HTTPException(413, f"{name} is over the {max_bytes} byte upload limit.")
        if not data:
            raise HTTPException(422, f"{name} is empty.")
        why = _check_content(suffix, bytes(data[:4096]))
        if why:
            raise HTTPException(415, f"{name} is not a valid {suffix} file: {why}.")
        digest = hashlib.sha256(data).hexdigest()
        target = (root / chip / f"{digest[:12]}-{name}").resolve()
        if not target.is_relative_to(root):
            raise HTTPException(422, "bad file name.")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(bytes(data))
        if ingest:
            threading.Thread(target=_ingest, args=(settings, target, chip), daemon=True).start()
        return {"path": str(target), "chip": chip, "bytes": len(data), "sha256": digest,
                "ingesting": ingest}  # fmt: skip

    return api


def _ingest(settings: Any, path: Path, chip: str) -> None:
    try:
        from kevolve.kb_cli import open_store
        from vectorstore.ingest import ingest_file

        with open_store(settings, shipped=False) as store:
            ingest_file(store, path, chip, None, None, data_dir=Path(settings.data_dir))
    except Exception:  # noqa: BLE001 - a background ingest reports through the log
        log.exception("ingesting %s failed", path)
