"""Nsight Compute (``ncu``) over one forward call, parsed into ``NcuKernel`` records.

The worker (measure mode on a CUDA device, ``EvalOptions.profile == "ncu"``) runs::

    ncu --csv --page raw --metrics <NCU_METRICS> --profile-from-start off \\
        python -m tools.evaluator.profile_driver request.json candidate|reference

The driver (``tools.evaluator.profile_driver``) warms the model up, then brackets exactly
one forward call with ``cudaProfilerStart``/``Stop``, so only that call's kernels are
profiled. ``--page raw --csv`` prints a header row (identity columns, then one column per
metric), a units row, then one row per kernel launch; ``parse_raw_csv`` turns that into
typed records. The driver inherits the worker's sandbox (file-system rules, network
namespace) and redirects its own stdout/stderr to a file, so candidate output cannot mix
into the table. Every failure (no ``ncu``, ``ERR_NVGPUCTRPERM``, a crash) becomes one note.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tools.records.eval_result import NcuKernel

logger = logging.getLogger(__name__)

NCU_METRICS = (
    "gpu__time_duration.sum",
    "dram__bytes_read.sum",
    "dram__bytes_write.sum",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "launch__registers_per_thread",
    "launch__grid_size",
    "launch__block_size",
    "launch__occupancy_limit_registers",
    "launch__occupancy_limit_shared_mem",
    "launch__occupancy_limit_warps",
    "launch__occupancy_limit_blocks",
)
"""A small metric set: time, DRAM traffic, speed-of-light throughputs, achieved occupancy,
launch shape and what limits theoretical occupancy."""

MAX_RECORDS = 64
"""Kernel launches kept per profiled call (a note says when more were cut)."""

_TIME_US: dict[str, float] = {
    "nsecond": 1e-3,
    "ns": 1e-3,
    "usecond": 1.0,
    "us": 1.0,
    "msecond": 1e3,
    "ms": 1e3,
    "second": 1e6,
    "s": 1e6,
}
_BYTES: dict[str, float] = {
    "byte": 1,
    "b": 1,
    "kbyte": 10**3,
    "mbyte": 10**6,
    "gbyte": 10**9,
    "tbyte": 10**12,
    "kibyte": 2**10,
    "mibyte": 2**20,
    "gibyte": 2**30,
    "tibyte": 2**40,
}
_LIMITS = ("registers", "shared_mem", "warps", "blocks")

PERMISSION_NOTE = (
    "ncu profiling not permitted here (ERR_NVGPUCTRPERM): reading GPU performance counters "
    "needs admin rights or the driver option NVreg_RestrictProfilingToAdminUsers=0; no ncu "
    "numbers"
)


def find_ncu() -> str | None:
    """The ``ncu`` executable: on ``PATH``, else under ``$CUDA_HOME/bin`` or
    ``/usr/local/cuda/bin``; ``None`` when there is none."""
    found = shutil.which("ncu")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"):
        exe = Path(root) / "bin" / "ncu"
        if root and exe.is_file() and os.access(exe, os.X_OK):
            return str(exe)
    return None


def ncu_command(ncu: str, request_file: str, which: str) -> list[str]:
    """The ``ncu`` command line that profiles one forward call of ``which``
    (``candidate`` or ``reference``) through ``tools.evaluator.profile_driver``."""
    return [
        ncu,
        "--csv",
        "--page",
        "raw",
        "--metrics",
        ",".join(NCU_METRICS),
        "--profile-from-start",
        "off",
        sys.executable,
        "-m",
        "tools.evaluator.profile_driver",
        request_file,
        which,
    ]


def _number(text: str) -> float | None:
    text = text.strip().replace(",", "")
    if not text or text.lower() in {"n/a", "nan", "-"}:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _scaled(value: float | None, unit: str, table: dict[str, float]) -> float | None:
    if value is None:
        return None
    factor = table.get(unit.strip().lower(), 1.0 if not unit.strip() else None)
    return None if factor is None else value * factor


def _kernel(cells: dict[str, str], units: dict[str, str]) -> NcuKernel:
    def num(metric: str) -> float | None:
        return _number(cells.get(metric, ""))

    def whole(metric: str) -> int | None:
        value = num(metric)
        return None if value is None else round(value)

    duration = _scaled(
        num("gpu__time_duration.sum"), units.get("gpu__time_duration.sum", ""), _TIME_US
    )
    read = _scaled(num("dram__bytes_read.sum"), units.get("dram__bytes_read.sum", ""), _BYTES)
    write = _scaled(num("dram__bytes_write.sum"), units.get("dram__bytes_write.sum", ""), _BYTES)
    gbps = None
    if duration and read is not None and write is not None:
        gbps = (read + write) / (duration * 1e-6) / 1e9
    limits = {
        name: value
        for name in _LIMITS
        if (value := whole(f"launch__occupancy_limit_{name}")) is not None
    }
    limiter = min(limits, key=lambda k: (limits[k], _LIMITS.index(k))) if limits else ""
    return NcuKernel(
        name=cells.get("Kernel Name", cells.get("Function Name", "?"))[:300],
        duration_us=duration,
        dram_read_bytes=None if read is None else round(read),
        dram_write_bytes=None if write is None else round(write),
        dram_gbps=gbps,
        sm_throughput_pct=num("sm__throughput.avg.pct_of_peak_sustained_elapsed"),
        memory_throughput_pct=num(
            "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"
        ),
        achieved_occupancy_pct=num("sm__warps_active.avg.pct_of_peak_sustained_active"),
        registers_per_thread=whole("launch__registers_per_thread"),
        grid_size=whole("launch__grid_size"),
        block_size=whole("launch__block_size"),
        occupancy_limits=limits,
        limiter=limiter,  # type: ignore[arg-type]
    )


def parse_raw_csv(text: str) -> list[NcuKernel]:
    """Parse ``ncu --csv --page raw`` output into one record per kernel launch.

    Lines before the header (``==PROF==`` progress, warnings) are skipped; the header row
    starts with ``"ID"``; the next row carries each metric's unit (``nsecond``, ``Mbyte``,
    ``%``, ...) and values are scaled by it; thousands separators and ``n/a`` are handled.

    Args:
        text: Everything ncu printed.

    Returns:
        The records in launch order; empty when there is no table.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        return []
    rows = list(csv.reader(lines[start:]))
    header = rows[0]
    units: dict[str, str] = {}
    kernels: list[NcuKernel] = []
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        cells = dict(zip(header, row))
        if not cells.get("ID", "").strip():
            units = cells  # the units row: identity columns empty
            continue
        if not cells["ID"].strip().isdigit():
            continue
        kernels.append(_kernel(cells, units))
    return kernels


def failure_reason(text: str, returncode: int | None) -> str:
    """Why an ncu run gave no kernel table: one sentence for the result's notes."""
    if "ERR_NVGPUCTRPERM" in text:
        return PERMISSION_NOTE
    errors = [line.strip() for line in text.splitlines() if line.startswith("==ERROR==")]
    if errors:
        return f"ncu failed (exit status {returncode}): {errors[0][:300]}"
    if any(line.startswith('"ID"') for line in text.splitlines()):
        return "ncu profiled no kernel in the forward call"
    tail = " ".join(text.strip().splitlines()[-3:])[:300]
    return f"ncu printed no kernel table (exit status {returncode}): {tail}"


def loopback_up() -> None:
    """Bring up ``lo`` in this network namespace (best effort).

    The worker runs in a new, empty network namespace whose loopback is down; ncu's
    front end talks to the profiled process over local connections. Loopback reaches only
    this namespace, so nothing outside becomes reachable.
    """
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            raw = fcntl.ioctl(s, siocgifflags, struct.pack("16sH", b"lo", 0))
            flags = struct.unpack("16sH", raw[:18])[1]
            if not flags & iff_up:
                fcntl.ioctl(s, siocsifflags, struct.pack("16sH", b"lo", flags | iff_up))
    except OSError as e:
        logger.info("could not bring up loopback: %s", e)


def run_ncu(
    request_file: str, which: str, *, workdir: Path, timeout_s: float
) -> tuple[list[NcuKernel], str]:
    """Profile one forward call of ``which`` under ncu; never raises.

    Returns:
        The records (at most ``MAX_RECORDS``) and a note: empty on success, else why there
        are no (or fewer) records.
    """
    ncu = find_ncu()
    if ncu is None:
        return [], "ncu profiling skipped: no `ncu` on PATH, $CUDA_HOME/bin or /usr/local/cuda/bin"
    loopback_up()
    proc = subprocess.Popen(
        ncu_command(ncu, request_file, which),
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    try:
        text, _ = proc.communicate(timeout=max(timeout_s, 1.0))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return [], f"ncu profiling of the {which} timed out after {timeout_s:.0f} s"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # nothing of the profiled process outlives it
        except (ProcessLookupError, PermissionError):
            pass
    kernels = parse_raw_csv(text)
    if not kernels:
        return [], f"{which}: {failure_reason(text, proc.returncode)}"
    note = ""
    if len(kernels) > MAX_RECORDS:
        note = f"ncu: {which} launched {len(kernels)} kernels; the first {MAX_RECORDS} are kept"
    return kernels[:MAX_RECORDS], note
