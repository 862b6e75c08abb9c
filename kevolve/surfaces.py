"""Mounts the commands of the ticket queue, workers, export and the HTTP service."""

from __future__ import annotations

import typer


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"kevolve {version('kevolve')}")
        raise typer.Exit()


def register_surfaces(app: typer.Typer) -> None:
    """Add ``--version``, ``ticket``, ``worker``, ``export`` and ``serve`` to the main app."""

    @app.callback()
    def _main(
        show_version: bool = typer.Option(False, "--version", callback=_print_version,
                                          is_eager=True, help="Print the version and exit."),
    ) -> None:
        """Write, prove and measure compute kernels for a PyTorch operator on a named chip."""

    from kevolve.export.cli import register as export
    from kevolve.service.cli import register as serve
    from kevolve.tickets.cli import register as tickets
    from kevolve.worker.cli import register as worker

    tickets(app)
    worker(app)
    export(app)
    serve(app)
