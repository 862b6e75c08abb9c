"""Delivery of tickets to workers, on huey: ``SqliteHuey`` embedded, huey's Postgres storage at
scale (the same database as the ticket table, tables ``kevolve_queue_*``).

huey carries the messages (one per ticket to run, ordered by priority, then submission),
the delayed retries (``retry_delay`` doubled by ``retry_backoff`` on each transient failure)
and, on Postgres, ``LISTEN/NOTIFY`` wake-ups with ``FOR UPDATE SKIP LOCKED`` dequeues. What
huey does not do — it deletes a message when a worker takes it, so a worker killed mid-task
loses it — the ticket table does: the claim, the lease and its heartbeat (see ``store``).

Messages are JSON (:class:`JsonSerializer`), never pickles: whoever can write to the queue's
tables must not be able to run code in the workers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import Huey, SqliteHuey
from huey.api import PostgresHuey
from huey.registry import Message
from huey.serializer import Serializer

from tools.errors import KevolveError

log = logging.getLogger(__name__)

QUEUE_NAME = "kevolve-tickets"
TASK_NAME = "kevolve_ticket"

Handler = Callable[[str, Any], None]
"""``handler(ticket_id, task)``: runs one message; ``task`` is huey's task (its
``retry_delay`` is the backoff the next retry waits)."""


class QueueConfigError(KevolveError):
    """The queue's database URL names a database the queue cannot run on."""


class JsonSerializer(Serializer):
    """huey messages as JSON; datetimes as ISO strings. Chains and chords are refused (the
    ticket queue sends one flat message per ticket)."""

    def _serialize(self, data: Any) -> bytes:
        if isinstance(data, Message):
            if data.on_complete or data.on_error or data.chord_config:
                raise ValueError("the ticket queue sends flat messages only (no chains/chords)")
            fields = {k: _encode(v) for k, v in data._asdict().items()}
            return json.dumps({"message": fields}).encode()
        return json.dumps({"data": data}).encode()

    def _deserialize(self, data: bytes) -> Any:
        obj = json.loads(bytes(data).decode())
        if "message" in obj:
            fields = {k: _decode(v) for k, v in obj["message"].items() if k in Message._fields}
            fields["args"] = tuple(fields.get("args") or ())
            return Message(**fields)
        return obj["data"]


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"datetime"}:
        return dt.datetime.fromisoformat(value["datetime"])
    return value


def huey_for(url: str) -> Huey:
    """The huey instance for the ticket database ``url`` (an SQLAlchemy URL): SQLite
    ``<dir>/<name>.sqlite`` -> ``SqliteHuey`` in ``<dir>/<name>-queue.sqlite``; Postgres ->
    huey's Postgres storage in the same database."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    common: dict[str, Any] = {"results": False, "serializer": JsonSerializer(), "utc": True}
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise QueueConfigError(
                "the ticket queue needs an SQLite file, not an in-memory database; "
                "give sqlite:///PATH or leave KEVOLVE_DATABASE_URL unset."
            )
        db = Path(parsed.database)
        return SqliteHuey(QUEUE_NAME, filename=str(db.with_name(f"{db.stem}-queue.sqlite")),
                          timeout=60, **common)  # fmt: skip
    if parsed.get_backend_name() == "postgresql":
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresHuey(QUEUE_NAME, dsn=dsn, table_prefix="kevolve_queue", read_timeout=1,
                            **common)  # fmt: skip
    raise QueueConfigError(
        f"the ticket queue runs on SQLite or Postgres, not {parsed.get_backend_name()}; set "
        "KEVOLVE_DATABASE_URL=postgresql+psycopg://USER:PASSWORD@HOST/DB or leave it unset."
    )


class TicketQueue:
    """One huey queue of ticket messages. ``send`` enqueues (or schedules) a ticket;
    ``work_one`` takes one message and runs it through the handler a worker installed."""

    def __init__(self, url: str, *, retry_s: float, max_attempts: int) -> None:
        self.huey = huey_for(url)
        self._handler: Handler | None = None

        # huey's own retry budget is larger than the ticket's claim limit, so the ticket table
        # (which also counts lost workers) always decides when to give up.
        @self.huey.task(name=TASK_NAME, retries=max_attempts + 1, retry_delay=retry_s,
                        retry_backoff=2.0, context=True)  # fmt: skip
        def run_ticket(ticket_id: str, task: Any = None) -> None:
            if self._handler is None:
                raise RuntimeError("no ticket handler installed in this process")
            self._handler(ticket_id, task)

        self._task = run_ticket

    def install(self, handler: Handler) -> None:
        """Run messages taken by this process through ``handler``."""
        self._handler = handler

    def send(self, ticket_id: str, priority: int = 0, delay_s: float = 0.0) -> None:
        """Queue one message for ``ticket_id`` (a ticket may have several: the claim decides)."""
        if delay_s > 0:
            self._task.schedule(args=(ticket_id,), delay=delay_s, priority=priority)
        else:
            self.huey.enqueue(self._task.s(ticket_id, priority=priority))

    def work_one(self) -> bool:
        """Take one message and run it; ``False`` when none was waiting."""
        data = self.huey.storage.dequeue()
        if data is None:
            return False
        try:
            task = self.huey.deserialize_task(data)
        except Exception as e:  # noqa: BLE001 - not ours (a pickle, garbage): never run it
            log.warning("dropped a queue message that is not a ticket message: %s", e)
            return True
        self.huey.execute(task)
        return True

    def move_due(self) -> int:
        """Move scheduled messages whose time has come onto the queue (huey's scheduler job)."""
        due = self.huey.read_schedule()
        for task in due:
            self.huey.enqueue(task)
        return len(due)

    def waiting_ids(self) -> set[str]:
        """Ticket ids that have a message queued or scheduled."""
        tasks = [*self.huey.pending(), *self.huey.scheduled()]
        return {str(t.args[0]) for t in tasks if t.args}

    def drop(self) -> None:
        """Remove every message (tests and resets)."""
        self.huey.flush()
