"""A small, deterministic roofline model, used when the target chip is not on this machine.

Everything modeled is labelled ``measured_on="modeled"``. The rules (also written into the
result's notes, so a reader of the result sees them):

- Roofline floor (no run can be faster): ``max(bytes_moved / BW, flops / PEAK)`` with the
  datasheet bandwidth and the dense peak for the problem's dtype.
- Achievable rates are ``ACHIEVABLE_FRACTION`` (0.9) of the datasheet ones (an H100 copy
  moves about 3.0 of its 3.35 TB/s).
- Reference eager: each ATen op of the eager call costs
  ``max(op_bytes / BW_a, op_flops / PEAK_a) + launch_overhead``.
- Reference ``torch.compile``: one fused pass, ``max(bytes_moved / BW_a, flops / PEAK_a)``
  plus one launch (never more than eager).
- Candidate: its ATen ops as for eager, plus each Triton launch
  ``launch_bytes / (BW_a * eff)`` plus a launch overhead, where ``eff = occupancy term x
  wave term`` from the compiled kernel's registers, shared memory and warps against the
  chip's limits, and the grid against compute units. The memory time is at least
  ``bytes_moved / BW_a``; the compute time is ``flops / (PEAK_a * eff)``.
- No modeled time is below the roofline floor (every factor is <= 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tools.evaluator.counting import OpTrace
from tools.records.target import Target, peak_key

ACHIEVABLE_FRACTION = 0.9
"""Fraction of datasheet bandwidth/peak a well-tuned kernel reaches."""
OCCUPANCY_SATURATION = 0.25
"""Occupancy at which a streaming kernel has enough loads in flight to saturate memory
(a coarse heuristic: vectorised loads on Hopper/CDNA3 saturate HBM at ~25-50%)."""
LATENCY_BOUND_S = 10e-6
"""Below this runtime a kernel is latency (launch) bound, whatever its bytes."""

CHIP_LIMITS: dict[str, dict[str, float]] = {
    # NVIDIA Hopper/Ampere SM: 64 resident warps, 32 resident blocks, 64K 32-bit registers,
    # up to 228 KiB shared memory (CUDA C++ Programming Guide, compute capability table).
    "nvidia": {"max_warps": 64, "max_blocks": 32, "registers": 65536, "smem_kib": 228},
    # AMD CDNA3 CU: 4 SIMDs x 8 waves, 512 VGPRs per SIMD lane (unified with AGPRs), 64 KiB
    # LDS (AMD Instinct MI300 ISA / CDNA3 white paper).
    "amd": {
        "max_warps": 32,
        "max_blocks": 32,
        "simds": 4,
        "vgprs_per_simd": 512,
        "max_waves_per_simd": 8,
        "smem_kib": 64,
    },
}


def bandwidth_bps(target: Target) -> float:
    """Datasheet memory bandwidth in bytes per second."""
    return target.memory_bandwidth_gbps * 1e9


def peak_flops(target: Target, dtype: str) -> float | None:
    """Dense datasheet peak for ``dtype`` in FLOP/s (``None`` when the spec has none).

    fp32 problems use the fp32 (not TF32) peak: the precision policy forbids TF32 for fp32.
    """
    value = target.peak_tflops.get(peak_key(dtype))
    return value * 1e12 if value else None


def floor_s(bytes_moved: int, flops: int, target: Target, dtype: str) -> float:
    """Roofline floor in seconds: no implementation can be faster on ``target``."""
    peak = peak_flops(target, dtype)
    compute = flops / peak if peak and flops else 0.0
    return max(bytes_moved / bandwidth_bps(target), compute)


def bound(bytes_moved: int, flops: int, runtime_s: float, target: Target, dtype: str) -> str:
    """``latency`` under 10 us, else ``memory`` or ``compute`` by the larger roofline term."""
    if runtime_s < LATENCY_BOUND_S:
        return "latency"
    peak = peak_flops(target, dtype)
    compute = flops / peak if peak and flops else 0.0
    return "memory" if bytes_moved / bandwidth_bps(target) >= compute else "compute"


@dataclass(kw_only=True)
class KernelEfficiency:
    """What the occupancy/wave model concluded for one kernel variant."""

    blocks_per_cu: int
    occupancy: float
    occupancy_term: float
    wave_term: float
    limiter: str

    @property
    def efficiency(self) -> float:
        return max(0.01, self.occupancy_term * self.wave_term)


def _vendor(target: Target) -> str:
    if target.vendor.lower() in CHIP_LIMITS:
        return target.vendor.lower()
    backend = target.triton_target.backend if target.triton_target else ""
    return "amd" if backend == "hip" else "nvidia"


def kernel_efficiency(kernel: dict[str, Any], target: Target) -> KernelEfficiency:
    """Occupancy and wave efficiency of one compiled kernel launched with its grid.

    Args:
        kernel: ``num_warps``, ``grid`` and ``resources`` (``registers``, ``shared_bytes``).
        target: The chip.

    Returns:
        The model's verdict; unknown resources count as no limit.
    """
    limits = CHIP_LIMITS[_vendor(target)]
    warp = target.warp_size if target.warp_size > 1 else 32
    res = kernel.get("resources") or {}
    warps = max(1, int(res.get("num_warps") or kernel.get("num_warps") or 4))
    regs = int(res.get("registers") or 0)
    smem = int(res.get("shared_bytes") or 0)
    caps = {"warps": int(limits["max_warps"] // warps), "blocks": int(limits["max_blocks"])}
    if regs:
        if "vgprs_per_simd" in limits:
            granular = 8 * math.ceil(regs / 8)
            waves_per_simd = min(limits["max_waves_per_simd"], limits["vgprs_per_simd"] // granular)
            caps["registers"] = int(waves_per_simd * limits["simds"] // warps)
        else:
            per_cu = target.registers_per_cu or limits["registers"]
            per_warp = 256 * math.ceil(regs * warp / 256)
            caps["registers"] = int(per_cu // (per_warp * warps))
    if smem:
        smem_cu = max(target.shared_mem_per_block_kib, limits["smem_kib"]) * 1024
        caps["shared memory"] = int(smem_cu // smem)
    limiter = min(caps, key=lambda k: caps[k])
    blocks_per_cu = max(1, caps[limiter])
    grid = kernel.get("grid") or [1, 1, 1]
    total = max(1, math.prod(int(g) for g in grid))
    resident = min(blocks_per_cu, math.ceil(total / target.compute_units))
    occupancy = resident * warps / limits["max_warps"]
    slots = target.compute_units * resident
    waves = math.ceil(total / slots)
    return KernelEfficiency(
        blocks_per_cu=blocks_per_cu,
        occupancy=min(1.0, occupancy),
        occupancy_term=min(1.0, occupancy / OCCUPANCY_SATURATION),
        wave_term=total / (waves * slots),
        limiter=limiter,
    )


EAGER_TRAFFIC_FACTOR: dict[str, tuple[int, float]] = {
    "_softmax": (1024, 1.6),
    "_log_softmax": (1024, 1.6),
}
"""ATen op -> (row length above which, factor on its minimal bytes) for PyTorch's own GPU
kernels that re-read rows. Rows over 1024 leave PyTorch's single-pass warp softmax for the
block-per-row kernel; 1.6 is calibrated on one measurement (H100, softmax 4096x8192 fp32:
eager 0.151 ms vs a one-pass kernel's 0.094 ms, evals/results/optimize_softmax_h100_20261125.json).
Only ``modeled`` figures use it."""


def _op_bytes(op: Any) -> float:
    threshold, factor = EAGER_TRAFFIC_FACTOR.get(op.name, (0, 1.0))
    return op.bytes * factor if getattr(op, "row", 0) > threshold else float(op.bytes)


def _ops_time(trace: OpTrace, target: Target, dtype: str) -> float:
    bw = bandwidth_bps(target) * ACHIEVABLE_FRACTION
    peak = peak_flops(target, dtype)
    total = 0.0
    for op in trace.ops:
        compute = op.flops / (peak * ACHIEVABLE_FRACTION) if peak and op.flops else 0.0
        total += max(_op_bytes(op) / bw, compute) + target.launch_overhead_us * 1e-6
    return total


def eager_s(trace: OpTrace, target: Target, dtype: str) -> float:
    """Modeled reference eager time: each ATen op at the achievable roofline plus a launch."""
    return _ops_time(trace, target, dtype)


def compiled_s(trace: OpTrace, bytes_moved: int, flops: int, target: Target, dtype: str) -> float:
    """Modeled ``torch.compile`` time: one fused pass and one launch (never above eager)."""
    fused = floor_s(bytes_moved, flops, target, dtype) / ACHIEVABLE_FRACTION
    return min(fused + target.launch_overhead_us * 1e-6, eager_s(trace, target, dtype))


def candidate_s(
    *,
    aten: OpTrace,
    launches: list[dict[str, Any]],
    kernels: list[dict[str, Any]],
    bytes_moved: int,
    flops: int,
    target: Target,
    dtype: str,
) -> tuple[float, KernelEfficiency | None, list[str]]:
    """Modeled candidate time for one forward call.

    Args:
        aten: The candidate's own ATen ops (Triton launches excluded).
        launches: Every Triton launch of one forward call (``tensor_arg_bytes``, ``key``).
        kernels: The distinct compiled variants with ``resources`` and ``grid``.
        bytes_moved: The problem's minimal bytes.
        flops: The problem's FLOPs.
        target: The chip.
        dtype: The problem's dtype name.

    Returns:
        ``(seconds, the least efficient kernel's verdict or None, notes)``.
    """
    bw = bandwidth_bps(target) * ACHIEVABLE_FRACTION
    peak = peak_flops(target, dtype)
    notes: list[str] = []
    effs: dict[str, KernelEfficiency] = {}
    for k in kernels:
        e = kernel_efficiency(k, target)
        effs[k["variant"]] = e
        notes.append(
            f"{k.get('kernel')}: {e.blocks_per_cu} blocks/CU ({e.limiter}-limited), "
            f"occupancy {e.occupancy:.2f}, wave efficiency {e.wave_term:.2f}"
        )
    mem = sum(_op_bytes(op) for op in aten.ops) / bw
    overhead = len(aten.ops) + len(launches)
    for launch in launches:
        e = effs.get(launch["variant"])
        mem += launch["tensor_arg_bytes"] / (bw * (e.efficiency if e else 1.0))
    mem = max(mem, bytes_moved / bw)
    worst = min(effs.values(), key=lambda e: e.efficiency) if effs else None
    eff = ACHIEVABLE_FRACTION * (worst.efficiency if worst else 1.0)
    compute = flops / (peak * eff) if peak and flops else 0.0
    seconds = max(mem, compute) + overhead * target.launch_overhead_us * 1e-6
    seconds = max(seconds, floor_s(bytes_moved, flops, target, dtype))
    return seconds, worst, notes


MODEL_NOTE = (
    "modeled, not measured: roofline at 90% of datasheet bandwidth/peak; eager = per-ATen-op "
    "roofline + launch overhead; torch.compile = one fused pass + one launch; candidate = its "
    "ATen ops + each Triton launch's tensor bytes at bandwidth x occupancy term x wave term "
    "(from the target compile's registers/shared memory/warps and the grid) + launch overheads"
)
