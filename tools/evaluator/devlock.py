"""A machine-wide reader/writer lock on the measuring device, across worker processes.

Timing takes it exclusively; every other piece of device work a worker does (first call,
correctness runs, the reference's ``torch.compile`` warm-up, the recheck, profiling) takes
it shared. So several candidates may check correctness at once, but nothing else runs on
the device while one is timed.

Built from two ``flock`` files, with writer preference so a timing run is not starved by a
stream of correctness runs:

- ``<path>``: the lock itself (shared or exclusive);
- ``<path>.gate``: a turnstile. Readers pass through it (take and drop it) before taking
  ``<path>`` shared; a writer holds it while it waits for ``<path>`` exclusive, so readers
  that arrive after a waiting writer queue behind it.

``flock`` locks belong to the open file, are released when the process dies, and are not
inherited across ``exec`` (Python opens files close-on-exec). Sections must not nest.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class DeviceLock:
    """The reader/writer lock on one lock-file path; an empty path locks nothing.

    Args:
        path: The lock file (``EvalOptions.timing_lock``); ``<path>.gate`` is created next
            to it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._main: int | None = None
        self._gate: int | None = None

    def open(self) -> None:
        """Open both lock files now (the worker does this before its file-system sandbox
        closes the data dir); idempotent."""
        if not self.path or self._main is not None:
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        self._main = os.open(self.path, flags, 0o666)
        self._gate = os.open(self.path + ".gate", flags, 0o666)

    def close(self) -> None:
        """Close both files (releases anything still held)."""
        for fd in (self._main, self._gate):
            if fd is not None:
                os.close(fd)
        self._main = self._gate = None

    def _through_gate(self, operation: int) -> None:
        assert self._main is not None and self._gate is not None
        fcntl.flock(self._gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._main, operation)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _held(self, operation: int) -> Iterator[None]:
        if not self.path:
            yield
            return
        self.open()
        self._through_gate(operation)
        try:
            yield
        finally:
            assert self._main is not None
            fcntl.flock(self._main, fcntl.LOCK_UN)

    def shared(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock shared: other shared holders may run, no exclusive holder can."""
        return self._held(fcntl.LOCK_SH)

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock exclusively: wait until every shared holder has left, and keep
        new ones out (they queue at the gate) until this section ends."""
        return self._held(fcntl.LOCK_EX)
