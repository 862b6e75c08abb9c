"""Correctness tolerances by dtype, defined once, with the reason beside each.

An element passes when ``|new - ref| <= atol + rtol * |ref|`` (``torch.isclose``). NaN must
meet NaN and an infinity the same infinity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    """Absolute and relative tolerance for one dtype."""

    atol: float
    rtol: float
    reason: str


TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(
        1e-8, 1e-8, "fp64 kernels differ from the reference only by summation order."
    ),
    torch.float32: Tolerance(
        1e-4,
        1e-4,
        "fp32 has ~7 decimal digits; a different reduction order (tree vs sequential) over "
        "rows of up to ~1e5 elements moves results by ~1e-6..1e-5 relative, so 1e-4 passes "
        "honest reorderings and fails TF32 (10-bit mantissa, ~1e-3) and bf16 shortcuts.",
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
