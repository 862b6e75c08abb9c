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

from tools.evaluator.chunked import paired_chunks, unravel
from tools.evaluator.loader import tensors_in
from tools.evaluator.tolerances import is_lower_precision, tolerance_for


@dataclass(kw_only=True)
class Comparison:
    """The outcome of comparing one candidate output with one reference output."""

    ok: bool
    message: str = ""
    max_abs_err: float = 0.0
    """Largest ``|new - ref|`` over the elements where both are finite."""
    max_rel_err: float = 0.0
    nonfinite: int = 0
    """Elements that are NaN or infinite in the candidate where the reference is finite."""
    not_written: int = 0
    """Elements that still hold the poison bytes (``POISON_BYTE``) where the reference
    is not NaN: memory the candidate returned without writing it."""
    flags: list[str] = field(default_factory=list)


POISON_BYTE = 0xFF
"""The worker fills freed device memory with this byte: every floating dtype reads it as a
NaN no PyTorch op produces (all bits set), so an output element that still holds it was
never written."""

_INT_OF = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}


def poison_pattern(t: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the elements of contiguous floating ``t`` whose bits are all ones."""
    return t.view(_INT_OF[t.element_size()]) == -1


def _structure(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return "T"
    if isinstance(obj, (tuple, list)):
        return [_structure(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _structure(v) for k, v in sorted(obj.items())}
    return repr(obj)


def _compare_exact(r: torch.Tensor, n: torch.Tensor, where: str) -> Comparison:
    mismatches, first = 0, None
    offset = 0
    for rp, np_ in paired_chunks(r, n):
        differ = np_.to(rp.device).to(rp.dtype) != rp
        k = int(differ.sum())
        if k and first is None:
            first = offset + int(torch.nonzero(differ)[0])
        mismatches += k
        offset += rp.numel()
    if mismatches == 0:
        return Comparison(ok=True)
    at = unravel(first or 0, tuple(r.shape))
    return Comparison(
        ok=False,
        message=f"{where}: {mismatches} of {r.numel()} elements differ (exact match required); "
        f"first at index {at}",
    )


@dataclass(kw_only=True)
class _Tally:
    """Running figures of one chunked comparison."""

    bad: int = 0
    first: int | None = None
    first_values: tuple[float, float] = (0.0, 0.0)
    max_abs: float = 0.0
    max_rel: float = 0.0
    both_finite: int = 0
    nonfinite: int = 0
    nan: int = 0
    not_written: int = 0


def _tally_piece(t: _Tally, rp: torch.Tensor, np_: torch.Tensor, wide: torch.dtype,
                 rtol: float, atol: float, offset: int) -> None:
    np_ = np_.to(rp.device)
    rw, nw = rp.to(wide), np_.to(wide)
    close = _isclose(nw, rw, rtol=rtol, atol=atol, equal_nan=True)
    far = ~close
    k = int(far.sum())
    if k:
        if t.first is None:
            i = int(torch.nonzero(far)[0])
            t.first, t.first_values = offset + i, (float(nw[i]), float(rw[i]))
        t.bad += k
    rf, nf = _isfinite(rw), _isfinite(nw)
    both = rf & nf
    t.both_finite += int(both.sum())
    diff = torch.where(both, _abs(nw - rw), 0.0)
    if diff.numel():
        t.max_abs = max(t.max_abs, float(diff.max()))
        rel = diff / torch.clamp(_abs(torch.where(both, rw, 0.0)), min=max(atol, 1e-12))
        t.max_rel = max(t.max_rel, float(rel.max()))
    lost = rf & ~nf
    t.nonfinite += int(lost.sum())
    t.nan += int((lost & _isnan(nw)).sum())
    if np_.is_floating_point():
        t.not_written += int((poison_pattern(np_.contiguous()) & ~_isnan(rw)).sum())


def _compare_tensor(
    ref: torch.Tensor, new: torch.Tensor, where: str, allow_lower: bool, reduction_length: int = 1
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
    tol = tolerance_for(new.dtype if "precision_lowered" in flags else ref.dtype, reduction_length)
    r, n = ref.detach(), new.detach()
    if not r.dtype.is_floating_point and not r.is_complex():
        return _compare_exact(r, n, where)
    # Compare in fp32 (fp64 for fp64 outputs), piece by piece on the reference's device.
    wide = torch.float64 if r.dtype == torch.float64 else torch.float32
    atol = tol.abs_tol(r)
    t = _Tally()
    offset = 0
    for rp, np_ in paired_chunks(r, n):
        _tally_piece(t, rp, np_, wide, tol.rtol, atol, offset)
        offset += rp.numel()
    figures = (
        f"max_abs_err={t.max_abs:.3e}, max_rel_err={t.max_rel:.3e} over the {t.both_finite} "
        f"elements finite in both"
    )
    if t.bad == 0:
        return Comparison(ok=True, max_abs_err=t.max_abs, max_rel_err=t.max_rel, flags=flags)
    total = r.numel()
    notes = []
    if t.not_written:
        flags.append("output_not_written")
        notes.append(
            f"output not written: {t.not_written} of {total} elements still hold the poison "
            f"bytes (0x{POISON_BYTE:02X}) the evaluator fills free memory with"
        )
    if t.nonfinite:
        flags.append("nonfinite_output")
        notes.append(
            f"{t.nonfinite} of {total} elements non-finite where the reference is finite "
            f"({t.nan} NaN, {t.nonfinite - t.nan} inf)"
        )
    first = unravel(t.first or 0, tuple(r.shape))
    cand_v, ref_v = t.first_values
    lead = "; ".join(notes) + "; " if notes else ""
    return Comparison(
        ok=False,
        message=(
            f"{where}: {lead}{t.bad} of {total} elements differ beyond atol={atol:.3g} "
            f"({tol.atol:.3g} x output RMS), rtol={tol.rtol:g} ({figures}); "
            f"first at index {first}: candidate {cand_v:.6g}, reference {ref_v:.6g}"
        ),
        max_abs_err=t.max_abs,
        max_rel_err=t.max_rel,
        nonfinite=t.nonfinite,
        not_written=t.not_written,
        flags=flags,
    )


def compare_outputs(
    ref: Any, new: Any, *, allow_lower_precision: bool = False, reduction_length: int = 1
) -> Comparison:
    """Compare candidate output ``new`` with reference output ``ref`` (tensors or nests).

    Args:
        ref: The reference output: a tensor, or a tuple/list/dict nest of them.
        new: The candidate output of the same call.
        allow_lower_precision: Accept a less precise dtype (still flagged).
        reduction_length: The longest sum the reference computes (widens ``atol``; see
            ``tools.evaluator.tolerances.tolerance_for``).

    Returns:
        A Comparison: ``ok``, the first failure's message, the largest absolute and relative
        errors over the elements finite in both (relative to ``max(|ref|, atol)``, atol
        already scaled by the output's RMS; see ``tools.evaluator.tolerances``), the counts
        of non-finite and unwritten elements, and flags such as ``precision_lowered``,
        ``nonfinite_output`` and ``output_not_written``. Every temporary is one chunk
        (``tools.evaluator.chunked``), whatever the output's size.
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
        c = _compare_tensor(r, n, where, allow_lower_precision, reduction_length)
        total.max_abs_err = max(total.max_abs_err, c.max_abs_err)
        total.max_rel_err = max(total.max_rel_err, c.max_rel_err)
        total.nonfinite += c.nonfinite
        total.not_written += c.not_written
        total.flags.extend(f for f in c.flags if f not in total.flags)
        if not c.ok and total.ok:
            total.ok, total.message = False, c.message
    return total


def bitwise_equal(a: Any, b: Any) -> bool:
    """True when two output nests hold the same values (NaN equal to NaN in the same place),
    compared piece by piece on the first nest's device."""
    ta, tb = tensors_in(a), tensors_in(b)
    if len(ta) != len(tb) or _structure(a) != _structure(b):
        return False
    for x, y in zip(ta, tb):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        for xp, yp in paired_chunks(x.detach(), y.detach()):
            yp = yp.to(xp.device)
            if xp.dtype.is_floating_point or xp.is_complex():
                same = (xp == yp) | (_isnan(xp) & _isnan(yp))
                if not bool(same.all()):
                    return False
            elif not torch.equal(xp, yp):
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
