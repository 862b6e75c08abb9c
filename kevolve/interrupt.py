"""Stopping a run on Ctrl-C in a second or two, losing nothing and faking nothing.

The graph runs in a worker thread while the calling thread waits, so a ``KeyboardInterrupt``
lands where it can be handled at once (not inside LangGraph's executor, which waits for every
running task). On an interrupt :func:`drive_interruptibly`:

1. freezes the run in the run store, so an evaluation killed half-way is never stored as a
   result (it would be reused as a failure by ``kevolve runs resume``);
2. makes the run's next progress event raise :class:`RunInterrupted` (an evaluation announces
   itself before its sandbox starts, so none starts afterwards);
3. kills the sandboxed evaluations this process started (each leads its own process group);
4. waits at most :data:`GRACE_S` seconds for the graph to unwind.

Finished evaluations stay in the run store and in the checkpoint of their superstep, so a
resumed run does not repeat them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.errors import KevolveError

log = logging.getLogger(__name__)

GRACE_S = 1.2
"""Seconds the graph is given to unwind after the sandboxes are killed."""
SANDBOX_MARK = b"tools.evaluator"
"""Command-line text of a sandboxed evaluation (the worker and its launch wrappers)."""

_cancelled: set[str] = set()
_cancelled_lock = threading.Lock()


class RunInterrupted(KevolveError):
    """The user stopped a run; it can be resumed."""

    def __init__(self, run_id: str, done: int, budget: int) -> None:
        self.run_id, self.done, self.budget = run_id, done, budget
        super().__init__(
            f"run {run_id} interrupted after {done} of {budget} evaluations; "
            f"resume it with `kevolve runs resume {run_id}`"
        )


class RunPaused(KevolveError):
    """A model the run needs stopped answering; the run waits, resumable, with all it finished."""

    def __init__(self, run_id: str, why: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"{why.rstrip('.')}; run {run_id} is paused with everything it finished, and "
            f"`kevolve runs resume {run_id}` continues it once the model answers again."
        )


def cancel(run_id: str) -> None:
    """Mark ``run_id`` as stopped in this process: its results are no longer stored."""
    with _cancelled_lock:
        _cancelled.add(run_id)


def is_cancelled(run_id: str) -> bool:
    """Whether ``run_id`` was stopped in this process."""
    with _cancelled_lock:
        return run_id in _cancelled


def sandbox_children(parent: int | None = None, mark: bytes | None = None) -> list[int]:
    """Child processes of ``parent`` (default: this process) that lead their own session.

    ``tools.evaluator.sandbox.run_sandboxed`` starts every evaluation so. With ``mark``, only
    children whose command line holds it. Reads ``/proc``; an empty list where there is none
    (not Linux).
    """
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_bytes()
            fields = stat[stat.rindex(b")") + 2 :].split()  # state, ppid, pgrp, session
            pid = int(entry.name)
            if len(fields) > 3 and int(fields[1]) == parent and int(fields[3]) == pid:
                if mark is None or mark in (entry / "cmdline").read_bytes():
                    found.append(pid)
        except (OSError, ValueError):
            continue
    return found


def kill_sandboxes(mark: bytes | None = SANDBOX_MARK) -> int:
    """SIGKILL the process group of every sandboxed evaluation this process started.

    Args:
        mark: Command-line text a child must hold to be killed (``None``: every child that
            leads its own session).

    Returns:
        How many groups were killed.
    """
    killed = 0
    for pid in sandbox_children(mark=mark):
        try:
            os.killpg(pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            continue
    return killed


def guard_events(run_id: str, on_event: Callable[[str, dict[str, Any]], None] | None):
    """An event handler that forwards to ``on_event`` and raises once ``run_id`` is cancelled."""

    def handler(event: str, data: dict[str, Any]) -> None:
        if is_cancelled(run_id):
            raise RunInterrupted(run_id, 0, 0)
        if on_event is not None:
            on_event(event, data)

    return handler


def drive_interruptibly(
    run_id: str,
    invoke: Callable[[], Any],
    on_interrupt: Callable[[bool], None],
) -> Any:
    """Run ``invoke()`` in a worker thread; on Ctrl-C stop it within about :data:`GRACE_S` s.

    Args:
        run_id: The run being driven.
        invoke: Drives the graph to its end and returns its final state.
        on_interrupt: Called once after an interrupt with whether the graph ended anyway
            (every step done); it records the run's status and raises what the caller sees.

    Returns:
        What ``invoke`` returned, when no interrupt came.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["value"] = invoke()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = e
        finally:
            done.set()

    # The waiting thread sleeps in short steps rather than in ``join``: an interrupt that
    # lands inside ``join`` can leave the thread object's state inconsistent.
    threading.Thread(target=work, name=f"run-{run_id}", daemon=True).start()
    try:
        while not done.is_set():
            time.sleep(0.05)
    except KeyboardInterrupt:
        cancel(run_id)
        deadline = time.monotonic() + GRACE_S
        killed = kill_sandboxes()
        while not done.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
            killed += kill_sandboxes()  # one may have started between two looks
        log.info("run %s interrupted: %d sandboxed evaluations killed", run_id, killed)
        ended = done.is_set() and "value" in outcome
        on_interrupt(ended)
        if ended:
            return outcome["value"]
        raise RunInterrupted(run_id, 0, 0) from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
