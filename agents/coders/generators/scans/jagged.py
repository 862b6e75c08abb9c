"""Jagged rows reduced per segment: the ``jagged`` source of the gather template.

Segments are given by offsets or lengths. Recognised forms: ``torch.segment_reduce`` (sum
or mean along axis 0), and ``index_add_``/``scatter_add_`` of the values into zeros with
segment ids from ``repeat_interleave(lengths)`` (lengths given, or ``offsets[1:] -
offsets[:-1]``) or ``searchsorted(offsets, arange(n), right=True) - 1``, optionally divided
by the lengths (``clamp(min=1)`` or raw, which keeps 0/0 = NaN for an empty segment).
The matchers return :class:`~agents.coders.generators.scans.gather_spec.GatherSpec` fields.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.fx

from agents.coders.generators.scans.aten import IDENTITY_OPS, leaf_expr, leaf_of, require_float
from agents.coders.kit.fx import arg, is_call, static_shape
from agents.coders.kit.trace import AtenTrace
from tools.errors import ProblemError

aten = torch.ops.aten
Fields = dict[str, Any]
ADD_OPS = (
    aten.index_add_.default,
    aten.index_add.default,
    aten.scatter_add_.default,
    aten.scatter_add.default,
)


def _values(trace: AtenTrace, node: Any) -> tuple[str, tuple[int, ...]]:
    require_float(node, "values tensor")
    shape = static_shape(node)
    if not shape or len(shape) < 2:
        raise ProblemError("The jagged values must have a row dim and at least one column dim.")
    return leaf_expr(trace, node, "values tensor"), shape


def segment_reduce(trace: AtenTrace, node: torch.fx.Node) -> Fields:
    """``torch.segment_reduce(values, 'sum'|'mean', lengths=|offsets=)`` along axis 0."""
    data, reduce = node.args[0], node.args[1]
    kw = node.kwargs
    if reduce not in ("sum", "mean"):
        raise ProblemError(f"segment_reduce {reduce!r} is not generated; sum and mean are.")
    if kw.get("axis", 0) != 0 or kw.get("indices") is not None:
        raise ProblemError("segment_reduce is generated along axis 0 with lengths or offsets.")
    if kw.get("initial") not in (None, 0, 0.0):
        raise ProblemError("segment_reduce with a non-zero initial value is not generated.")
    v_expr, shape = _values(trace, data)
    if kw.get("offsets") is not None:
        bounds, b_expr, include = "offsets", leaf_expr(trace, kw["offsets"], "offsets"), True
    elif kw.get("lengths") is not None:
        bounds, b_expr, include = "lengths", leaf_expr(trace, kw["lengths"], "lengths"), False
    else:
        raise ProblemError("segment_reduce needs lengths or offsets.")
    return _fields(trace, reduce, shape, v_expr, bounds, b_expr, include, reduce == "mean")


def _fields(
    trace: AtenTrace,
    mode: str,
    shape: tuple[int, ...],
    v_expr: str,
    bounds: str,
    b_expr: str,
    include_last: bool,
    empty_nan: bool,
) -> Fields:
    out = static_shape(trace.output()) or ()
    n_bags = out[0] if out else 0
    dim = math.prod(shape[1:])
    return {
        "source": "jagged",
        "mode": mode,
        "dim": dim,
        "n_bags": n_bags,
        "bag_size": max(1, shape[0] // max(1, n_bags)),
        "call_args": (v_expr, b_expr),
        "bounds": bounds,
        "include_last": include_last,
        "empty_nan": empty_nan,
        "out_shape": "(n_bags,) + tuple(values.shape[1:])",
        "summary": f"per-segment {mode} of {shape[0]} rows of {dim} into {n_bags} segments ({bounds})",
    }


# ---- index_add_ / scatter_add_ with segment ids ----------------------------------------------
def index_add(trace: AtenTrace, node: torch.fx.Node, divisor: Any) -> Fields:
    """``zeros.index_add_(0, ids, values)`` / ``scatter_add_``, divided by ``divisor`` for a mean."""
    target, dim = node.args[0], node.args[1]
    if dim != 0:
        raise ProblemError("The segment sum must add rows (dim 0).")
    if not (
        is_call(target, aten.zeros.default, aten.new_zeros.default)
        or (is_call(target, aten.full.default) and target.args[1] == 0)
    ):
        raise ProblemError("The segment sum must accumulate into a fresh zeros tensor.")
    if is_call(node, aten.index_add_.default, aten.index_add.default):
        seg, values = node.args[2], node.args[3]
        if arg(node, 4, "alpha", 1) != 1:
            raise ProblemError("index_add_ with alpha is not generated.")
    else:
        index, values = node.args[2], node.args[3]
        seg = _scatter_rows(index)
    v_expr, shape = _values(trace, values)
    bounds, source = _segment_ids(trace, seg)
    b_expr = leaf_expr(trace, source, bounds)
    n_bags = (static_shape(target) or (0,))[0]
    include = bounds == "offsets" and math.prod(static_shape(source) or (0,)) == n_bags + 1
    if divisor is None:
        return _fields(trace, "sum", shape, v_expr, bounds, b_expr, include, False)
    clamped = _count_divisor(trace, divisor, source)
    return _fields(trace, "mean", shape, v_expr, bounds, b_expr, include, not clamped)


def _scatter_rows(index: Any) -> Any:
    """The 1-D segment ids under ``ids.unsqueeze(1).expand(-1, D)`` (or ``ids[:, None]``)."""
    node = index
    while is_call(
        node, aten.expand.default, aten.unsqueeze.default, aten.view.default, *IDENTITY_OPS
    ):
        node = node.args[0]
    if node is index:
        raise ProblemError("scatter_add_ is generated only with row ids broadcast over columns.")
    return node


def _segment_ids(trace: AtenTrace, seg: Any) -> tuple[str, Any]:
    """``("lengths", node)`` or ``("offsets", node)``: where the segment ids come from."""
    if is_call(seg, aten._to_copy.default, *IDENTITY_OPS):
        return _segment_ids(trace, seg.args[0])
    if is_call(seg, aten.index_select.default) and is_call(seg.args[0], aten.arange.default):
        seg = seg.args[2]
    if is_call(seg, aten.repeat_interleave.Tensor):
        return _lengths_source(trace, seg.args[0])
    if (
        is_call(seg, aten.sub.Tensor, aten.sub.Scalar)
        and seg.args[1] == 1
        and is_call(seg.args[0], aten.searchsorted.Tensor)
        and (arg(seg.args[0], 3, "right", False) or arg(seg.args[0], 4, "side") == "right")
        and is_call(seg.args[0].args[1], aten.arange.default, aten.arange.start)
    ):
        return "offsets", seg.args[0].args[0]
    raise ProblemError(
        "The segment ids are not repeat_interleave(lengths) or searchsorted(offsets, arange) - 1."
    )


def _lengths_source(trace: AtenTrace, node: Any) -> tuple[str, Any]:
    """Lengths given directly, or computed as ``offsets[1:] - offsets[:-1]``."""
    if leaf_of(trace, node) is not None:
        return "lengths", node
    if is_call(node, aten.sub.Tensor) and all(is_call(a, aten.slice.Tensor) for a in node.args[:2]):
        hi, lo = node.args[0], node.args[1]
        if hi.args[0] is lo.args[0] and leaf_of(trace, hi.args[0]) is not None:
            n = (static_shape(hi.args[0]) or (0,))[0]
            if _bounds(hi, n) == (1, n) and _bounds(lo, n) == (0, n - 1):
                return "offsets", hi.args[0]
    raise ProblemError("The segment lengths are neither an input nor offsets[1:] - offsets[:-1].")


def _bounds(node: torch.fx.Node, n: int) -> tuple[int, int]:
    start = node.args[2] if len(node.args) > 2 and node.args[2] is not None else 0
    end = node.args[3] if len(node.args) > 3 and node.args[3] is not None else n
    start, end = (start + n if start < 0 else start), (end + n if end < 0 else end)
    return min(max(start, 0), n), min(max(end, 0), n)


def _count_divisor(trace: AtenTrace, node: Any, source: Any) -> bool:
    """Whether a mean's divisor is the lengths clamped to >= 1 (True) or raw (False)."""
    clamped = False
    while isinstance(node, torch.fx.Node):
        views = (aten.unsqueeze.default, aten.view.default, aten._to_copy.default, *IDENTITY_OPS)
        if is_call(node, *views) or (is_call(node, aten.slice.Tensor) and _is_full_slice(node)):
            node = node.args[0]
        elif (
            is_call(node, aten.clamp.default, aten.clamp_min.default)
            and node.args[1] == 1
            and (len(node.args) < 3 or node.args[2] is None)
        ):
            clamped, node = True, node.args[0]
        else:
            break
    found = None
    try:
        found = _lengths_source(trace, node)[1]
    except ProblemError:
        pass
    if found is not source:
        raise ProblemError("The mean divides by something other than the segment lengths.")
    return clamped


def _is_full_slice(node: torch.fx.Node) -> bool:
    n = (static_shape(node.args[0]) or (0,))[node.args[1]]
    return _bounds(node, n) == (0, n) and (len(node.args) < 5 or node.args[4] == 1)
