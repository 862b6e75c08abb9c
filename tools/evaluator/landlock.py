"""Landlock, the unprivileged Linux file-system sandbox, through ``ctypes`` system calls.

Landlock (Linux >= 5.13) lets a process restrict itself, irreversibly and for every child
it starts, to the file hierarchies it names: any other file becomes unreadable and
unwritable, whatever the user's own permissions. No privilege, helper binary or mount
namespace is needed; the kernel must be built with it and list it among its active LSMs.

Only three system calls and ``prctl(PR_SET_NO_NEW_PRIVS)`` are used; see the kernel's
``Documentation/userspace-api/landlock.rst`` for the ABI. This module knows nothing about
candidates; ``tools.evaluator.fsisolation`` decides which paths a worker gets.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
from collections.abc import Iterable
from pathlib import Path

SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
"""System call numbers: the same on every architecture (unified table since Linux 5.13)."""

CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

# File-system access rights (ABI 1 unless noted).
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2: rename/link across directories
TRUNCATE = 1 << 14  # ABI 3

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
"""Rights that may be granted on a single file (a device node) rather than a directory."""
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR
"""Read-only access: read files, list directories, run programs and load libraries."""


def handled_rights(abi: int) -> int:
    """Every file-system right this module handles at Landlock ABI ``abi``.

    ``IOCTL_DEV`` (ABI 5) is deliberately not handled: GPU drivers talk to their device
    nodes through ioctls, and a denied ioctl would break CUDA/ROCm, not a cheat.
    """
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),  # ABI 4
        ("scoped", ctypes.c_uint64),  # ABI 6
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The Landlock ABI version this kernel offers, or 0 when Landlock is unavailable.

    Creating nothing, this is safe to call in any process: 0 means the kernel lacks it
    (``ENOSYS``), it is not among the active LSMs (``EOPNOTSUPP``), or a seccomp filter (a
    container runtime's) refuses the call.
    """
    if platform.system() != "Linux":
        return 0
    libc = _libc()
    version = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return int(version) if version > 0 else 0


def _add_rule(libc: ctypes.CDLL, ruleset_fd: int, path: Path, access: int) -> bool:
    """Allow ``access`` beneath ``path``; ``False`` when the path does not exist."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= FILE_RIGHTS
        attr = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
        done = libc.syscall(
            SYS_ADD_RULE, ruleset_fd, RULE_PATH_BENEATH, ctypes.byref(attr), ctypes.c_uint32(0)
        )
        if done != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_add_rule({path}): {os.strerror(err)}")
    finally:
        os.close(fd)
    return True


def restrict_self(rules: Iterable[tuple[Path, int]], *, scope_signals: bool = True) -> int:
    """Restrict this process and its future children to ``rules``, irreversibly.

    Args:
        rules: ``(path, rights)`` pairs; each grants ``rights`` (masked to the handled ones)
            on ``path`` and everything beneath it. Paths that do not exist are skipped.
        scope_signals: Also forbid signalling processes, and connecting to abstract UNIX
            sockets, outside this sandbox (ABI 6 and later; ignored before).

    Returns:
        The ABI version enforced.

    Raises:
        OSError: Landlock is unavailable or refused a call (nothing was restricted unless
            the error came from ``landlock_restrict_self`` itself).
    """
    abi = abi_version()
    if abi < 1:
        raise OSError(errno.EOPNOTSUPP, "Landlock is not available on this kernel")
    libc = _libc()
    handled = handled_rights(abi)
    attr = _RulesetAttr(handled_access_fs=handled, handled_access_net=0, scoped=0)
    size = 8
    if abi >= 4:
        size = 16
    if abi >= 6:
        size = 24
        if scope_signals:
            attr.scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        for path, rights in rules:
            _add_rule(libc, int(ruleset), Path(path), rights & handled)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")
        if libc.syscall(SYS_RESTRICT_SELF, int(ruleset), ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(int(ruleset))
    return abi
