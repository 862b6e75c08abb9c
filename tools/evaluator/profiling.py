"""A ``torch.profiler`` breakdown of one candidate forward call (every measured evaluation).

CUDA: the device time of every GPU activity (kernels, copies, sets) of the call, summed
per name. CPU: the *self* time of every PyTorch op, summed per name, so the rows add up to
the call; the call is wrapped in a ``ModelNew.forward`` range whose own self time, the time
spent outside any op (Python, a C++ extension called directly), becomes its own row.

On CPU the legacy autograd profiler is used: Kineto's first start costs seconds on a small
machine, while the legacy one records the same CPU ops in milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import torch

from tools.records.eval_result import KernelTime

logger = logging.getLogger(__name__)

TOP_KERNELS = 10
"""Rows kept, largest total first."""
FORWARD_LABEL = "ModelNew.forward"
OUTSIDE_OPS = "ModelNew.forward (outside PyTorch ops)"


def _rows(
    totals: dict[str, list[float]], device: Literal["cuda", "cpu"], top: int
) -> list[KernelTime]:
    grand = sum(sum(times) for times in totals.values()) or 1.0
    rows = [
        KernelTime(
            name=name,
            device=device,
            calls=len(times),
            total_us=sum(times),
            share=sum(times) / grand,
        )
        for name, times in totals.items()
    ]
    rows.sort(key=lambda r: (-r.total_us, r.name))
    return rows[:top]


def _cpu_events(call: Callable[[], Any]) -> list[Any]:
    from torch.autograd.profiler import record_function

    try:
        profiler = torch.autograd.profiler.profile(use_kineto=False)
    except (TypeError, RuntimeError, AssertionError):  # a torch without the legacy profiler
        from torch.profiler import ProfilerActivity, profile

        profiler = profile(activities=[ProfilerActivity.CPU])
    with profiler as prof, record_function(FORWARD_LABEL):
        call()
    events = getattr(prof, "function_events", None)  # legacy profiler
    return list(events if events is not None else prof.events())


def cpu_breakdown(call: Callable[[], Any], top: int = TOP_KERNELS) -> list[KernelTime]:
    """Self CPU time per PyTorch op of ``call()``, summed per name, largest first.

    The call is profiled twice and the second profile kept: the profiler's first range
    carries its own start-up (about a millisecond), which would read as the candidate's.
    """
    _cpu_events(call)
    totals: dict[str, list[float]] = {}
    for event in _cpu_events(call):
        name = OUTSIDE_OPS if event.name == FORWARD_LABEL else event.name
        totals.setdefault(name, []).append(float(event.self_cpu_time_total))
    return _rows(totals, "cpu", top)


def cuda_breakdown(call: Callable[[], Any], top: int = TOP_KERNELS) -> tuple[list[KernelTime], int]:
    """Device time per GPU activity of ``call()``, summed per name, largest first.

    Returns:
        The rows, and the number of GPU activities recorded (kernel launches, copies and
        sets of the call).
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        call()
        torch.cuda.synchronize()
    totals: dict[str, list[float]] = {}
    count = 0
    for event in prof.events():
        if event.device_type != DeviceType.CUDA:
            continue
        count += 1
        totals.setdefault(event.name, []).append(float(event.time_range.elapsed_us()))
    return _rows(totals, "cuda", top), count


def kernel_breakdown(
    call: Callable[[], Any], device: str, notes: list[str]
) -> tuple[list[KernelTime], int | None]:
    """The breakdown of ``call()`` on ``device`` (``cuda`` or ``cpu``); never raises.

    Args:
        call: One forward call of the candidate (inputs already bound).
        device: Where the call runs.
        notes: Receives one line if the profiler failed.

    Returns:
        The rows (empty on failure) and, on CUDA, the number of GPU activities (``None``
        on CPU or on failure).
    """
    try:
        if device == "cuda":
            return cuda_breakdown(call)
        return cpu_breakdown(call), None
    except Exception as e:  # noqa: BLE001 - diagnostics only: a profiler failure fails nothing
        logger.info("torch.profiler breakdown failed: %s", e)
        notes.append(f"torch.profiler breakdown failed: {str(e)[:300]}")
        return [], None
