"""Time a forward call: warm-up, then repetitions until the budget is spent; median and IQR.

CUDA (and ROCm through the same API): ``torch.cuda.Event`` pairs around each call, the L2
flushed before each repetition by writing a large buffer (outside the timed region), input
sets rotated, one full ``synchronize`` before and after. CPU: ``time.perf_counter`` around
each call. The timers are bound when this module is imported, before candidate code runs.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter as _perf_counter
from typing import Any

import torch

logger = logging.getLogger(__name__)

_CudaEvent = torch.cuda.Event
_cuda_sync = torch.cuda.synchronize


@dataclass(kw_only=True)
class Timing:
    """Statistics of the timed repetitions, in milliseconds."""

    median_ms: float
    iqr_ms: float
    reps: int


def _stats(samples: list[float]) -> Timing:
    samples = sorted(samples)
    if len(samples) >= 4:
        q = statistics.quantiles(samples, n=4, method="inclusive")
        iqr = q[2] - q[0]
    else:
        iqr = samples[-1] - samples[0]
    return Timing(median_ms=statistics.median(samples), iqr_ms=iqr, reps=len(samples))


def _reps_for(estimate_ms: float, budget_ms: float, min_reps: int, max_reps: int) -> int:
    return int(min(max_reps, max(min_reps, budget_ms / max(estimate_ms, 1e-4))))


def time_cuda(
    fn: Callable[..., Any],
    input_sets: list[list[Any]],
    *,
    warmup_ms: float,
    rep_ms: float,
    min_reps: int,
    max_reps: int,
    flush_mib: int,
) -> Timing:
    """Time ``fn(*inputs)`` on the current CUDA device (see module docstring)."""
    flush = torch.empty(flush_mib << 20, dtype=torch.int8, device="cuda")
    _cuda_sync()
    start, end = _CudaEvent(enable_timing=True), _CudaEvent(enable_timing=True)
    start.record()
    for i in range(5):
        fn(*input_sets[i % len(input_sets)])
    end.record()
    _cuda_sync()
    estimate = start.elapsed_time(end) / 5
    for i in range(_reps_for(estimate, warmup_ms, 1, max_reps)):
        fn(*input_sets[i % len(input_sets)])
    n = _reps_for(estimate, rep_ms, min_reps, max_reps)
    starts = [_CudaEvent(enable_timing=True) for _ in range(n)]
    ends = [_CudaEvent(enable_timing=True) for _ in range(n)]
    _cuda_sync()
    for i in range(n):
        flush.zero_()
        starts[i].record()
        fn(*input_sets[i % len(input_sets)])
        ends[i].record()
    _cuda_sync()
    return _stats([s.elapsed_time(e) for s, e in zip(starts, ends)])


def time_cpu(
    fn: Callable[..., Any],
    input_sets: list[list[Any]],
    *,
    warmup_ms: float,
    rep_ms: float,
    min_reps: int,
    max_reps: int,
) -> Timing:
    """Time ``fn(*inputs)`` on the CPU with ``perf_counter`` around each call."""
    t0 = _perf_counter()
    fn(*input_sets[0])
    estimate = (_perf_counter() - t0) * 1e3
    for i in range(_reps_for(estimate, warmup_ms, 1, max_reps)):
        fn(*input_sets[i % len(input_sets)])
    samples = []
    deadline = _perf_counter() + rep_ms / 1e3
    i = 0
    while i < max_reps and (i < min_reps or _perf_counter() < deadline):
        inputs = input_sets[i % len(input_sets)]
        t0 = _perf_counter()
        fn(*inputs)
        samples.append((_perf_counter() - t0) * 1e3)
        i += 1
    return _stats(samples)


def time_forward(
    fn: Callable[..., Any], input_sets: list[list[Any]], device: str, options: Any
) -> Timing:
    """Time ``fn`` on ``device`` (``cuda`` or ``cpu``) with the budgets in ``options``."""
    common = {
        "warmup_ms": options.warmup_ms,
        "rep_ms": options.rep_ms,
        "min_reps": options.min_reps,
        "max_reps": options.max_reps,
    }
    with torch.no_grad():
        if device == "cuda":
            return time_cuda(fn, input_sets, flush_mib=options.l2_flush_mib, **common)
        return time_cpu(fn, input_sets, **common)
