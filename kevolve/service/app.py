"""The FastAPI application: the API under ``/api`` and the web page at ``/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from kevolve.service import chat, runs, tickets, uploads
from kevolve.service.auth import token_guard

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
MAX_UPLOAD_BYTES = 64 << 20
"""Largest manual accepted by ``POST /api/manuals``, bytes."""


def create_app(settings: Any, *, token: str | None = None,
               max_upload_bytes: int = MAX_UPLOAD_BYTES) -> FastAPI:  # fmt: skip
    """The service over ``settings``' data dir; every ``/api`` route needs ``token`` if set."""
    from importlib.metadata import version

    app = FastAPI(title="kevolve", version=version("kevolve"),
                  description="Write, prove and measure compute kernels: chat, tickets, runs, "
                  "reports, kernels and chip manuals.")  # fmt: skip
    guard = [Depends(token_guard(token))]
    for r in (runs.router(settings), tickets.router(settings), chat.router(settings),
              uploads.router(settings, max_upload_bytes)):  # fmt: skip
        app.include_router(r, dependencies=guard)

    @app.get("/api/health", dependencies=guard, tags=["service"])
    def health() -> dict[str, Any]:
        return {"ok": True, "data_dir": str(settings.data_dir), "target": settings.target}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app
