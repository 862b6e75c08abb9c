"""One owner process per embedded knowledge-base directory, enforced with ``fcntl.flock``.

An embedded Chroma directory (``PersistentClient``) must not be written by two processes at
once. The first process to open it holds an exclusive lock on ``<dir>/kevolve.lock`` until it
closes the store or exits (the kernel drops the lock with the process, so a crash leaves no
stale lock). Within the owner process the lock is shared and reference-counted.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from tools.errors import KnowledgeBaseError

LOCK_FILE = "kevolve.lock"

_held: dict[str, list[int]] = {}  # resolved dir -> [fd, users]
_guard = threading.Lock()


def acquire(directory: Path) -> Path:
    """Take (or share, inside this process) the owner lock of ``directory``.

    Args:
        directory: The embedded Chroma directory; created when missing.

    Returns:
        The resolved directory, to pass to :func:`release`.

    Raises:
        KnowledgeBaseError: Another process owns the directory, or it cannot be created.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        key = directory.resolve()
    except OSError as e:
        raise KnowledgeBaseError(f"The knowledge base folder {directory} cannot be created ({e.strerror}).") from e
    with _guard:
        if str(key) in _held:
            _held[str(key)][1] += 1
            return key
        fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise KnowledgeBaseError(
                f"The knowledge base at {key} is already open in another process (pid {owner}); to share it, "
                f"run a Chroma server (`chroma run --path {key} --port 8000`) and set "
                "KEVOLVE_CHROMA_URL=http://localhost:8000 in every process."
            ) from e
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _held[str(key)] = [fd, 1]
        return key


def release(key: Path) -> None:
    """Give back one use of the lock taken by :func:`acquire`; the last use unlocks."""
    with _guard:
        entry = _held.get(str(key))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[str(key)]
            fcntl.flock(entry[0], fcntl.LOCK_UN)
            os.close(entry[0])
