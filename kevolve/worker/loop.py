"""The worker loop: take a message from the huey queue, claim its ticket, keep the lease
alive, run it, record the outcome.

``concurrency`` slots (threads) each run one huey message at a time (``huey.execute``: a
transient failure goes back through huey's retry with backoff). One housekeeping thread
renews the leases of the tickets held (every third of the lease), moves due retries onto the
queue (huey's scheduler), reaps tickets whose worker was lost (lease expired: queued again
with a new message) and turns inbox files into tickets.
A ticket whose lease cannot be renewed (cancelled, or taken over after this worker stalled)
is stopped at its run's next evaluation boundary. Failures are sorted into three kinds:
bad input (a ``KevolveError``: failed at once), an incomplete request (needs-input), and
anything else (transient: queued again after an exponential backoff, up to the claim limit).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huey.exceptions import RetryTask

from kevolve.tickets.store import TicketStore
from kevolve.worker.inbox import scan_inbox
from kevolve.worker.runner import NeedsInput, Runner, TicketStop, run_ticket
from tools.errors import KevolveError

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    """``<host>-<pid>-<random>``: unique across restarts of the same process id."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass
class Held:
    """A ticket this worker is running."""

    ticket_id: str
    lease_deadline: float
    """Local view of the lease: past it, this worker stops even if the database is
    unreachable (another worker may already have taken the ticket)."""
    reason: str = ""
    """Why the run must stop ("cancelled", "lease lost", "shutdown"); empty: keep going."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self, reason: str) -> None:
        with self.lock:
            self.reason = self.reason or reason

    def check(self) -> None:
        """Raise ``TicketStop`` when the run must stop (called between evaluations)."""
        if not self.reason and time.time() > self.lease_deadline:
            self.stop("lease expired")
        if self.reason:
            raise TicketStop(self.reason)


class Worker:
    """Drains the ticket queue."""

    def __init__(
        self,
        store: TicketStore,
        settings: Any,
        *,
        concurrency: int = 1,
        poll_s: float = 1.0,
        runner: Runner = run_ticket,
        worker_id: str | None = None,
        inbox: Path | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.poll_s = poll_s
        self.runner = runner
        self.worker_id = worker_id or new_worker_id()
        self.inbox = inbox
        self.stopping = threading.Event()
        self.processed = 0
        store.queue.install(self._handle)
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()

    # Control -------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop claiming; running tickets stop at their next evaluation and go back to the
        queue (their runs resume on the next worker)."""
        self.stopping.set()
        with self._lock:
            for held in self._held.values():
                held.stop("shutdown")

    def run(self, once: bool = False) -> int:
        """Work until ``shutdown`` (or, with ``once``, until no ticket is queued or running);
        returns the number of tickets this worker ended."""
        done = threading.Event()
        keeper = threading.Thread(target=self._housekeeping, args=(done,), daemon=True,
                                  name="kevolve-heartbeat")  # fmt: skip
        keeper.start()
        slots = [threading.Thread(target=self._slot, args=(once,), name=f"kevolve-slot-{i}")
                 for i in range(self.concurrency)]  # fmt: skip
        for t in slots:
            t.start()
        try:
            for t in slots:
                while t.is_alive():
                    t.join(timeout=0.5)
        finally:
            done.set()
            keeper.join(timeout=5)
        return self.processed

    # Threads -------------------------------------------------------------------------------
    def _slot(self, once: bool) -> None:
        while not self.stopping.is_set():
            try:
                took = self.store.queue.work_one()
            except Exception as e:  # noqa: BLE001 - database away: wait and try again
                log.warning("cannot reach the ticket queue: %s", e)
                self.stopping.wait(max(self.poll_s, 5.0))
                continue
            if not took:
                if once and self.store.pending() == 0:
                    return
                self.stopping.wait(self.poll_s)

    def _handle(self, ticket_id: str, task: Any) -> None:
        """One huey message: claim its ticket and run it. A message for a ticket that is not
        claimable is dropped (a duplicate, or the ticket was cancelled or is held), except one
        that came before its retry time: it is delivered again then."""
        ticket = self.store.claim(self.worker_id, ticket_id)
        if ticket is None:
            try:
                current = self.store.get(ticket_id)
            except KevolveError:
                log.warning("message for unknown ticket %s dropped", ticket_id)
                return
            wait = current.not_before - time.time()
            if current.status == "queued" and wait > 0:
                raise RetryTask(delay=wait)
            return
        self._process(ticket, task)

    def _housekeeping(self, done: threading.Event) -> None:
        beat = self.store.lease_s / 3
        last_beat = last_orphans = 0.0
        while not done.is_set():
            now = time.time()
            if now - last_beat >= beat:
                last_beat = now
                self._renew_leases()
            try:
                self.store.queue.move_due()
                orphans = now - last_orphans >= self.store.lease_s
                if orphans:
                    last_orphans = now
                self.store.reap(orphans=orphans)
            except Exception as e:  # noqa: BLE001 - database away: try again next round
                log.warning("ticket queue housekeeping failed: %s", e)
            if self.inbox is not None and not self.stopping.is_set():
                try:
                    scan_inbox(self.inbox, self.store, self.worker_id)
                except Exception:  # noqa: BLE001 - a bad inbox must not stop the heartbeat
                    log.exception("inbox scan failed")
            done.wait(min(self.poll_s, beat))

    def _renew_leases(self) -> None:
        with self._lock:
            held = list(self._held.values())
        for h in held:
            try:
                ok = self.store.heartbeat(h.ticket_id, self.worker_id)
            except Exception as e:  # noqa: BLE001 - database away: the local deadline decides
                log.warning("heartbeat for ticket %s failed: %s", h.ticket_id, e)
                continue
            if ok:
                h.lease_deadline = time.time() + self.store.lease_s
            else:
                status = self.store.get(h.ticket_id).status
                h.stop("cancelled" if status == "cancelled" else "lease lost")

    def _process(self, ticket: Any, task: Any = None) -> None:
        held = Held(ticket.ticket_id, lease_deadline=time.time() + self.store.lease_s)
        if self.stopping.is_set():
            held.stop("shutdown")
        with self._lock:
            self._held[ticket.ticket_id] = held
        tid, wid = ticket.ticket_id, self.worker_id
        log.info("worker %s: ticket %s (attempt %d%s)", wid, tid, ticket.attempts,
                 f", resuming run {ticket.run_id}" if ticket.run_id else "")  # fmt: skip
        try:
            outcome = self.runner(
                ticket, self.settings, lambda run_id: self.store.set_run(tid, wid, run_id),
                held.check,
            )
        except TicketStop as e:
            log.info("ticket %s stopped: %s", tid, e.reason)
            if e.reason == "shutdown":
                self.store.release(tid, wid)
        except NeedsInput as e:
            self.store.needs_input(tid, wid, e.question)
        except KevolveError as e:
            self.store.finish(tid, wid, run_id=None, best=None, ok=False, error=str(e))
            self.processed += 1
        except Exception as e:  # noqa: BLE001 - everything else is treated as transient
            delay = float(getattr(task, "retry_delay", None) or self.store.retry_s)
            log.warning("ticket %s: transient failure, retry in %.1f s: %s", tid, delay, e,
                        exc_info=True)  # fmt: skip
            if self.store.retry(tid, wid, f"{type(e).__name__}: {e}", delay_s=delay):
                raise RetryTask(f"ticket {tid}: {type(e).__name__}") from e
        else:
            self.store.finish(tid, wid, run_id=outcome.run_id, best=outcome.best, ok=outcome.ok,
                              error=outcome.error, notes=outcome.notes)  # fmt: skip
            self.processed += 1
        finally:
            with self._lock:
                self._held.pop(tid, None)
