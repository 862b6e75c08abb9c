"""Fit any KernelBench file into a byte budget, and prove the resized file still runs.

Files that declare ``KEVOLVE_SIZES`` are shrunk along their declared sizes, in their declared
steps. KernelBench's own files declare nothing: their sizes
are module-level constants such as ``batch_size = 4096`` or ``height = width = 128``
(``tools.problems.resize.discovered_sizes``). Shrinking those blindly can break a problem
(a conv kernel larger than its input, ``n_embd`` no longer a multiple of ``n_head``, a
``Linear(512 * 7 * 7)`` that expects a 224-pixel image), so every resized file is validated
by running its reference forward on the meta device (on CPU at the small size when the meta
device cannot run it). When it fails:

1. the sizes are snapped to multiples of 8, then of 32 (heads x head_dim, vector widths);
2. each size that breaks the problem when shrunk on its own is pinned at its value and the
   others are shrunk further;
3. when nothing valid fits the budget, the file is left as written and the result says why.

A size never goes below ``min(value, MIN_FIT_SIZE)``: a 128-pixel side is not shrunk to 2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from tools.errors import ProblemError
from tools.problems.materialize import (
    AllocationCapExceeded,
    cpu_guard,
    footprint,
    instantiate,
    meta_device,
)
from tools.problems.resize import SizeConstant, declared_sizes, footprint_bytes, resize_source

logger = logging.getLogger(__name__)

MIN_FIT_SIZE = 8
"""Fitted sizes stay at least ``min(original, this)``."""
SNAP_STEPS = (1, 8, 32)
"""Granularities tried in turn when a resized file does not run."""
CPU_VALIDATE_BYTES = 256 * 2**20
"""A resized file the meta device cannot run is run on CPU for real under this byte cap."""
BISECT_STEPS = 24

__all__ = ["FitResult", "fit_problem", "validate_source"]


@dataclass(frozen=True)
class FitResult:
    """What fitting a file to a budget did."""

    source: str
    """The source to run (the original when nothing changed)."""
    factor: float
    """Overall size factor (1.0: unchanged)."""
    bytes_before: int
    bytes_after: int
    note: str = ""
    """Empty when the file fits as resized; else one sentence saying what could not be done."""
    pinned: tuple[str, ...] = ()
    """Sizes kept at their value because shrinking them broke the problem."""
    resized: bool = False
    """The returned source differs from the original."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def _forward(source: str) -> None:
    model, inputs = instantiate(source, "<fit>")
    with torch.no_grad():
        model(*inputs)


def validate_source(source: str) -> str:
    """Run a problem's reference forward; return ``""`` when it runs, else why not.

    The meta device first (nothing allocated); when the meta device cannot run the problem
    (an op without a meta kernel, data-dependent shapes), a real CPU run under
    ``CPU_VALIDATE_BYTES``.
    """
    try:
        with meta_device():
            _forward(source)
        return ""
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the problem's own code
        meta_error = e
    try:
        torch.manual_seed(0)
        with cpu_guard(CPU_VALIDATE_BYTES):
            _forward(source)
        return ""
    except AllocationCapExceeded:
        return _first_line(meta_error)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the problem's own code
        return _first_line(e)


def _resize(
    source: str, sizes: list[SizeConstant], factor: float, step: int, least: int = MIN_FIT_SIZE
) -> str:
    """``source`` with ``sizes`` scaled by ``factor``, snapped, kept >= their floor.

    A declared step (``KEVOLVE_SIZES``) always holds; an undeclared size is snapped to
    ``step`` when it is at least that large.
    """
    new: dict[str, int] = {}
    for s in sizes:
        g = s.granularity if s.granularity > 1 else (step if s.value >= step else 1)
        floor = g * max(1, -(-min(s.value, least) // g))
        value = max(floor, g * max(1, round(s.value * factor / g)))
        new[s.name] = min(s.value, value)
    return resize_source(source, new) if new else source


def _measure(source: str, cap: int) -> int | None:
    """Bytes of inputs and weights: on the meta device, else by a CPU run under ``cap``.

    A problem whose input sizes depend on drawn values (jagged lengths) cannot run on the
    meta device; at a small size a real CPU run measures it (seeded, so repeatable).

    Returns:
        The bytes, or ``None`` when the CPU run would pass ``cap`` (too big to measure).

    Raises:
        Exception: Whatever the problem's own code raises (it does not run at this size).
    """
    try:
        return footprint_bytes(source)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the problem's own code
        meta_error = e
    try:
        torch.manual_seed(0)
        with cpu_guard(cap):
            model, inputs = instantiate(source, "<fit>")
    except AllocationCapExceeded:
        return None
    except (Exception, SystemExit):
        raise meta_error from None
    return footprint(model, inputs)


def _size_or_none(source: str, cap: int) -> int | None:
    """Footprint in bytes, or ``None`` when the resized problem is too big or cannot be built."""
    try:
        return _measure(source, cap)
    except (Exception, SystemExit):  # noqa: BLE001 - e.g. channels no longer divisible by groups
        return None


def _bisect(
    source: str, sizes: list[SizeConstant], step: int, max_bytes: int
) -> tuple[str, float, int | None]:
    """The largest common factor whose resized source fits ``max_bytes`` (or the smallest).

    Sizes stop at ``min(value, MIN_FIT_SIZE)``; only when that is still over the budget may
    they go down to 1.
    """
    cap = max(4 * max_bytes, CPU_VALIDATE_BYTES)
    lo, hi = 0.0, 1.0
    least = MIN_FIT_SIZE
    best = _resize(source, sizes, 1e-9, step, least)
    best_bytes = _size_or_none(best, cap)
    if best_bytes is not None and best_bytes > max_bytes:
        least = 1
        best = _resize(source, sizes, 1e-9, step, least)
        best_bytes = _size_or_none(best, cap)
    if best_bytes is None or best_bytes > max_bytes:
        return best, 1e-9, best_bytes
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        candidate = _resize(source, sizes, mid, step, least)
        size = _size_or_none(candidate, cap)
        if size is not None and size <= max_bytes:
            lo, best, best_bytes = mid, candidate, size
        else:
            hi = mid
    return best, max(lo, 1e-9), best_bytes


def fit_problem(source: str, max_bytes: int) -> FitResult:
    """Shrink a problem until its inputs and weights take at most ``max_bytes``, validated.

    Args:
        source: KernelBench source (declaring ``KEVOLVE_SIZES`` or not).
        max_bytes: Most bytes of ``get_inputs()`` tensors plus parameters and buffers.

    Returns:
        The fit. ``note`` is empty when the returned source fits and runs; otherwise it says
        why the file is above the budget or left as written. A file whose size cannot be
        measured at all is returned unchanged, with a note saying so.
    """
    try:
        before = _measure(source, CPU_VALIDATE_BYTES)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the problem's own code
        return FitResult(
            source, 1.0, 0, 0, note=f"not resized: its size cannot be measured ({_first_line(e)})"
        )
    if before is not None and before <= max_bytes:
        return FitResult(source, 1.0, before, before)
    try:
        sizes = declared_sizes(source)
    except ProblemError as e:
        return FitResult(source, 1.0, before or 0, before or 0, note=f"not resized: {e}")
    if not sizes:
        return FitResult(
            source, 1.0, before or 0, before or 0,
            note=f"not resized ({_mib(before)} MiB of inputs and weights): it has no "
            "module-level size constant (its sizes are written inside the code)",
        )  # fmt: skip
    last_error = ""
    for step in SNAP_STEPS:
        free, pinned = list(sizes), []
        while free:
            fitted, factor, after = _bisect(source, free, step, max_bytes)
            error = (
                validate_source(fitted) if after is not None
                else "the meta device cannot build it and a CPU build passes "
                f"{_mib(max(4 * max_bytes, CPU_VALIDATE_BYTES))} MiB"
            )  # fmt: skip
            if not error:
                assert after is not None
                names = tuple(s.name for s in pinned)
                note = _over(after, max_bytes)
                if note and names:
                    note += f" ({', '.join(names)} kept: shrinking them breaks the problem)"
                return FitResult(fitted, factor, before or 0, after, note, names, True)
            last_error = error
            breaking = [s for s in free if validate_source(_resize(source, [s], factor, step, 1))]
            if not breaking:
                break  # sizes that break only together: try a coarser step
            pinned += breaking
            free = [s for s in free if s not in breaking]
    return FitResult(source, 1.0, before or 0, before or 0, note=_left(before, max_bytes, last_error))


def _mib(nbytes: int | None) -> str:
    return "more than 256" if nbytes is None else f"{nbytes / 2**20:.3g}"


def _over(after: int, max_bytes: int) -> str:
    if after <= max_bytes:
        return ""
    return (
        f"resized only to {_mib(after)} MiB, above the {_mib(max_bytes)} MiB budget: its "
        "smallest valid sizes (or weights written inside the code) take that much"
    )


def _left(before: int | None, max_bytes: int, error: str) -> str:
    return (
        f"not resized ({_mib(before)} MiB, budget {_mib(max_bytes)} MiB): every smaller "
        f"version fails to run ({error})"
    )
