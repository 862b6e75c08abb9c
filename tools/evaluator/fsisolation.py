"""File-system isolation of the sandboxed worker at run time (Landlock).

The static ``filesystem_access`` rule only sees names in the source; a candidate that
builds ``getattr(os, "op" + "en")`` or calls libc through ``ctypes`` gets past it. So the
worker, once torch, Triton and the device are initialised and before the candidate module
is imported, restricts itself with Landlock (``tools.evaluator.landlock``):

- read-only (and executable): system directories, the Python installation and virtual
  environment, ``sys.path`` entries, the evaluator's own package;
- read-write: the candidate's own directory only (its cwd, ``HOME``, ``TMPDIR`` and compile
  caches, which the orchestrator moves inside it when this layer is active);
- the standard pseudo-devices and the GPU device nodes read-write (``DEVICE_NAMES``);
- nothing else: other candidates' directories, the shared compile cache, the run store
  and the rest of the data dir cannot be read, listed or written.

Every child the worker starts (compilers, the ahead-of-time compile, Nsight Compute)
inherits the restriction. Where Landlock is unavailable the layer reports itself "not
available" (``probe``, shown by ``kevolve doctor``) and the evaluation runs without it.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tools.evaluator import landlock
from tools.evaluator.paths import REPO_ROOT

logger = logging.getLogger(__name__)

LANDLOCK = "landlock"
"""``EvalRequest.fs_isolation`` value: the worker must apply Landlock before the candidate."""

SYSTEM_READ_ONLY = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc",
    "/opt",
    "/proc",
    "/sys",
)
"""System paths a worker may read: libraries, compilers, CUDA/ROCm installs, ``/proc`` and
``/sys`` (device and CPU discovery). Rationale: nothing in them is another candidate's
work or a stored output; ``/tmp``, ``/run``, ``/var``, ``/home`` and ``/root`` are not here."""

REPO_READ_ONLY = ("tools", "hardware_docs")
"""Folders of the repository a worker may read (the evaluator's own code and chip facts),
instead of the whole repository, which may hold a data dir."""

DEVICE_NAMES = ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "kfd", "dri")
DEVICE_PREFIXES = ("nvidia",)
"""Device nodes (and device directories) a worker may open: the standard pseudo-devices,
NVIDIA's ``/dev/nvidia*`` (``nvidiactl``, ``nvidia0``, ``nvidia-uvm``, ``nvidia-caps``) and
AMD's ``/dev/kfd`` and ``/dev/dri``. Rationale: block devices (``/dev/vda``), ``/dev/mem``,
``/dev/kmsg`` and the like read the disk or the kernel around every file rule, and
``/dev/shm`` outlives the candidate, so it could carry an answer to the next one."""

ALL_RIGHTS = (1 << 15) - 1
"""Every file-system right (masked to the ABI's handled set when applied)."""
DEVICE_RIGHTS = landlock.READ_FILE | landlock.WRITE_FILE | landlock.TRUNCATE | landlock.READ_DIR
"""Open, read and write existing device nodes; create nothing."""


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def read_only_roots(protected: Iterable[Path]) -> list[Path]:
    """Directories the worker may read, none of which contains a ``protected`` path.

    Args:
        protected: Paths that must stay unreadable: the directory holding every candidate's
            work dir, the shared compile cache, the directory of the timing lock (the data
            dir in a run). A root that is one of them or contains one is dropped (logged).

    Returns:
        Existing directories, resolved, without duplicates.
    """
    guarded = [_real(p) for p in protected]
    wanted: list[Path] = [Path(p) for p in SYSTEM_READ_ONLY]
    wanted += [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
    wanted.append(_real(sys.executable).parent.parent)
    wanted += [REPO_ROOT / name for name in REPO_READ_ONLY]
    for entry in sys.path:
        if entry and Path(entry).is_dir() and _real(entry) != _real(REPO_ROOT):
            wanted.append(Path(entry))
    roots: list[Path] = []
    for path in wanted:
        real = _real(path)
        if not real.exists() or any(_is_within(real, r) for r in roots):
            continue
        if real == _real(Path.cwd()):
            continue
        if any(_is_within(g, real) for g in guarded):
            logger.warning("not granting read access to %s: it contains %s", real, guarded)
            continue
        roots.append(real)
    return roots


def device_rules(*, share_dev_shm: bool) -> list[tuple[Path, int]]:
    """Rules for ``/dev``: list it, and open the ``DEVICE_NAMES``/``DEVICE_PREFIXES`` nodes
    (character devices or directories, never block devices) read-write; ``/dev/shm`` too
    when ``share_dev_shm`` (Nsight Compute may need it)."""
    dev = Path("/dev")
    rules: list[tuple[Path, int]] = [(dev, landlock.READ_DIR)]
    try:
        entries = sorted(dev.iterdir())
    except OSError:
        return rules
    for entry in entries:
        if entry.name == "shm" and share_dev_shm:
            rules.append((entry, ALL_RIGHTS))
            continue
        if entry.name not in DEVICE_NAMES and not entry.name.startswith(DEVICE_PREFIXES):
            continue
        try:
            mode = entry.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISCHR(mode) or stat.S_ISDIR(mode):
            rules.append((entry, DEVICE_RIGHTS))
    return rules


def worker_rules(
    workdir: Path, protected: Iterable[Path], *, share_dev_shm: bool = False
) -> list[tuple[Path, int]]:
    """The Landlock rules of one worker: read-only roots, devices, and its own directory."""
    rules = [(root, landlock.READ_RIGHTS) for root in read_only_roots(protected)]
    rules += device_rules(share_dev_shm=share_dev_shm)
    rules.append((_real(workdir), ALL_RIGHTS))
    return rules


def apply(workdir: Path, protected: Iterable[Path], *, share_dev_shm: bool = False) -> int:
    """Restrict the calling process (the worker) to ``worker_rules``; irreversible.

    Returns:
        The Landlock ABI version enforced.

    Raises:
        OSError: Landlock is unavailable or refused the rules.
    """
    return landlock.restrict_self(worker_rules(workdir, protected, share_dev_shm=share_dev_shm))


def denial(e: BaseException) -> str | None:
    """If ``e`` (or an exception it came from) is a permission error, the sentence that
    blames the run-time file-system sandbox for it, naming the path; else ``None``.

    Only meaningful in a worker that applied Landlock: there, outside its directory and the
    read-only roots every access fails with ``EACCES``.
    """
    seen: set[int] = set()
    exc: BaseException | None = e
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
            where = f" on '{exc.filename}'" if exc.filename else ""
            return (
                f"the run-time file-system sandbox (Landlock) denied access{where}: a "
                f"candidate may read and write only its own directory "
                f"({type(exc).__name__}: {exc.strerror or exc})"
            )
        exc = exc.__cause__ or exc.__context__
    if "Permission denied" in str(e):
        return (
            "the run-time file-system sandbox (Landlock) denied a file access (a candidate "
            f"may read and write only its own directory): {str(e)[:500]}"
        )
    return None


_PROBE = """
import importlib.util, json, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("kevolve_landlock_probe", sys.argv[3])
landlock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(landlock)
inside, outside = Path(sys.argv[1]), Path(sys.argv[2])
abi = landlock.restrict_self([(inside, (1 << 15) - 1)])
(inside / "w").write_text("ok")
try:
    outside.read_text()
    blocked = False
except PermissionError:
    blocked = True
print(json.dumps({"abi": abi, "blocked": blocked}))
"""
"""The probe child loads ``landlock.py`` by path (stdlib only), not the ``tools`` package,
so it starts in tens of milliseconds."""


@functools.lru_cache(maxsize=1)
def probe() -> tuple[int, str]:
    """Whether Landlock really confines a process here: ``(abi, "")`` or ``(0, why not)``.

    A short child restricts itself to one temporary directory, writes there and tries to
    read a file next to it; only a refused read counts. Cached for the process.
    """
    abi = landlock.abi_version()
    if abi < 1:
        return 0, (
            "the kernel offers no Landlock (needs Linux >= 5.13 with landlock among its "
            "LSMs, and a container runtime that allows its system calls)"
        )
    with tempfile.TemporaryDirectory(prefix="kevolve-landlock-") as tmp:
        inside, outside = Path(tmp) / "in", Path(tmp) / "secret"
        inside.mkdir()
        outside.write_text("x")
        try:
            done = subprocess.run(
                [sys.executable, "-S", "-c", _PROBE, str(inside), str(outside), landlock.__file__],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env={"PATH": os.environ.get("PATH", "")},
            )
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
            return 0, f"the Landlock probe failed: {e}"
    if not answer.get("blocked"):
        return 0, "Landlock accepted the rules but did not block a read outside them"
    return int(answer["abi"]), ""


def describe() -> str:
    """One line for ``kevolve doctor``: whether and how the file system is isolated."""
    abi, why = probe()
    if not abi:
        return (
            f"not available: {why}; candidates can reach any file this user can (the static "
            "filesystem_access rule and the result token remain)"
        )
    scope = ", signals and abstract sockets outside the sandbox blocked" if abi >= 6 else ""
    return (
        f"active: Landlock ABI v{abi} applied in the worker before the candidate is imported: "
        "read-only system, Python and toolchain paths; read-write only the candidate's own "
        "directory (compile caches moved into it); other candidates' directories, the "
        f"shared cache and the data dir unreachable{scope}"
    )
