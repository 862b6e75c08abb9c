"""Mounts the commands of the ticket queue, workers, export and the HTTP service."""

from __future__ import annotations

import typer


def register_surfaces(app: typer.Typer) -> None:
    """Add ``ticket``, ``worker``, ``export`` and ``serve`` to the main ``kevolve`` app."""
    from kevolve.export.cli import register as export
    from kevolve.service.cli import register as serve
    from kevolve.tickets.cli import register as tickets
    from kevolve.worker.cli import register as worker

    tickets(app)
    worker(app)
    export(app)
    serve(app)
