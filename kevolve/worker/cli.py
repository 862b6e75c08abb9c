"""``kevolve worker``: drain the ticket queue. Mount with :func:`register`."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from kevolve.console import err


def worker(
    concurrency: Annotated[int, typer.Option(help="Tickets run at once.", min=1)] = 1,
    once: Annotated[bool, typer.Option(
        "--once", help="Exit when no ticket is queued or running (others' included).")] = False,
    inbox: Annotated[Optional[Path], typer.Option(
        help="Watched folder for ticket YAML files (default <data_dir>/inbox).")] = None,
    lease_s: Annotated[Optional[float], typer.Option(
        "--lease-s", help="Lease on a running ticket, seconds.")] = None,
    poll_s: Annotated[float, typer.Option("--poll-s", help="Queue poll interval, seconds.")] = 1.0,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Where runs live.")] = None,
) -> None:
    """Run queued tickets; a lost worker's ticket is resumed here once its lease expires."""
    from kevolve.console import load_settings as _settings
    from kevolve.tickets.store import TicketStore
    from kevolve.worker.loop import Worker

    settings = _settings(data_dir=data_dir, ticket_lease_s=lease_s)
    inbox_dir = inbox or settings.inbox_dir
    inbox_dir.mkdir(parents=True, exist_ok=True)
    w = Worker(TicketStore.from_settings(settings), settings, concurrency=concurrency,
               poll_s=poll_s, inbox=inbox_dir)  # fmt: skip
    err.print(f"worker {w.worker_id}: queue {settings.tickets_url}", highlight=False, soft_wrap=True)
    err.print(f"inbox: {inbox_dir}", highlight=False, soft_wrap=True)

    def _stop(signum: int, _frame: object) -> None:
        if w.stopping.is_set():
            raise KeyboardInterrupt
        err.print("stopping: running tickets go back to the queue at their next evaluation "
                  "(again to quit now)")  # fmt: skip
        w.shutdown()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        done = w.run(once=once)
    finally:  # the caller's handlers again (an in-process caller keeps its own Ctrl-C)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err.print(f"worker {w.worker_id}: {done} tickets ended", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``kevolve worker`` to the main app."""
    app.command("worker")(worker)
