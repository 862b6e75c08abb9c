"""Recognising embedding-bag gathers and jagged segment reductions in an ATen graph.

Three sources of bags, all reduced by one program per bag (a block of the embedding dim),
in fp32, rows in order (deterministic):

- ``bag``: ``F.embedding_bag`` / ``nn.EmbeddingBag`` (sum or mean, offsets with or without
  the last one, ``padding_idx``, ``per_sample_weights`` for sums);
- ``fixed``: bags of one size: 2-D ``F.embedding_bag`` input, or ``weight[indices]`` /
  ``F.embedding(indices, weight)`` reduced over the bag dim with ``.sum``/``.mean``;
- ``jagged``: rows of a values tensor reduced per segment, the segments given by offsets or
  lengths: ``torch.segment_reduce``, or ``index_add_``/``scatter_add_`` into zeros with
  segment ids from ``repeat_interleave(lengths)`` or ``searchsorted(offsets, arange)``,
  optionally divided by the lengths (clamped or not) for a mean.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from agents.coders.generators.scans.aten import (
    IDENTITY_OPS,
    leaf_expr,
    leaf_of,
    require_float,
    trace_scan,
)
from agents.coders.generators.scans.jagged import ADD_OPS, index_add, segment_reduce
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.dtypes import DtypeSized
from agents.coders.kit.fx import arg, is_call, static_shape, val
from agents.coders.kit.trace import AtenTrace
from tools.errors import ProblemError
from tools.records import Problem

aten = torch.ops.aten
_BAG_OPS = (aten._embedding_bag.default, aten._embedding_bag_forward_only.default)
_GATHER_OPS = (aten.index.Tensor, aten.embedding.default)
_REDUCE_OPS = {aten.sum.dim_IntList: "sum", aten.mean.dim: "mean"}


@dataclass(frozen=True)
class GatherSpec(DtypeSized):
    """A recognised bag reduction, ready to render."""

    source: str
    """``bag`` (offsets into indices), ``fixed`` (equal bags) or ``jagged`` (rows per segment)."""
    mode: str
    """``sum`` or ``mean``."""
    dtype: str
    dim: int
    """Embedding dim D (columns of each row)."""
    n_bags: int
    bag_size: int
    """Rows per bag (fixed), or the average at the traced sizes."""
    forward_args: tuple[str, ...]
    call_args: tuple[str, ...]
    """``_kv_bags`` arguments inside ``forward``: table/values, then indices/offsets/lengths."""
    bounds: str
    """``fixed``, ``offsets`` (start of each bag; the last may be included) or ``lengths``."""
    include_last: bool = False
    """The offsets hold n_bags + 1 entries (the end of the last bag)."""
    padding_idx: int = -1
    per_sample_weights: bool = False
    empty_nan: bool = False
    """A mean of an empty bag is 0/0 (NaN), as dividing by raw lengths gives."""
    out_shape: str = ""
    """Python expression of the output shape in the wrapper (``indices.shape[:-1] + (D,)``)."""
    fixed_size: int = 0
    """Bag size baked into the graph (2-D ``embedding_bag``), else 0 (read at runtime)."""
    summary: str = ""
    family: str = "gather"
    op: str = "gather"


def _only_node(trace: AtenTrace) -> torch.fx.Node:
    node = trace.output()
    while node.op == "call_function" and node.target in IDENTITY_OPS:
        node = node.args[0]
    if node.op == "call_function" and node.target is operator.getitem and node.args[1] == 0:
        node = node.args[0]
    return node


def recognise(problem: Problem) -> GatherSpec:
    """Read a problem into a :class:`GatherSpec`.

    Raises:
        ProblemError: The reference is not one bag reduction of a supported form.
    """
    trace = trace_scan(problem.source)
    node = _only_node(trace)
    if is_call(node, *_BAG_OPS):
        return _embedding_bag(trace, node, problem)
    if is_call(node, *_REDUCE_OPS) and is_call(node.args[0], *_GATHER_OPS):
        return _gather_reduce(trace, node, problem)
    if is_call(node, aten.segment_reduce.default):
        return _spec(trace, problem, **segment_reduce(trace, node))
    if is_call(node, *ADD_OPS):
        return _spec(trace, problem, **index_add(trace, node, None))
    if is_call(node, aten.div.Tensor) and is_call(node.args[0], *ADD_OPS):
        return _spec(trace, problem, **index_add(trace, node.args[0], node.args[1]))
    raise ProblemError(
        "The reference is not an embedding bag, a gather reduced over its bag dim, or a"
        " per-segment sum/mean."
    )


def _spec(trace: AtenTrace, problem: Problem, **fields: Any) -> GatherSpec:
    return GatherSpec(dtype=problem.dtype, forward_args=trace.forward_args, **fields)


def _embedding_bag(trace: AtenTrace, node: torch.fx.Node, problem: Problem) -> GatherSpec:
    weight, indices, offsets = node.args[0], node.args[1], node.args[2]
    mode = arg(node, 4, "mode", 0)
    psw = arg(node, 6, "per_sample_weights")
    include_last = bool(arg(node, 7, "include_last_offset", False))
    padding_idx = arg(node, 8, "padding_idx", -1)
    if mode not in (0, 1):
        raise ProblemError("embedding_bag mode='max' is not generated; sum and mean are.")
    if trace.symbolic:
        raise ProblemError("The embedding bag's shapes are data-dependent.")
    require_float(weight, "embedding table")
    w_expr = leaf_expr(trace, weight, "embedding table")
    n_rows, dim = static_shape(weight) or (0, 0)
    padding_idx = -1 if padding_idx is None or padding_idx < 0 else int(padding_idx)
    psw_expr = leaf_expr(trace, psw, "per_sample_weights") if psw is not None else ""
    n_idx = math.prod(static_shape(indices) or (0,))
    out_shape = static_shape(_first_output(node)) or ()
    common = {
        "mode": "mean" if mode == 1 else "sum",
        "dim": int(dim),
        "padding_idx": padding_idx,
        "per_sample_weights": psw is not None,
    }
    if is_call(offsets, aten.arange.start_step):  # 2-D input: bags of one size
        start, end, step = offsets.args[:3]
        i_expr = leaf_expr(trace, indices, "indices")
        if start != 0 or step <= 0 or end != n_idx:
            raise ProblemError("The bag offsets are a range the kernel does not recognise.")
        n_bags = n_idx // step
        found = leaf_of(trace, indices)
        fixed = int(step)
        if found is not None and found[1] == [("view", ([-1],))]:  # (B, L) flattened: read L
            i_expr, fixed = found[0].expr, 0
        args = [w_expr, i_expr] + ([psw_expr] if psw_expr else [])
        return _spec(
            trace,
            problem,
            source="fixed",
            n_bags=n_bags,
            bag_size=int(step),
            call_args=tuple(args),
            bounds="fixed",
            fixed_size=fixed,
            out_shape="(n_bags, weight.shape[1])",
            summary=f"embedding_bag {common['mode']} of {n_bags} bags of {step} rows",
            **common,
        )
    i_expr = leaf_expr(trace, indices, "indices")
    o_expr = leaf_expr(trace, offsets, "offsets")
    n_off = math.prod(static_shape(offsets) or (0,))
    n_bags = out_shape[0] if out_shape else max(0, n_off - int(include_last))
    args = [w_expr, i_expr, o_expr] + ([psw_expr] if psw_expr else [])
    return _spec(
        trace,
        problem,
        source="bag",
        n_bags=int(n_bags),
        bag_size=max(1, n_idx // max(1, n_bags)),
        call_args=tuple(args),
        bounds="offsets",
        include_last=include_last,
        out_shape="(n_bags, weight.shape[1])",
        summary=f"embedding_bag {common['mode']} of {n_bags} bags over a {n_rows}x{dim} table",
        **common,
    )


def _first_output(node: torch.fx.Node) -> Any:
    for user in node.users:
        if user.target is operator.getitem and user.args[1] == 0:
            return user
    return None


def _gather_reduce(trace: AtenTrace, node: torch.fx.Node, problem: Problem) -> GatherSpec:
    gather = node.args[0]
    weight, indices = gather.args[0], gather.args[1]
    if is_call(gather, aten.index.Tensor):
        if len(indices) != 1 or indices[0] is None:
            raise ProblemError("Only weight[indices] with one index tensor is a gather.")
        indices = indices[0]
    require_float(weight, "embedding table")
    w_shape, i_shape = static_shape(weight), static_shape(indices)
    if not w_shape or len(w_shape) != 2 or not i_shape:
        raise ProblemError("The gather needs a 2-D table and a non-scalar index tensor.")
    if val(indices).dtype not in (torch.int64, torch.int32):
        raise ProblemError("The gather's indices are not int32/int64 (boolean masks are not bags).")
    rank = len(i_shape) + 1
    dims = [d % rank for d in node.args[1]] if len(node.args) > 1 and node.args[1] else []
    keepdim = bool(arg(node, 2, "keepdim", False))
    if dims != [rank - 2] or node.kwargs.get("dtype") is not None:
        raise ProblemError("The gather is reduced over a dim other than the bag (index) dim.")
    mode = _REDUCE_OPS[node.target]
    i_expr = leaf_expr(trace, indices, "indices")
    bag, n_bags = i_shape[-1], math.prod(i_shape[:-1])
    keep = "(1,) + " if keepdim else ""
    return _spec(
        trace,
        problem,
        source="fixed",
        mode=mode,
        dim=w_shape[1],
        n_bags=n_bags,
        bag_size=bag,
        call_args=(leaf_expr(trace, weight, "table"), i_expr),
        bounds="fixed",
        empty_nan=mode == "mean",
        out_shape=f"index_shape[:-1] + {keep}(weight.shape[1],)",
        summary=f"gather {mode} of {n_bags} bags of {bag} rows over a {w_shape[0]}x{w_shape[1]} table",
    )


analyze_gather = cached_recogniser(recognise, "gather")
"""``recognise``, cached per problem content (raises ``ProblemError`` as it does)."""
