"""``kevolve serve``: the HTTP service and its web page. Mount with :func:`register`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from kevolve.console import err, fail
from tools.errors import KevolveError


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (beyond loopback needs "
                                      "KEVOLVE_API_TOKEN).")] = "127.0.0.1",  # fmt: skip
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Where runs live.")] = None,
) -> None:
    """Serve the API (/docs, /openapi.json) and the web page."""
    import uvicorn

    from kevolve.console import load_settings as _settings
    from kevolve.service.app import create_app
    from kevolve.service.auth import check_bind

    settings = _settings(data_dir=data_dir)
    token = os.environ.get("KEVOLVE_API_TOKEN") or None
    try:
        check_bind(host, token)
    except KevolveError as e:
        fail(str(e))
    err.print(f"kevolve service on http://{host}:{port}/ (data in {settings.data_dir})",
              highlight=False, soft_wrap=True)  # fmt: skip
    uvicorn.run(create_app(settings, token=token), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``kevolve serve`` to the main app."""
    app.command("serve")(serve)
