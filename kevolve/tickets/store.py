"""The ticket table: each ticket's record, status, run id and lease, on SQLite (embedded) or
Postgres, next to the huey queue that delivers it (``kevolve.tickets.queue``).

huey carries delivery, priority and retry backoff; it deletes a message when a worker takes
it, so the table holds what must survive a lost worker. A worker claims the ticket of a
message with one conditional ``UPDATE`` (compare-and-set on status), so two workers never hold
the same ticket, on either database, even when two messages name it. While it works it renews
its lease (a heartbeat). A reaper in every worker queues a ticket again once its lease has
expired and sends it a new message; the next worker keeps its ``run_id`` and resumes the run
from its checkpoint. Every claim is recorded in ``ticket_attempts`` (worker, start, last
heartbeat, end) so overlapping holders would show.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kevolve.tickets.models import TERMINAL, Ticket, TicketSpec
from kevolve.tickets.queue import TicketQueue
from tools.errors import KevolveError

log = logging.getLogger(__name__)

metadata = sa.MetaData()

tickets = sa.Table(
    "kevolve_tickets",
    metadata,
    sa.Column("ticket_id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("requester", sa.String(200), nullable=False, default=""),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(200)),
    sa.Column("best", sa.Text),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("question", sa.Text, nullable=False, default=""),
    sa.Column("answer", sa.Text, nullable=False, default=""),
    sa.Column("notes", sa.Text, nullable=False, default="[]"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("worker_id", sa.String(200)),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("not_before", sa.Float, nullable=False, default=0.0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

attempts = sa.Table(
    "kevolve_ticket_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.String(64), nullable=False, index=True),
    sa.Column("worker_id", sa.String(200), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("outcome", sa.String(32), nullable=False, default=""),
)


class TicketError(KevolveError):
    """A ticket cannot be found or is in the wrong state for what was asked."""


def new_ticket_id() -> str:
    """A sortable, unique ticket id: ``t-<UTC time>-<random>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"t-{stamp}-{secrets.token_hex(3)}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a lock wait so processes share the file."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        return engine
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "postgresql":  # psycopg 3 is the driver kevolve installs
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, pool_pre_ping=True)


class TicketStore:
    """The ticket table and its huey queue (``self.queue``). Every method is one short
    transaction; safe across threads and processes."""

    def __init__(self, url: str, *, lease_s: float = 60.0, max_attempts: int = 4,
                 retry_s: float = 5.0) -> None:  # fmt: skip
        if url.startswith("sqlite:///"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.queue = TicketQueue(url, retry_s=retry_s, max_attempts=max_attempts)
        self.engine = make_engine(url)
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.retry_s = retry_s
        metadata.create_all(self.engine)

    @classmethod
    def from_settings(cls, settings: Any) -> TicketStore:
        """The queue named by ``kevolve.settings.Settings``."""
        return cls(settings.tickets_url, lease_s=settings.ticket_lease_s,
                   max_attempts=settings.ticket_max_attempts, retry_s=settings.ticket_retry_s)  # fmt: skip

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # Requests ------------------------------------------------------------------------------
    def submit(self, spec: TicketSpec, notes: list[str] | None = None) -> Ticket:
        """Queue a new ticket."""
        now = time.time()
        row = {
            "ticket_id": new_ticket_id(),
            "status": "queued",
            "priority": spec.priority,
            "requester": spec.requester,
            "spec": spec.model_dump_json(),
            "error": "",
            "question": "",
            "answer": "",
            "notes": json.dumps(notes or []),
            "attempts": 0,
            "not_before": 0.0,
            "created_at": now,
            "updated_at": now,
        }
        with self._tx() as conn:
            conn.execute(tickets.insert().values(**row))
        self.queue.send(row["ticket_id"], spec.priority)
        return self.get(row["ticket_id"])

    def get(self, ticket_id: str) -> Ticket:
        """One ticket, or a TicketError naming the command that lists them."""
        with self._tx() as conn:
            row = conn.execute(tickets.select().where(tickets.c.ticket_id == ticket_id)).first()
        if row is None:
            raise TicketError(f"no ticket {ticket_id!r}; `kevolve ticket list` shows the tickets.")
        return _ticket(row._mapping)

    def list(self, status: str | None = None) -> list[Ticket]:
        """Tickets, newest first (optionally of one status)."""
        query = tickets.select().order_by(tickets.c.created_at.desc())
        if status:
            query = query.where(tickets.c.status == status)
        with self._tx() as conn:
            return [_ticket(r._mapping) for r in conn.execute(query)]

    def cancel(self, ticket_id: str) -> Ticket:
        """Cancel a ticket that has not ended; its worker stops at its next heartbeat."""
        ticket = self.get(ticket_id)
        if ticket.status in TERMINAL:
            raise TicketError(f"ticket {ticket_id} is already {ticket.status}; nothing to cancel.")
        with self._tx() as conn:
            conn.execute(
                tickets.update()
                .where(tickets.c.ticket_id == ticket_id, tickets.c.status.not_in(list(TERMINAL)))
                .values(status="cancelled", updated_at=time.time())
            )
        return self.get(ticket_id)

    def answer(self, ticket_id: str, text: str) -> Ticket:
        """Answer the question of a ticket in needs-input; it is queued again."""
        if not text.strip():
            raise TicketError("the answer is empty; say which op or chip you mean.")
        with self._tx() as conn:
            done = conn.execute(
                tickets.update()
                .where(tickets.c.ticket_id == ticket_id, tickets.c.status == "needs-input")
                .values(status="queued", answer=text.strip(), not_before=0.0,
                        updated_at=time.time())  # fmt: skip
            ).rowcount
        if not done:
            status = self.get(ticket_id).status
            raise TicketError(f"ticket {ticket_id} is {status}, not waiting for an answer.")
        ticket = self.get(ticket_id)
        self.queue.send(ticket_id, ticket.priority)
        return ticket

    # Workers -------------------------------------------------------------------------------
    def claim(self, worker_id: str, ticket_id: str) -> Ticket | None:
        """Take ``ticket_id`` for ``worker_id`` if it is queued and due: one conditional
        ``UPDATE`` (compare-and-set), so of two workers holding a message for the same ticket
        only one wins. ``None``: not claimable (held, ended, cancelled, or not due yet). A
        ticket that has used all its claims fails instead of being handed out again."""
        now = time.time()
        claimable = sa.and_(tickets.c.ticket_id == ticket_id, tickets.c.status == "queued",
                            tickets.c.not_before <= now)  # fmt: skip
        with self._tx() as conn:
            row = conn.execute(sa.select(tickets.c.attempts).where(claimable)).first()
            if row is None:
                return None
            if row.attempts >= self.max_attempts:
                conn.execute(
                    tickets.update().where(claimable)
                    .values(status="failed", worker_id=None, lease_expires_at=None,
                            error=f"gave up after {row.attempts} attempts (worker lost or "
                            "transient failures); see the worker logs, then resubmit.",
                            updated_at=now)  # fmt: skip
                )
                return None
            won = conn.execute(
                tickets.update().where(claimable)
                .values(status="running", worker_id=worker_id,
                        lease_expires_at=now + self.lease_s,
                        attempts=tickets.c.attempts + 1, updated_at=now)  # fmt: skip
            ).rowcount
            if not won:
                return None
            conn.execute(attempts.insert().values(
                ticket_id=ticket_id, worker_id=worker_id, started_at=now, heartbeat_at=now,
                outcome="running"))  # fmt: skip
        return self.get(ticket_id)

    def reap(self, orphans: bool = True) -> list[str]:
        """Send lost tickets back to the queue; returns their ids.

        A running ticket whose lease expired (its worker died or stalled: huey deleted its
        message when that worker took it) is queued again and gets a new message; the next
        worker resumes its run. With ``orphans``, a queued ticket that has had no message for a
        whole lease (a process died between the table and the queue) gets one too. Each
        re-send is a compare-and-set on the row, so reapers in several workers send it once.
        """
        now = time.time()
        sent: list[str] = []
        with self._tx() as conn:
            expired = conn.execute(
                sa.select(tickets.c.ticket_id, tickets.c.worker_id, tickets.c.priority)
                .where(tickets.c.status == "running", tickets.c.lease_expires_at < now)
            ).all()
        for row in expired:
            with self._tx() as conn:
                won = conn.execute(
                    tickets.update()
                    .where(tickets.c.ticket_id == row.ticket_id, tickets.c.status == "running",
                           tickets.c.worker_id == row.worker_id,
                           tickets.c.lease_expires_at < now)  # fmt: skip
                    .values(status="queued", worker_id=None, lease_expires_at=None,
                            not_before=0.0, updated_at=now)  # fmt: skip
                ).rowcount
                if won:
                    conn.execute(
                        attempts.update()
                        .where(attempts.c.ticket_id == row.ticket_id,
                               attempts.c.worker_id == row.worker_id,
                               attempts.c.ended_at.is_(None))  # fmt: skip
                        .values(outcome="lost", ended_at=now)
                    )
            if won:
                log.warning("ticket %s: lease of worker %s expired; queued again",
                            row.ticket_id, row.worker_id)  # fmt: skip
                self.queue.send(row.ticket_id, row.priority)
                sent.append(row.ticket_id)
        if orphans:
            sent += self._resend_orphans(now)
        return sent

    def _resend_orphans(self, now: float) -> list[str]:
        stale = now - self.lease_s
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(tickets.c.ticket_id, tickets.c.priority, tickets.c.updated_at)
                .where(tickets.c.status == "queued", tickets.c.not_before < stale,
                       tickets.c.updated_at < stale)  # fmt: skip
            ).all()
        if not rows:
            return []
        waiting = self.queue.waiting_ids()
        sent = []
        for row in rows:
            if row.ticket_id in waiting:
                continue
            with self._tx() as conn:
                won = conn.execute(
                    tickets.update()
                    .where(tickets.c.ticket_id == row.ticket_id, tickets.c.status == "queued",
                           tickets.c.updated_at == row.updated_at)  # fmt: skip
                    .values(updated_at=now)
                ).rowcount
            if won:
                log.warning("ticket %s: queued without a message; sent again", row.ticket_id)
                self.queue.send(row.ticket_id, row.priority)
                sent.append(row.ticket_id)
        return sent

    def _held(self, ticket_id: str, worker_id: str) -> sa.ColumnElement[bool]:
        return sa.and_(
            tickets.c.ticket_id == ticket_id,
            tickets.c.worker_id == worker_id,
            tickets.c.status == "running",
        )

    def heartbeat(self, ticket_id: str, worker_id: str) -> bool:
        """Renew the lease; ``False`` when the worker no longer holds the ticket (cancelled,
        or taken over after its lease expired): it must stop working on it."""
        now = time.time()
        with self._tx() as conn:
            held = conn.execute(
                tickets.update()
                .where(self._held(ticket_id, worker_id))
                .values(lease_expires_at=now + self.lease_s, updated_at=now)
            ).rowcount
            if held:
                conn.execute(
                    attempts.update()
                    .where(attempts.c.ticket_id == ticket_id, attempts.c.worker_id == worker_id,
                           attempts.c.ended_at.is_(None))  # fmt: skip
                    .values(heartbeat_at=now)
                )
        return bool(held)

    def set_run(self, ticket_id: str, worker_id: str, run_id: str) -> bool:
        """Record the run a ticket drives (a takeover resumes it)."""
        with self._tx() as conn:
            return bool(conn.execute(
                tickets.update().where(self._held(ticket_id, worker_id))
                .values(run_id=run_id, updated_at=time.time())
            ).rowcount)  # fmt: skip

    def _end(self, ticket_id: str, worker_id: str, outcome: str, **values: Any) -> bool:
        now = time.time()
        with self._tx() as conn:
            done = conn.execute(
                tickets.update()
                .where(self._held(ticket_id, worker_id))
                .values(worker_id=None, lease_expires_at=None, updated_at=now, **values)
            ).rowcount
            conn.execute(
                attempts.update()
                .where(attempts.c.ticket_id == ticket_id, attempts.c.worker_id == worker_id,
                       attempts.c.ended_at.is_(None))  # fmt: skip
                .values(ended_at=now, heartbeat_at=now, outcome=outcome if done else "stopped")
            )
        return bool(done)

    def finish(self, ticket_id: str, worker_id: str, *, run_id: str | None,
               best: dict[str, Any] | None, ok: bool, error: str = "",
               notes: list[str] | None = None) -> bool:  # fmt: skip
        """End a held ticket as done (``ok``) or failed; ``False`` if it was not held."""
        values: dict[str, Any] = {
            "status": "done" if ok else "failed",
            "best": json.dumps(best) if best is not None else None,
            "error": error,
        }
        if run_id:
            values["run_id"] = run_id
        if notes is not None:
            values["notes"] = json.dumps(notes)
        return self._end(ticket_id, worker_id, "done" if ok else "failed", **values)

    def retry(self, ticket_id: str, worker_id: str, error: str, delay_s: float) -> bool:
        """A transient failure: the ticket waits ``delay_s`` (the queue's backoff, doubled on
        each retry) and is queued again, or fails when it has used all its attempts. ``True``
        when a retry is due: the caller has the queue deliver it after ``delay_s``."""
        ticket = self.get(ticket_id)
        if ticket.attempts >= self.max_attempts:
            self.finish(ticket_id, worker_id, run_id=None, best=None, ok=False,
                        error=f"{error} (gave up after {ticket.attempts} attempts)")  # fmt: skip
            return False
        return self._end(ticket_id, worker_id, "retry", status="queued", error=error,
                         not_before=time.time() + delay_s)  # fmt: skip

    def release(self, ticket_id: str, worker_id: str) -> bool:
        """Give a held ticket back untouched (the worker is stopping); the claim is refunded
        and the ticket is queued again at once."""
        released = self._end(ticket_id, worker_id, "released", status="queued",
                             attempts=tickets.c.attempts - 1)  # fmt: skip
        if released:
            self.queue.send(ticket_id, self.get(ticket_id).priority)
        return released

    def needs_input(self, ticket_id: str, worker_id: str, question: str) -> bool:
        """Park a ticket until ``answer`` is given; its claim is refunded."""
        return self._end(ticket_id, worker_id, "needs-input", status="needs-input",
                         question=question, attempts=tickets.c.attempts - 1)  # fmt: skip

    def pending(self) -> int:
        """Tickets that are queued or running (what a ``--once`` worker waits for)."""
        with self._tx() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(tickets)
                .where(tickets.c.status.in_(["queued", "running"]))
            ).scalar_one())  # fmt: skip

    def attempt_log(self, ticket_id: str | None = None) -> list[dict[str, Any]]:
        """Every claim: ticket, worker, started/heartbeat/ended times, outcome."""
        query = attempts.select().order_by(attempts.c.id)
        if ticket_id:
            query = query.where(attempts.c.ticket_id == ticket_id)
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def _ticket(row: Any) -> Ticket:
    return Ticket(
        ticket_id=row["ticket_id"],
        status=row["status"],
        spec=TicketSpec.model_validate_json(row["spec"]),
        priority=row["priority"],
        requester=row["requester"],
        run_id=row["run_id"],
        best=json.loads(row["best"]) if row["best"] else None,
        error=row["error"] or "",
        question=row["question"] or "",
        answer=row["answer"] or "",
        attempts=row["attempts"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        not_before=row["not_before"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        notes=json.loads(row["notes"] or "[]"),
    )
