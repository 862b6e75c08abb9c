"""Compare a candidate's outputs with the reference's, and check what it did to its inputs.

The torch functions used here are bound when this module is imported, before any
candidate code runs, so a candidate that rebinds ``torch.isclose`` does not change them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import abs as _abs
from torch import isclose as _isclose
from torch import isfinite as _isfinite
from torch import isnan as _isnan

from tools.evaluator.loader import tensors_in
from tools.evaluator.tolerances import is_lower_precision, tolerance_for


@dataclass(kw_only=True)
class Comparison:
    """The outcome of comparing one candidate output with one reference output."""

    ok: bool
    message: str = ""
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    flags: list[str] = field(default_factory=list)


def _structure(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return "T"
    if isinstance(obj, (tuple, list)):
        return [_structure(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _structure(v) for k, v in sorted(obj.items())}
    return repr(obj)


def _compare_tensor(
    ref: torch.Tensor, new: torch.Tensor, where: str, allow_lower: bool
) -> Comparison:
    if tuple(new.shape) != tuple(ref.shape):
        return Comparison(
            ok=False, message=f"{where}: shape {tuple(new.shape)} != reference {tuple(ref.shape)}"
        )
    flags: list[str] = []
    if new.dtype != ref.dtype:
        if is_lower_precision(new.dtype, ref.dtype):
            flags.append("precision_lowered")
            if not allow_lower:
                return Comparison(
                    ok=False,
                    message=f"{where}: dtype {new.dtype} is less precise than the reference's {ref.dtype}",
                    flags=flags,
                )
        else:
            return Comparison(
                ok=False, message=f"{where}: dtype {new.dtype} != reference {ref.dtype}"
            )
    tol = tolerance_for(new.dtype if "precision_lowered" in flags else ref.dtype)
    r = ref.detach()
    n = new.detach().to(r.device)
    if not r.dtype.is_floating_point and not r.is_complex():
        equal = n.to(r.dtype) == r
        mismatches = int((~equal).sum())
        return Comparison(
            ok=mismatches == 0,
            message=""
            if mismatches == 0
            else f"{where}: {mismatches} of {r.numel()} elements differ (exact match required)",
        )
    # Compare in fp32 (fp64 for fp64 outputs), on the device the outputs live on.
    wide = torch.float64 if r.dtype == torch.float64 else torch.float32
    r64, n64 = r.to(wide), n.to(wide)
    atol = tol.abs_tol(r64)
    close = _isclose(n64, r64, rtol=tol.rtol, atol=atol, equal_nan=True)
    finite = _isfinite(r64) & _isfinite(n64)
    diff = _abs(n64 - r64)
    diff = torch.where(finite, diff, torch.zeros_like(diff))
    max_abs = float(diff.max()) if diff.numel() else 0.0
    denom = torch.clamp(_abs(r64), min=max(atol, 1e-12))
    max_rel = float((diff / denom).max()) if diff.numel() else 0.0
    bad = int((~close).sum())
    if bad == 0:
        return Comparison(ok=True, max_abs_err=max_abs, max_rel_err=max_rel, flags=flags)
    first = tuple(int(i) for i in torch.nonzero(~close)[0].tolist())
    nonfinite = int((_isfinite(r64) & ~_isfinite(n64)).sum())
    extra = f"; {nonfinite} non-finite where the reference is finite" if nonfinite else ""
    return Comparison(
        ok=False,
        message=(
            f"{where}: {bad} of {r.numel()} elements differ beyond atol={atol:.3g} "
            f"({tol.atol:g} x output RMS), rtol={tol.rtol:g} "
            f"(max_abs_err={max_abs:.3e}, max_rel_err={max_rel:.3e}); "
            f"first at index {first}: candidate {float(n64[first]):.6g}, "
            f"reference {float(r64[first]):.6g}{extra}"
        ),
        max_abs_err=max_abs,
        max_rel_err=max_rel,
        flags=flags,
    )


def compare_outputs(ref: Any, new: Any, *, allow_lower_precision: bool = False) -> Comparison:
    """Compare candidate output ``new`` with reference output ``ref`` (tensors or nests).

    Args:
        ref: The reference output: a tensor, or a tuple/list/dict nest of them.
        new: The candidate output of the same call.
        allow_lower_precision: Accept a less precise dtype (still flagged).

    Returns:
        A Comparison: ``ok``, the first failure's message, the largest absolute and relative
        errors (relative to ``max(|ref|, atol)``, atol already scaled by the output's RMS;
        see ``tools.evaluator.tolerances``), and flags such as ``precision_lowered``.
    """
    if _structure(ref) != _structure(new):
        return Comparison(
            ok=False,
            message=f"output structure {_structure(new)} != reference {_structure(ref)}",
        )
    refs, news = tensors_in(ref), tensors_in(new)
    total = Comparison(ok=True)
    for i, (r, n) in enumerate(zip(refs, news)):
        where = "output" if len(refs) == 1 else f"output[{i}]"
        c = _compare_tensor(r, n, where, allow_lower_precision)
        total.max_abs_err = max(total.max_abs_err, c.max_abs_err)
        total.max_rel_err = max(total.max_rel_err, c.max_rel_err)
        total.flags.extend(f for f in c.flags if f not in total.flags)
        if not c.ok and total.ok:
            total.ok, total.message = False, c.message
    return total


def bitwise_equal(a: Any, b: Any) -> bool:
    """True when two output nests hold the same bits (NaN equal to NaN in the same place)."""
    ta, tb = tensors_in(a), tensors_in(b)
    if len(ta) != len(tb) or _structure(a) != _structure(b):
        return False
    for x, y in zip(ta, tb):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        x, y = x.detach().cpu(), y.detach().cpu()
        if x.dtype.is_floating_point:
            same = (x == y) | (_isnan(x) & _isnan(y))
            if not bool(same.all()):
                return False
        elif not torch.equal(x, y):
            return False
    return True


def mutated_inputs(inputs: Any, pristine: Any) -> list[int]:
    """Indices of input tensors whose contents differ from their pre-call clones."""
    return [
        i
        for i, (x, y) in enumerate(zip(tensors_in(inputs), tensors_in(pristine)))
        if not bitwise_equal(x, y)
    ]


def _span(t: torch.Tensor) -> tuple[int, int]:
    start = t.untyped_storage().data_ptr()
    return start, start + t.untyped_storage().nbytes()


def aliases(outputs: Any, inputs: Any) -> bool:
    """True when any output tensor shares storage with any input tensor."""
    spans = [_span(t) for t in tensors_in(inputs) if t.untyped_storage().nbytes()]
    for out in tensors_in(outputs):
        if not out.untyped_storage().nbytes():
            continue
        lo, hi = _span(out)
        if any(lo < s_hi and s_lo < hi for s_lo, s_hi in spans):
            return True
    return False
