"""Correctness tolerances by dtype and reduction length, defined once, with the reasons.

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

Why ``atol`` grows with the reduction length: an output that sums ``n`` terms carries the
rounding of every partial sum. Summed one after another with unit roundoff ``u``, the
rounding errors are ~independent, so the error of the result is ~``u * sqrt(n)`` times the
result's typical size (``n * u`` in the worst case; pairwise or tiled sums do better). Two
honest kernels that split and order the sum differently therefore differ by up to a few
``u * sqrt(n)`` relative to the output's RMS: an fp32 mat-vec with K = 1,048,576 has
``u * sqrt(K) = 6e-5`` and, over thousands of outputs, a largest error of ~2e-4, which the
fixed 1e-4 rejected. So ``atol`` is ``max(base, REDUCTION_GROWTH * u * sqrt(n))`` with ``n``
the longest sum the traced reference computes (``ReductionProbe``): below
``n ~ 78,000`` (fp32) nothing changes, so TF32 (~5e-4 relative whatever ``n``) and an output
scaled by 1.001 are still rejected at every length that matters (docs/evaluation.md has the
numbers and KernelBench's tolerances beside ours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import isfinite as _isfinite  # bound before candidate code runs (see correctness)
from torch.utils._python_dispatch import TorchDispatchMode

from tools.evaluator.chunked import chunks


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
    """Root-mean-square of the finite elements of ``ref`` (at least ``SCALE_FLOOR``).

    Computed piece by piece (``tools.evaluator.chunked``): the extra memory is a few pieces,
    whatever the size of ``ref``; the sum of squares is accumulated in float64.
    """
    wide = torch.float64 if ref.dtype == torch.float64 else torch.float32
    total, count = 0.0, 0
    for piece in chunks(ref.detach()):
        w = piece.to(wide)
        finite = _isfinite(w)
        count += int(finite.sum())
        total += float(torch.where(finite, w, 0.0).square().sum(dtype=torch.float64))
    if count == 0:
        return SCALE_FLOOR
    return max(math.sqrt(total / count), SCALE_FLOOR)


TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(
        1e-8, 1e-8, "fp64 kernels differ from the reference only by summation order."
    ),
    torch.float32: Tolerance(
        1e-4,
        1e-4,
        "fp32 has ~7 decimal digits; a different reduction order (tree vs sequential) over "
        "rows of up to ~8e4 elements moves results by ~1e-6..1e-5 relative to the typical "
        "element, so 1e-4 passes honest reorderings and fails TF32 (10-bit mantissa, ~1e-3), "
        "bf16 shortcuts and outputs scaled by 1.001; longer sums widen it (reduction length).",
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

REDUCTION_GROWTH = 6.0
"""``atol`` of an output that sums ``n`` terms is at least ``REDUCTION_GROWTH * u * sqrt(n)``.
Rationale: measured on fp32 sequential sums (NumPy ``cumsum``) of K = 2**20 products, the
error is ~0.3 ``u * sqrt(n)`` per output relative to the output RMS, its largest over 64
outputs ~0.9; a GPU kernel and the reference each carry their own, and thousands of
outputs reach further out, so 6 leaves a margin of a few times over honest reorderings
while TF32 (median ~5e-4 of the RMS whatever ``n``, largest 1.4e-3..2.4e-3) stays rejected
at every length measured (up to n = 2**22; docs/evaluation.md has the table)."""

ACCUMULATION_ROUNDOFF: dict[torch.dtype, float] = {
    torch.float64: 2.0**-53,
    torch.float32: 2.0**-24,
    torch.float16: 2.0**-24,
    torch.bfloat16: 2.0**-24,
}
"""Unit roundoff of the accumulator: fp16 and bf16 kernels (and PyTorch) sum in fp32."""

PRECISION_RANK = {
    torch.float64: 4,
    torch.float32: 3,
    torch.float16: 2,
    torch.bfloat16: 2,
    torch.float8_e4m3fn: 1,
    torch.float8_e5m2: 1,
}
"""Higher is more precise; a candidate output ranked below the reference's lowered precision."""


def tolerance_for(dtype: torch.dtype, reduction_length: int = 1) -> Tolerance:
    """The tolerance for comparing outputs of ``dtype`` (the reference output's dtype).

    Args:
        dtype: The dtype compared in.
        reduction_length: The longest sum the reference computes (``ReductionProbe``);
            1 for none. Widens ``atol`` to ``REDUCTION_GROWTH * u * sqrt(n)`` when that is
            larger than the dtype's own (see the module docstring).
    """
    if not dtype.is_floating_point:
        return EXACT
    base = TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    u = ACCUMULATION_ROUNDOFF.get(dtype, 2.0**-24)
    grown = REDUCTION_GROWTH * u * math.sqrt(max(1, reduction_length))
    if grown <= base.atol:
        return base
    return replace(
        base,
        atol=grown,
        reason=f"{base.reason} Widened to {grown:.2g} x output RMS for sums of "
        f"{reduction_length} terms ({REDUCTION_GROWTH:g} x u x sqrt(n)).",
    )


def is_lower_precision(candidate: torch.dtype, reference: torch.dtype) -> bool:
    """True when ``candidate`` is a floating dtype less precise than ``reference``."""
    if candidate == reference or not reference.is_floating_point:
        return False
    return PRECISION_RANK.get(candidate, 0) < PRECISION_RANK.get(reference, 0)


# -- reduction length from the traced reference -------------------------------------------

_CONTRACTIONS = {"mm", "bmm", "matmul", "mv", "_scaled_mm", "linear"}
_ADD_CONTRACTIONS = {"addmm", "baddbmm", "addbmm", "addmv", "_addmm_activation"}
_ALONG_DIM = {
    "_softmax", "softmax", "_log_softmax", "log_softmax", "logsumexp", "cumsum", "cumprod",
    "_logcumsumexp", "logcumsumexp",
}  # fmt: skip
_SUMS = {
    "sum", "mean", "nansum", "nanmean", "var", "std", "var_mean", "std_mean", "norm",
    "linalg_vector_norm", "prod", "_native_batch_norm_legit", "native_batch_norm",
    "_native_batch_norm_legit_functional", "trace", "dist", "cosine_similarity",
}  # fmt: skip
"""Ops whose outputs sum their inputs' extra elements (in numel / out numel terms each)."""


def _name(func: Any) -> str:
    packet = getattr(func, "_overloadpacket", func)
    return getattr(packet, "__name__", str(packet)).split(".")[-1]


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def op_reduction_length(name: str, args: tuple[Any, ...], out: Any) -> int:
    """How many terms one output element of ATen op ``name`` sums (1 for none).

    Contractions (matmuls: K; convolutions: in-channels per group times the kernel's
    extent; attention: the longer of head dim and key count), reductions along a
    dimension (softmax, cumsum: that dimension), normalisations (the normalised extent)
    and sums (input elements per output element).
    """
    if name in _CONTRACTIONS and args and isinstance(args[0], torch.Tensor):
        return int(args[0].shape[-1]) if args[0].dim() else 1
    if name in _ADD_CONTRACTIONS and len(args) > 1 and isinstance(args[1], torch.Tensor):
        return int(args[1].shape[-1]) if args[1].dim() else 1
    if name in ("dot", "vdot") and args and isinstance(args[0], torch.Tensor):
        return args[0].numel()
    if name in ("convolution", "_convolution", "conv1d", "conv2d", "conv3d") and len(args) > 1:
        weight = args[1]
        if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
            transposed = bool(args[6]) if len(args) > 6 and isinstance(args[6], bool) else False
            groups = int(args[8]) if len(args) > 8 and isinstance(args[8], int) else 1
            extent = math.prod(int(s) for s in weight.shape[2:])
            per_group = (
                int(weight.shape[0]) // max(1, groups) if transposed else int(weight.shape[1])
            )
            return max(1, per_group * extent)
    if "scaled_dot_product" in name and len(args) >= 3:
        q, k = args[0], args[1]
        if isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor) and k.dim() >= 2:
            return max(int(q.shape[-1]), int(k.shape[-2]))
    if name in _ALONG_DIM and len(args) > 1 and isinstance(args[0], torch.Tensor):
        dims = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
        x = args[0]
        if x.dim() and all(isinstance(d, int) for d in dims):
            return max(1, math.prod(int(x.shape[d]) for d in dims))
        return 1
    if name == "native_layer_norm" and len(args) > 1:
        return max(1, math.prod(int(s) for s in args[1]))
    if name == "native_group_norm" and len(args) > 6:
        c, hxw, groups = int(args[4]), int(args[5]), int(args[6])
        return max(1, c // max(1, groups) * hxw)
    if name in _SUMS:
        ins = [t.numel() for t in _tensors(args)]
        outs = [t.numel() for t in _tensors(out)]
        if ins and outs:
            return max(1, max(ins) // max(1, min(outs)))
    return 1


class ReductionProbe(TorchDispatchMode):
    """``with ReductionProbe() as p: ref(*inputs)``: ``p.longest`` is the longest sum
    (``op_reduction_length``) any ATen op of the call computed, and ``p.op`` that op."""

    def __init__(self) -> None:
        super().__init__()
        self.longest = 1
        self.op = ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        try:
            n = op_reduction_length(_name(func), tuple(args), out)
        except Exception:  # noqa: BLE001 - an op whose arguments do not fit the rule: no sum
            n = 1
        if n > self.longest:
            self.longest, self.op = n, _name(func)
        return out
