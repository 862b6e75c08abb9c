"""Start untrusted work in a subprocess: scrubbed environment, resource caps, wall-clock limit.

Used twice: by ``evaluate`` to start the worker, and by the worker to start the
ahead-of-time Triton compile (which must run without ``TRITON_INTERPRET``). Nothing here
touches ``os.environ``; every child gets an environment built from an allowlist.
"""

from __future__ import annotations

import functools
import logging
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools.evaluator.paths import REPO_ROOT

logger = logging.getLogger(__name__)


PASSTHROUGH_VARS = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "CUDA_HOME",
    "ROCM_PATH",
)
"""Variables copied from the parent when set: device selection and toolchain lookup only.
Rationale: API keys, tokens and proxies live in the environment; a candidate must see none."""

FILE_SIZE_LIMIT_BYTES = 4 << 30
"""Largest file a sandboxed process may write (stops a candidate filling the disk)."""


_PID_NS = ("--pid", "--fork", "--kill-child", "--mount-proc")
NETWORK_WRAPPERS: tuple[tuple[str, ...], ...] = (
    ("unshare", "--net", *_PID_NS),
    ("unshare", "--net", *_PID_NS, "--map-root-user"),
    ("bwrap", "--unshare-net", "--unshare-pid", "--die-with-parent", "--dev-bind", "/", "/",
     "--proc", "/proc"),
    ("unshare", "--net"),
    ("unshare", "--net", "--map-root-user"),
    ("bwrap", "--unshare-net", "--die-with-parent", "--dev-bind", "/", "/"),
)  # fmt: skip
"""Command prefixes that run a command in a new, empty network namespace (only a loopback
that is down), tried in order. The first three also give it a new PID namespace with its own
``/proc``: ``unshare`` works for root, ``--map-root-user`` for an unprivileged user where user
namespaces are enabled, bubblewrap where it is installed; the last three isolate the network
alone, for machines that allow no PID namespace.
Rationale: a candidate must not reach the network (exfiltrate, fetch answers, call an API),
and must not read other processes of the same user: ``/proc/<pid>/environ`` of the
orchestrator or of the user's shell holds API keys, and Landlock does not cover ``/proc``."""


@functools.lru_cache(maxsize=1)
def network_wrapper() -> tuple[str, ...]:
    """The first prefix of ``NETWORK_WRAPPERS`` that runs ``true`` here, or ``()`` for none.

    Probed once per process (each probe is one short ``true`` run); a machine without
    ``unshare``/``bwrap``, or one whose kernel or container forbids namespaces, gets ``()``
    and the worker runs with the host network (``protections()`` says so).
    """
    for prefix in NETWORK_WRAPPERS:
        exe = shutil.which(prefix[0])
        if exe is None:
            continue
        try:
            done = subprocess.run(
                [exe, *prefix[1:], "true"], capture_output=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            logger.debug("network isolation %s unavailable: %s", " ".join(prefix), e)
            continue
        if done.returncode == 0:
            return (exe, *prefix[1:])
        logger.debug(
            "network isolation %s unavailable: %s",
            " ".join(prefix),
            done.stderr.decode(errors="replace").strip(),
        )
    return ()


def pid_isolated() -> bool:
    """True when ``network_wrapper()`` also gives the worker a PID namespace of its own."""
    wrapper = network_wrapper()
    return "--pid" in wrapper or "--unshare-pid" in wrapper


def cap_files() -> None:
    """Forbid core files and files over ``FILE_SIZE_LIMIT_BYTES`` in this process and its children.

    The worker calls it first thing: ``run_sandboxed`` sets the same limits on the process it
    starts, but a wrapper that forks (a PID namespace) may fork before they land.
    """
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT_BYTES, FILE_SIZE_LIMIT_BYTES))


def protections() -> dict[str, str]:
    """Which sandbox protections the evaluator has on this machine, one line each.

    Returns:
        Protection name to a short description of whether and how it is active; shown by
        ``kevolve doctor``.
    """
    from tools.evaluator.fsisolation import describe as filesystem_state  # imports this module

    wrapper = network_wrapper()
    prlimit = hasattr(resource, "prlimit")
    return {
        "fresh process": "active: each candidate runs in a new `python -m "
        "tools.evaluator.worker` subprocess in its own session (never shares a process "
        "with another candidate)",
        "wall-clock timeout": "active: the worker's whole process group is killed at "
        "EvalOptions.timeout_s (default 300 s)",
        "memory cap": "active: RLIMIT_AS at the worker's size after importing torch + "
        "EvalOptions.memory_limit_mib (CPU evaluations; not applied when a GPU is used)"
        if prlimit
        else "partial: set before exec (no prlimit on this platform)",
        "file size and core dumps": f"active: RLIMIT_FSIZE {FILE_SIZE_LIMIT_BYTES >> 30} GiB, "
        "no core files",
        "own temp dir": "active: a fresh mkdtemp directory is the worker's cwd, HOME and "
        "TMPDIR; removed afterwards",
        "scrubbed environment": "active: only PATH, locale, device selection and toolchain "
        "variables are passed; no API keys, tokens or proxies",
        "result token": "active: a random token sent on stdin must come back in result.json, "
        "so a forged result file is not believed",
        "network isolation": f"active: the worker runs under `{' '.join(wrapper)}` "
        "(new network namespace, no interfaces up"
        + (
            "; new PID namespace with its own /proc: no other process, and no other "
            "process's environment, is visible)"
            if pid_isolated()
            else "; no PID namespace here: other processes of this user stay visible in /proc)"
        )
        if wrapper
        else "not available: neither `unshare -n`, `unshare --net --map-root-user` nor "
        "`bwrap --unshare-net` works here; candidates keep the host network (the static "
        "checks still reject socket/HTTP imports)",
        "file-system isolation": filesystem_state(),
        "device lock": "active: timing holds a machine-wide flock exclusively "
        "(EvalOptions.timing_lock); compile, correctness, the reference's torch.compile "
        "warm-up, the recheck and the torch.profiler pass hold it shared (the ncu pass "
        "exclusive), so correctness runs overlap but "
        "nothing else runs on the device while a candidate is timed (writers first)",
        "static checks": "active: AST rules reject reference use, fallbacks, streams, "
        "threads, processes, patching, introspection, network and file access",
    }


@dataclass(kw_only=True)
class SandboxRun:
    """How a sandboxed process ended."""

    returncode: int | None
    """Exit status; negative for a signal (``-11`` is SIGSEGV); ``None`` if killed on timeout."""
    timed_out: bool
    wall_s: float
    stderr_tail: str


def python_path(parent_env: Mapping[str, str]) -> str:
    """The child's ``PYTHONPATH``: the repository first, then the parent's own entries
    (package folders, not secrets: a worker may have packages installed that way)."""
    inherited = filter(None, parent_env.get("PYTHONPATH", "").split(os.pathsep))
    return os.pathsep.join(dict.fromkeys([str(REPO_ROOT), *inherited]))


def child_env(
    *,
    home: Path,
    cache_dir: Path,
    interpret: bool,
    parent_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Build the scrubbed environment of a sandboxed child.

    Args:
        home: The per-candidate directory; becomes ``HOME`` and holds ``TMPDIR``.
        cache_dir: Shared compile caches (torch extensions, Triton, inductor) live under it.
        interpret: Set ``TRITON_INTERPRET=1`` (Triton runs on CPU through its interpreter).
        parent_env: Where to copy the allowlisted variables from (default: ``os.environ``,
            read only).

    Returns:
        The new environment; nothing outside ``PASSTHROUGH_VARS`` and our own keys.
    """
    source = os.environ if parent_env is None else parent_env
    env = {k: source[k] for k in PASSTHROUGH_VARS if k in source}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "PYTHONPATH": python_path(source),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "TORCH_EXTENSIONS_DIR": str(cache_dir / "torch_extensions"),
            "TRITON_CACHE_DIR": str(cache_dir / "triton"),
            "TORCHINDUCTOR_CACHE_DIR": str(cache_dir / "inductor"),
        }
    )
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    return env


def cap_address_space(extra_mib: int) -> int:
    """Cap this process's address space at its current size plus ``extra_mib`` MiB.

    Called by the worker (and the AOT compile) after torch and Triton are imported and
    before candidate code runs: a CUDA build of torch maps many GiB of libraries, so an
    absolute cap set at spawn would mostly measure torch, not the candidate, and starves
    thread creation on many-core machines. Soft and hard limits are both lowered.

    Returns:
        The cap in bytes.
    """
    size = 0
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    size = int(line.split()[1]) * 1024
                    break
    except OSError:  # pragma: no cover - non-Linux: cap the extra alone
        size = 0
    cap = size + (extra_mib << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap


def _apply_limits(pid: int, memory_limit_mib: int | None) -> None:
    """Cap the child's address space, file sizes and core dumps (Linux ``prlimit``).

    ``prlimit`` on the started child is used instead of a ``preexec_fn``: a ``preexec_fn``
    runs Python between fork and exec, which can deadlock when the orchestrator has other
    threads (LangGraph runs evaluations from a thread pool). The child is still importing
    Python when the caps land, long before any candidate code runs.
    """
    limits = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_BYTES)]
    if memory_limit_mib:
        limits.append((resource.RLIMIT_AS, memory_limit_mib << 20))
    for which, value in limits:
        try:
            resource.prlimit(pid, which, (value, value))
        except (OSError, ValueError) as e:
            logger.warning("could not set resource limit %s on pid %d: %s", which, pid, e)


def _preexec_limits(memory_limit_mib: int | None):  # pragma: no cover - non-Linux fallback
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_limit_mib:
            cap = memory_limit_mib << 20
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return apply


def _kill_group(pid: int) -> None:
    """SIGKILL the child's whole process group (it leads its own session)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def trim(message: str, limit: int = 4000) -> str:
    """Keep the head (the one-line summary) and the tail (where it broke) of a long error."""
    if len(message) <= limit:
        return message
    head = limit // 4
    cut = len(message) - limit
    return f"{message[:head]}\n[... {cut} characters cut ...]\n{message[-(limit - head) :]}"


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def run_sandboxed(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    stdout_path: Path,
    stderr_path: Path,
    stdin_text: str = "",
    memory_limit_mib: int | None = None,
    isolate_network: bool = False,
) -> SandboxRun:
    """Run ``argv`` in a new session and wait at most ``timeout_s`` seconds.

    On timeout the whole process group is killed. After a normal exit the group is killed
    too, so no compile helper or stray child outlives the evaluation.

    Args:
        argv: Command line (``[sys.executable, "-m", ...]``).
        cwd: Working directory of the child.
        env: Its complete environment (see ``child_env``).
        timeout_s: Wall-clock limit in seconds.
        stdout_path: File that receives the child's stdout.
        stderr_path: File that receives the child's stderr.
        stdin_text: Written to the child's stdin, which is then closed.
        memory_limit_mib: Address-space cap in MiB, or ``None`` (GPU processes: CUDA maps
            far more virtual memory than it uses).
        isolate_network: Run ``argv`` under ``network_wrapper()`` (a new network
            namespace) when this machine has one; silently without it otherwise.

    Returns:
        How the child ended, with the last few KB of its stderr.
    """
    use_prlimit = hasattr(resource, "prlimit")
    if isolate_network:
        # unshare/bwrap exec argv (or, with a PID namespace, fork it): same process group
        argv = [*network_wrapper(), *argv]
    start = time.monotonic()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            start_new_session=True,
            close_fds=True,
            preexec_fn=None if use_prlimit else _preexec_limits(memory_limit_mib),  # noqa: PLW1509
        )
        if use_prlimit:
            _apply_limits(proc.pid, memory_limit_mib)
        try:
            assert proc.stdin is not None
            proc.stdin.write(stdin_text.encode())
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        _kill_group(proc.pid)
        proc.wait()
    wall = time.monotonic() - start
    return SandboxRun(
        returncode=None if timed_out else proc.returncode,
        timed_out=timed_out,
        wall_s=wall,
        stderr_tail=_tail(stderr_path),
    )
