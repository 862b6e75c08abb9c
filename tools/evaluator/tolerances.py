"""Correctness tolerances by dtype, defined once, with the reason beside each.

An element passes when ``|new - ref| <= atol * scale + rtol * |ref|`` (``torch.isclose``
with an absolute tolerance of ``atol * scale``), where ``scale`` is the root-mean-square of
the reference output's finite elements (``output_scale``). NaN must meet NaN and an
infinity the same infinity.

Why the absolute part is scaled: a fixed ``atol`` is meaningless for outputs far from 1.
A softmax over 1000 columns has elements of ~1e-3, so a fixed ``atol=1e-4`` accepts any
answer within 10% of the truth (a softmax scaled by 1.001 passed); a matmul with K=4096 has
elements of ~64, so the same ``atol`` demands a tighter relative match than the summation
order allows. Scaled by the output's RMS, ``atol`` is an error "relative to the typical
element", which is what a reordering of fp32 arithmetic actually produces; ``rtol`` still
bounds the error of each large element.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import isfinite as _isfinite  # bound before candidate code runs (see correctness)


@dataclass(frozen=True)
class Tolerance:
    """Absolute (times the output's RMS) and relative tolerance for one dtype."""

    atol: float
    """Multiplied by ``output_scale(ref)`` to give the absolute tolerance."""
    rtol: float
    reason: str

    def abs_tol(self, ref: torch.Tensor) -> float:
        """The absolute tolerance for comparing with reference output ``ref``."""
        return self.atol * output_scale(ref)


SCALE_FLOOR = 1e-6
"""Smallest ``output_scale``: an all-zero (or all-tiny) reference still leaves an absolute
tolerance of ``atol * 1e-6`` (an honest kernel's -0.0 or 1e-12 residue passes)."""


def output_scale(ref: torch.Tensor) -> float:
    """Root-mean-square of the finite elements of ``ref`` (at least ``SCALE_FLOOR``)."""
    wide = ref.detach().to(torch.float64 if ref.dtype == torch.float64 else torch.float32)
    finite = wide[_isfinite(wide)]
    if finite.numel() == 0:
        return SCALE_FLOOR
    return max(float(finite.pow(2).mean().sqrt()), SCALE_FLOOR)


TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(
        1e-8, 1e-8, "fp64 kernels differ from the reference only by summation order."
    ),
    torch.float32: Tolerance(
        1e-4,
        1e-4,
        "fp32 has ~7 decimal digits; a different reduction order (tree vs sequential) over "
        "rows of up to ~1e5 elements moves results by ~1e-6..1e-5 relative to the typical "
        "element, so 1e-4 passes honest reorderings and fails TF32 (10-bit mantissa, ~1e-3), "
        "bf16 shortcuts and outputs scaled by 1.001.",
    ),
    torch.float16: Tolerance(
        1e-2,
        1e-2,
        "fp16 has a 10-bit mantissa (~1e-3 relative per rounding); kernels that accumulate "
        "in fp32 and round once land within a few ulps, 1e-2 leaves room for that.",
    ),
    torch.bfloat16: Tolerance(
        2e-2,
        2e-2,
        "bf16 has a 7-bit mantissa (~8e-3 relative per rounding); two roundings apart is ~2e-2.",
    ),
}

EXACT = Tolerance(0.0, 0.0, "integer and boolean outputs must match exactly.")

PRECISION_RANK = {
    torch.float64: 4,
    torch.float32: 3,
    torch.float16: 2,
    torch.bfloat16: 2,
    torch.float8_e4m3fn: 1,
    torch.float8_e5m2: 1,
}
"""Higher is more precise; a candidate output ranked below the reference's lowered precision."""


def tolerance_for(dtype: torch.dtype) -> Tolerance:
    """The tolerance for comparing outputs of ``dtype`` (the reference output's dtype)."""
    return TOLERANCES.get(
        dtype, EXACT if not dtype.is_floating_point else TOLERANCES[torch.float32]
    )


def is_lower_precision(candidate: torch.dtype, reference: torch.dtype) -> bool:
    """True when ``candidate`` is a floating dtype less precise than ``reference``."""
    if candidate == reference or not reference.is_floating_point:
        return False
    return PRECISION_RANK.get(candidate, 0) < PRECISION_RANK.get(reference, 0)
