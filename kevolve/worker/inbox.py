"""The watched folder: each ``*.yaml`` / ``*.yml`` file dropped into it becomes a ticket.

A file is taken by renaming it (atomic, so two workers never submit it twice), then moved to
``submitted/<ticket id>-<name>`` or, when it is not a valid ticket, to ``rejected/<name>``
with ``<name>.error`` holding the one-sentence reason.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kevolve.tickets.spec import load_ticket_file
from kevolve.tickets.store import TicketStore
from tools.errors import KevolveError

log = logging.getLogger(__name__)


def scan_inbox(inbox: Path, store: TicketStore, worker_id: str) -> list[str]:
    """Turn the YAML files in ``inbox`` into tickets; returns the new ticket ids."""
    if not inbox.is_dir():
        return []
    created: list[str] = []
    for path in sorted(inbox.iterdir()):
        if path.suffix not in (".yaml", ".yml") or not path.is_file() or path.name.startswith("."):
            continue
        taken = inbox / f".taking-{worker_id}-{path.name}"
        try:
            os.rename(path, taken)
        except OSError:
            continue  # another worker took it first
        try:
            spec = load_ticket_file_from(taken, path)
        except KevolveError as e:
            rejected = inbox / "rejected"
            rejected.mkdir(exist_ok=True)
            os.replace(taken, rejected / path.name)
            (rejected / f"{path.name}.error").write_text(f"{e}\n", encoding="utf-8")
            log.warning("inbox: %s rejected: %s", path.name, e)
            continue
        ticket = store.submit(spec, notes=[f"submitted from the inbox file {path.name}"])
        submitted = inbox / "submitted"
        submitted.mkdir(exist_ok=True)
        os.replace(taken, submitted / f"{ticket.ticket_id}-{path.name}")
        created.append(ticket.ticket_id)
        log.info("inbox: %s -> ticket %s", path.name, ticket.ticket_id)
    return created


def load_ticket_file_from(taken: Path, original: Path):  # noqa: ANN201 - TicketSpec
    """Read a renamed ticket file; relative problem paths stay relative to its folder."""
    from kevolve.tickets.spec import resolve_problem_path

    spec = load_ticket_file(taken)
    return resolve_problem_path(spec, original.parent)
