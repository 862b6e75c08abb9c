"""Recognising a reduction over a non-innermost (strided) dim in a KernelBench reference.

The reference is traced to ATen (:mod:`agents.coders.generators.scans.aten`). The graph must be one
``sum``/``mean``/``amax``/``amin``/``prod`` (or the values of ``max``/``min`` along a dim)
of one input seen through view ops, over a contiguous run of dims that leaves the
innermost dim alone, optionally followed by view ops. The input is then seen as
``(n_outer, n_r, n_inner)``: the kernel reduces ``n_r`` for each of the ``n_outer * n_inner``
outputs, with coalesced loads along the contiguous ``n_inner``. Row reductions (the
innermost dim) are the row-fused generator's; anything else raises ``ProblemError``.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
import torch.fx

from agents.coders.generators.scans.aten import leaf_of, replay, strip_trailing, trace_scan
from agents.coders.generators.scans.span import TORCH_DTYPES, SpanSpec
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.fx import arg, static_shape, val
from tools.errors import ProblemError
from tools.records import Problem

aten = torch.ops.aten
REDUCE_OPS = {
    aten.sum.dim_IntList: "sum",
    aten.mean.dim: "mean",
    aten.amax.default: "max",
    aten.amin.default: "min",
    aten.max.dim: "max",
    aten.min.dim: "min",
    aten.prod.dim_int: "prod",
}
"""ATen reduction -> the kernel's combine (``max.dim``/``min.dim``: values only)."""
_VALUES_OF = (aten.max.dim, aten.min.dim)


@dataclass(frozen=True, kw_only=True)
class ColReduceSpec(SpanSpec):
    """A recognised strided reduction, ready to render (``op``: ``sum``, ``mean``, ``max``,
    ``min`` or ``prod``)."""

    first: int
    """First reduced dim."""
    last: int
    """Last reduced dim (``first <= last < rank - 1``)."""
    keepdim: bool
    input_expr: str
    """Expression inside ``ModelNew.forward`` for the reduced tensor (with its views)."""
    family: str = "reduction"

    @property
    def span(self) -> tuple[int, int]:
        """The reduced dims."""
        return self.first, self.last


def _reduced_dims(node: torch.fx.Node, rank: int) -> tuple[int, int]:
    raw = arg(node, 1, "dim")
    if raw is None or (isinstance(raw, (list, tuple)) and not raw):
        raise ProblemError("The reduction runs over every dim; not a strided reduction.")
    dims = sorted({int(d) % rank for d in (raw if isinstance(raw, (list, tuple)) else [raw])})
    if dims != list(range(dims[0], dims[-1] + 1)):
        raise ProblemError(f"The reduced dims {dims} are not adjacent; one kernel takes a run.")
    return dims[0], dims[-1]


def recognise(problem: Problem) -> ColReduceSpec:
    """Read a problem into a :class:`ColReduceSpec`.

    Raises:
        ProblemError: The reference is not one strided reduction of one input; the message
            names what is not supported.
    """
    trace = trace_scan(problem.source)
    if trace.symbolic:
        raise ProblemError(
            "The reduction's shapes are data-dependent; the kernel needs static ones."
        )
    result, trailing = strip_trailing(trace)
    red = result
    if result.op == "call_function" and result.target is operator.getitem:
        red = result.args[0]
        if result.args[1] != 0 or not isinstance(red, torch.fx.Node):
            raise ProblemError("The reference returns the indices of a max/min, not its values.")
    if red.op != "call_function" or red.target not in REDUCE_OPS:
        raise ProblemError("The reference's result is not a sum/mean/amax/amin/max/min/prod.")
    if (red.target in _VALUES_OF) != (red is not result):
        raise ProblemError("The reduction's output is used in a way the kernel does not map.")
    for n in trace.gm.graph.nodes:
        if n.op == "call_function" and n.target is operator.getitem and n is not result and n.users:
            raise ProblemError("The indices of a max/min are used; only values are computed.")
    found = leaf_of(trace, red.args[0])
    if found is None:
        raise ProblemError("The reduction reads a computed tensor; only a direct input is taken.")
    shape = static_shape(red.args[0])
    if not shape or len(shape) < 2:
        raise ProblemError("The reduced tensor has fewer than two dims; no strided dim to reduce.")
    first, last = _reduced_dims(red, len(shape))
    if last == len(shape) - 1 or math.prod(shape[last + 1 :]) == 1:
        raise ProblemError("The reduction includes the innermost dim (a row reduction).")
    in_val, out_val = val(red.args[0]), val(result)
    if in_val.dtype not in TORCH_DTYPES or out_val.dtype not in TORCH_DTYPES:
        raise ProblemError(
            f"The reduction maps {in_val.dtype} to {out_val.dtype}; fp32/fp16/bf16 only."
        )
    keepdim = bool(arg(red, 2, "keepdim", False))
    op = REDUCE_OPS[red.target]
    leaf, views = found
    fixed = red.kwargs.get("dtype") is not None or (len(red.args) > 3 and red.args[3] is not None)
    return ColReduceSpec(
        op=op,
        dtype=problem.dtype,
        shape=shape,
        first=first,
        last=last,
        keepdim=keepdim,
        forward_args=trace.forward_args,
        input_expr=replay(leaf.expr, views),
        out_dtype=TORCH_DTYPES[out_val.dtype] if fixed else "",
        trailing=trailing,
        summary=f"{op} over dims {first}..{last} of {list(shape)}"
        + (" (keepdim)" if keepdim else ""),
    )


analyze_colreduce = cached_recogniser(recognise, "column-reduction")
"""``recognise``, cached per problem content (raises ``ProblemError`` as it does)."""
