"""The bench's hard per-problem time limit: a watchdog that stops in-flight evaluations.

The graph has no wall-clock limit of its own. When a problem's time is up the watchdog

1. marks the run expired, so the run's progress hook stops it at its next event (an
   evaluation starting or finishing, a generation ending);
2. kills every sandboxed evaluation still running: each is a child process of this one that
   leads its own session (``tools.evaluator.sandbox.run_sandboxed`` starts them so), and its
   whole process group is killed, so the blocked ``evaluate`` call returns at once;
3. when the run has still not stopped ``GRACE_S`` seconds later (a coder busy between
   events) and the bench runs in the main thread, interrupts the main thread.

Evaluations killed this way are the time limit's doing, not the candidate's: the bench drops
their stored results so that a resumed run evaluates them again.

The kill reaches every sandboxed evaluation of this process, so one process runs one bench at
a time (as ``kevolve bench`` does); a service running other optimizations beside a bench in
the same process would see theirs stopped too.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from kevolve.interrupt import kill_sandboxes, sandbox_children

logger = logging.getLogger(__name__)

GRACE_S = 10.0
"""Seconds between killing the evaluations and interrupting a run that has not stopped."""

__all__ = ["GRACE_S", "Watchdog", "kill_sandboxes", "sandbox_children"]


class Watchdog:
    """Fires once, ``limit_s`` seconds after :meth:`start`, unless cancelled first.

    Args:
        limit_s: Seconds until the limit (``None``: never fires).
        on_expire: Called first when the limit is reached (marks the run expired).
        grace_s: Seconds after the kill before the main thread is interrupted
            (default ``GRACE_S``).
    """

    def __init__(
        self,
        limit_s: float | None,
        on_expire: Callable[[], None],
        grace_s: float | None = None,
    ) -> None:
        self.limit_s = limit_s
        self.on_expire = on_expire
        self.grace_s = GRACE_S if grace_s is None else grace_s
        self.fired = False
        self.killed = 0
        """Evaluations killed when the limit was reached."""
        self.interrupted = False
        """The main thread was interrupted because the run did not stop by itself."""
        self._main = threading.current_thread() is threading.main_thread()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def start(self) -> Watchdog:
        if self.limit_s is not None:
            self._timer(max(0.0, self.limit_s), self._fire)
        return self

    def _timer(self, delay: float, fn: Callable[[], None]) -> None:
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _fire(self) -> None:
        if self._done.is_set():
            return
        self.fired = True
        self.on_expire()
        self.killed = kill_sandboxes(mark=None)
        logger.info("time limit reached: %d evaluation(s) stopped", self.killed)
        if self._main:
            self._timer(self.grace_s, self._interrupt)

    def _interrupt(self) -> None:
        with self._lock:
            if not self._done.is_set():
                self.interrupted = True
                # a real SIGINT to the main thread also wakes a blocking call (a sleep, a
                # wait on a process); ``_thread.interrupt_main`` would wait for it to return
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def cancel(self) -> None:
        """Stop the watchdog (the run ended); nothing fires after this returns.

        Call it inside the ``try`` that handles the interrupt: one already sent arrives
        before this returns.
        """
        with self._lock:
            self._done.set()
        for timer in self._timers:
            timer.cancel()
