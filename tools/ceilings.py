"""The chip's ceilings, measured in the same run as the benchmark they judge.

Two numbers bound what a kernel can reach: how fast the chip moves bytes and how fast it
multiplies matrices. Datasheet peaks overstate both, so a benchmark compares against what
this device actually achieves:

* **Copy bandwidth**: ``dst.copy_(src)`` of a large buffer, read plus write counted
  (``2 * bytes / time``), median of repetitions. On CUDA timed with CUDA events; the buffer
  is far larger than L2 so it measures HBM.
* **Matmul rate**: a large square ``a @ b`` per dtype, ``2 n^3 / time``, median of
  repetitions; fp32 with TF32 switched off (a kernel may not lower an fp32 reference's
  precision, so its ceiling must not either), and fp16.

On a CPU the same is measured with small sizes (wall clock, ``time.perf_counter``). For a
chip that is not on this machine (an MI300X judged from a CPU host) nothing can be measured:
the ceilings come from its spec sheet times the roofline model's achievable fraction and are
labelled ``measured=False`` (modeled). Uses torch only.

GPU ceilings are measured in a short subprocess (``python -m tools.ceilings``), so the
long-lived orchestrator never holds a CUDA context or its memory (as
``tools.evaluator.device.target_present_isolated``).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone

import torch
from pydantic import BaseModel, Field

from tools.errors import KevolveError
from tools.evaluator.device import target_present_isolated
from tools.evaluator.perfmodel import ACHIEVABLE_FRACTION
from tools.evaluator.sandbox import PASSTHROUGH_VARS, python_path
from tools.records.target import Target, peak_key

logger = logging.getLogger(__name__)

CUDA_COPY_BYTES = 2 * 2**30
"""Bytes per copy buffer on a GPU (two buffers are allocated); shrunk to fit free memory."""
CPU_COPY_BYTES = 64 * 2**20
CUDA_MATMUL_N = 8192
CPU_MATMUL_N = {"fp32": 512, "fp16": 256}
REPS = 20
CPU_REPS = 5
MEASURE_TIMEOUT_S = 300.0
"""Wall-clock limit of the GPU measuring subprocess, in seconds."""

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

__all__ = [
    "Ceilings",
    "bound_kind",
    "ceilings_for",
    "measure_cpu",
    "measure_cuda",
    "measure_cuda_isolated",
    "modeled_ceilings",
]


class Ceilings(BaseModel):
    """What this chip reaches: copy bandwidth and matmul rates, measured or modeled."""

    measured: bool
    """True when measured on this machine; False: modeled from the target's spec sheet."""
    device: str
    """Device name (``torch.cuda.get_device_name()``, the CPU model) or the target's name."""
    target: str = ""
    """Registry name of the chip these ceilings stand for."""
    method: str
    """How the numbers were obtained, in one sentence."""
    copy_gbps: float
    """Device-to-device copy bandwidth, read plus write, in GB/s (1e9 bytes per second)."""
    matmul_tflops: dict[str, float] = Field(default_factory=dict)
    """Matmul rate per dtype key (``fp32`` without TF32, ``fp16``), in TFLOP/s."""
    matmul_n: dict[str, int] = Field(default_factory=dict)
    """Square matmul size used per dtype key."""
    copy_bytes: int = 0
    """Bytes per copied buffer."""
    datasheet_gbps: float | None = None
    datasheet_tflops: dict[str, float] = Field(default_factory=dict)
    measured_at: str = Field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )

    @property
    def label(self) -> str:
        """``measured`` or ``modeled``, for tables."""
        return "measured" if self.measured else "modeled"

    def tflops_for(self, dtype: str) -> float | None:
        """The matmul ceiling for a torch dtype name (``float16``) or key (``fp16``)."""
        key = peak_key(dtype)
        if key in self.matmul_tflops:
            return self.matmul_tflops[key]
        if key == "bf16":
            return self.matmul_tflops.get("fp16")
        return self.matmul_tflops.get("fp32")


def _median_cuda(fn: Callable[[], None], reps: int) -> float:
    """Median seconds of ``fn`` on the current CUDA stream, timed with CUDA events."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def _median_cpu(fn: Callable[[], None], reps: int) -> float:
    """Median wall seconds of ``fn``."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _copy_seconds(
    nbytes: int, device: str, timer: Callable[[Callable[[], None], int], float], reps: int
) -> float:
    """Median seconds of ``dst.copy_(src)`` for two ``nbytes`` buffers (freed on return)."""
    src = torch.full((nbytes,), 7, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    return timer(lambda: dst.copy_(src), reps)


def _matmul_tflops(
    n: int,
    dtype: torch.dtype,
    device: str,
    timer: Callable[[Callable[[], None], int], float],
    reps: int,
) -> float:
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    out = torch.empty(n, n, dtype=dtype, device=device)
    seconds = timer(lambda: torch.matmul(a, b, out=out), reps)
    return 2.0 * n**3 / seconds / 1e12


def measure_cuda(device_index: int | None = None, reps: int = REPS) -> Ceilings:
    """Measure copy bandwidth and fp32 (TF32 off) / fp16 matmul rates on a CUDA device.

    Args:
        device_index: CUDA device to measure (default: the current one).
        reps: Timed repetitions per number (median reported).

    Returns:
        Measured ceilings.
    """
    index = torch.cuda.current_device() if device_index is None else device_index
    with torch.cuda.device(index):
        free, _ = torch.cuda.mem_get_info()
        nbytes = min(CUDA_COPY_BYTES, int(free * 0.2))
        nbytes -= nbytes % 16
        copy_s = _copy_seconds(nbytes, "cuda", _median_cuda, reps)
        n = CUDA_MATMUL_N
        while n > 1024 and 3 * n * n * 4 > free * 0.5:
            n //= 2
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            rates = {
                key: _matmul_tflops(n, DTYPES[key], "cuda", _median_cuda, reps)
                for key in ("fp32", "fp16")
            }
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
        torch.cuda.empty_cache()
        name = torch.cuda.get_device_name(index)
    return Ceilings(
        measured=True,
        device=name,
        method=(
            f"CUDA events, median of {reps}: copy_ of a {nbytes / 2**30:.2f} GiB buffer "
            f"(read + write counted); {n}^3 matmul, fp32 with TF32 off and fp16"
        ),
        copy_gbps=2.0 * nbytes / copy_s / 1e9,
        matmul_tflops=rates,
        matmul_n={"fp32": n, "fp16": n},
        copy_bytes=nbytes,
    )


def measure_cpu(reps: int = CPU_REPS) -> Ceilings:
    """Measure copy bandwidth and matmul rates on the host CPU with small sizes.

    Args:
        reps: Timed repetitions per number (median reported).

    Returns:
        Measured ceilings (wall clock).
    """
    from tools.hardware_host import host_cpu_info

    nbytes = CPU_COPY_BYTES
    copy_s = _copy_seconds(nbytes, "cpu", _median_cpu, reps)
    rates = {
        key: _matmul_tflops(n, DTYPES[key], "cpu", _median_cpu, reps)
        for key, n in CPU_MATMUL_N.items()
    }
    info = host_cpu_info()
    return Ceilings(
        measured=True,
        device=f"{info.get('model_name') or 'cpu'} ({torch.get_num_threads()} threads)",
        method=(
            f"wall clock, median of {reps}: copy_ of a {nbytes / 2**20:.0f} MiB buffer "
            f"(read + write counted); matmul fp32 {CPU_MATMUL_N['fp32']}^3, "
            f"fp16 {CPU_MATMUL_N['fp16']}^3"
        ),
        copy_gbps=2.0 * nbytes / copy_s / 1e9,
        matmul_tflops=rates,
        matmul_n=dict(CPU_MATMUL_N),
        copy_bytes=nbytes,
    )


def modeled_ceilings(target: Target) -> Ceilings:
    """Ceilings of a chip that is not here: its spec sheet times the achievable fraction.

    Args:
        target: The chip.

    Returns:
        Ceilings with ``measured=False``.
    """
    rates = {
        key: rate * ACHIEVABLE_FRACTION
        for key, rate in target.peak_tflops.items()
        if key in ("fp32", "fp16", "bf16")
    }
    return Ceilings(
        measured=False,
        device=target.display_name,
        target=target.name,
        method=(
            f"modeled: {ACHIEVABLE_FRACTION:g} x the spec sheet's memory bandwidth and dense "
            "peak per dtype (the roofline model's achievable fraction); not measured"
        ),
        copy_gbps=target.memory_bandwidth_gbps * ACHIEVABLE_FRACTION,
        matmul_tflops=rates,
        datasheet_gbps=target.memory_bandwidth_gbps,
        datasheet_tflops=dict(target.peak_tflops),
    )


def measure_cuda_isolated(timeout_s: float = MEASURE_TIMEOUT_S) -> Ceilings:
    """:func:`measure_cuda` in a fresh subprocess (this process initialises no CUDA).

    Raises:
        KevolveError: The measuring subprocess failed or printed no result.
    """
    env = {k: v for k, v in os.environ.items() if k in PASSTHROUGH_VARS}
    env["PYTHONPATH"] = python_path(os.environ)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tools.ceilings"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired as e:
        raise KevolveError(f"measuring the GPU's ceilings took longer than {timeout_s:g} s") from e
    try:
        return Ceilings.model_validate(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError) as e:
        reason = proc.stderr.strip()[-500:] or str(e)
        raise KevolveError(f"measuring the GPU's ceilings failed: {reason}") from e


def ceilings_for(target: Target) -> Ceilings:
    """Measure the ceilings of ``target`` where it is on this machine, else model them.

    Args:
        target: The chip the benchmark is for (``cpu`` is always here).

    Returns:
        The ceilings, with the target's datasheet figures alongside.

    Raises:
        KevolveError: The chip is here but measuring it failed.
    """
    if target.kind == "cpu":
        found = measure_cpu()
    else:
        present, _ = target_present_isolated(target)
        if not present:
            return modeled_ceilings(target)
        found = measure_cuda_isolated()
    logger.info(
        "ceilings of %s: copy %.1f GB/s, matmul %s TFLOP/s",
        found.device,
        found.copy_gbps,
        found.matmul_tflops,
    )
    return found.model_copy(
        update={
            "target": target.name,
            "datasheet_gbps": target.memory_bandwidth_gbps,
            "datasheet_tflops": dict(target.peak_tflops),
        }
    )


if __name__ == "__main__":  # the measuring subprocess of measure_cuda_isolated
    sys.stdout.write(json.dumps(measure_cuda().model_dump(mode="json")) + "\n")


def bound_kind(bytes_floor: int, flops: int, dtype: str, ceilings: Ceilings) -> str:
    """``memory`` or ``compute``: which of the chip's ceilings bounds a problem.

    Decided from the problem's own counts (``tools.evaluator.counting.count_reference``),
    never from its name: ``compute`` when its FLOPs at the matmul ceiling of its dtype take
    longer than its bytes floor at the copy ceiling (the problem sits right of the ridge).

    Args:
        bytes_floor: Bytes the problem must move (inputs, outputs and weights once).
        flops: FLOPs of its formulation.
        dtype: Its dtype (``float16``, ``fp32``...): which matmul ceiling applies.
        ceilings: The chip's ceilings.
    """
    peak = ceilings.tflops_for(dtype)
    if not flops or not peak or not ceilings.copy_gbps:
        return "memory"
    compute_s = flops / (peak * 1e12)
    memory_s = bytes_floor / (ceilings.copy_gbps * 1e9)
    return "compute" if compute_s > memory_s else "memory"
