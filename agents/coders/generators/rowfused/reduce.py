"""Reductions of a traced graph: along the row (``Reduce`` steps) or over the whole tensor.

A reduction is *along the row* when its reduced dims are the row space's ``n`` block (see
``geometry``); its result is one value per row. It is *whole* when it covers every dim of
its input without keeping dims (``x.mean()``, ``sum(dim=None)``): rows then write a partial
each (their own sum, max, min or product) and the wrapper combines the partials and finishes
the scalar. Means divide, ``var`` is a Welford reduction, ``norm`` is a sum of powers (or a
max/min of magnitudes) followed by a root, ``gather`` along the row is an index compare.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from agents.coders.generators.rowfused.aten_ops import Reduction
from agents.coders.generators.rowfused.geometry import (
    Geometry,
    is_row_identity,
    reduced_block,
    row_terms,
    whole_geometry,
)
from agents.coders.generators.rowfused.ir import Compute, Kind, Load, Partial, Reduce
from agents.coders.generators.rowfused.values import KV, Pend, Value, Whole
from agents.coders.kit.fx import tensor_val
from tools.errors import ProblemError

if TYPE_CHECKING:
    from agents.coders.generators.rowfused.build import Builder

_COMBINE = {"sum": "sum", "mean": "sum", "max": "max", "min": "min", "prod": "prod"}


def is_whole(red: Reduction, shape: tuple[int, ...]) -> bool:
    """True when a reduction covers every non-trivial dim and keeps no dims (a scalar result)."""
    if red.kind == "gather":
        return False
    dims = set(range(len(shape))) if red.dims is None else set(red.dims)
    covers = all(d in dims for d in range(len(shape)) if shape[d] != 1)
    return covers and (red.dims is None or not red.keepdim)


def find_geometry(graph: torch.fx.Graph, whole_split: int | None = None) -> Geometry:
    """The row space of a graph: from its row reductions, else from its whole reductions.

    ``whole_split`` given: rows of a whole-reduced tensor are its last ``whole_split`` dims
    (the same split at every size, for shape-generic kernels), else ``whole_geometry``.

    Raises:
        ProblemError: The graph has no reduction, or its row reductions disagree.
    """
    from agents.coders.generators.rowfused.aten_ops import reduction

    row: list[tuple[int, tuple[int, int, int], Reduction]] = []
    whole: list[tuple[int, ...]] = []
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        red = reduction(node)
        if red is None:
            continue
        shape = tuple(int(s) for s in tensor_val(red.arg).shape)  # type: ignore[union-attr]
        if is_whole(red, shape):
            whole.append(shape)
            continue
        dims = set(range(len(shape))) if red.dims is None else set(red.dims)
        block = reduced_block(shape, dims)
        if block is None:
            raise ProblemError(
                f"{node.name} reduces dims {sorted(dims)} of shape {list(shape)}, which are not"
                " adjacent; one row program reduces one contiguous block of dims."
            )
        if block[1] > 1:
            row.append((math.prod(shape), block, red))
    if row:
        biggest = max(r[0] for r in row)
        blocks = {r[1] for r in row if r[0] == biggest}
        if len(blocks) > 1:
            raise ProblemError(
                "The graph reduces the same tensor along different dims; one row program"
                " reduces along one."
            )
        outer, n_len, inner = blocks.pop()
        return Geometry(outer, n_len, inner)
    if whole:
        shape = max(whole, key=math.prod)
        if whole_split is None:
            return replace(whole_geometry(shape), whole=shape)
        n_len = math.prod(shape[len(shape) - min(whole_split, len(shape)) :])
        return Geometry(math.prod(shape) // max(n_len, 1), n_len, 1, whole=shape)
    raise ProblemError(
        "The graph has no reduction; pure pointwise graphs belong to the pointwise generator."
    )


def lower_reduction(b: Builder, node: torch.fx.Node, red: Reduction) -> Any:
    """The builder value of one reduction node (a tuple for ``var_mean`` and ``max.dim``)."""
    x = b.env[red.arg.name]
    shape = tuple(int(s) for s in tensor_val(red.arg).shape)  # type: ignore[union-attr]
    m = tensor_val(node)
    out_shapes = [tuple(int(s) for s in t.shape) for t in node.meta["val"]] if m is None else []
    out = tuple(int(s) for s in m.shape) if m is not None else out_shapes[0]
    dims = set(range(len(shape))) if red.dims is None else set(red.dims)
    if red.kind == "gather":
        return _gather(b, x, red, shape, out)
    if not any(shape[d] != 1 for d in dims):
        if red.kind in ("sum", "mean", "max", "min", "prod"):
            return b.view_value(x, out)
        raise ProblemError(f"{node.name} reduces only size-1 dims; nothing to fuse.")
    if is_whole(red, shape) and not _matches_rows(b.geo, shape, dims, x):
        return _whole(b, node, x, red, shape, out)
    if isinstance(x, KV) and x.domain == "row" and b.geo.inner > 1:
        return _inner(b, node, x, red, shape, dims, out)
    if isinstance(x, Pend) and math.prod(x.shape) == b.geo.total:
        x = b.materialize(x, "tile", x.shape)  # e.g. a sum of embedding lookups
    if not (isinstance(x, KV) and x.domain == "tile"):
        what = "a per-row value" if isinstance(x, KV) else "a parameter-only expression"
        raise ProblemError(
            f"{node.name} reduces {what}; one row program reduces the row tiles only."
        )
    if reduced_block(shape, dims) != (b.geo.outer, b.geo.n_len, b.geo.inner):
        raise ProblemError(
            f"{node.name} reduces dims {sorted(dims)} of shape {list(shape)}, but the kernel's"
            f" rows are {b.geo.n_len} elements of another reduction."
        )
    return _row(b, x, red, out, out_shapes)


def _matches_rows(geo: Geometry, shape: tuple[int, ...], dims: set[int], x: Value) -> bool:
    """A keepdim reduction over everything that is also exactly the kernel's row (one row)."""
    return (
        isinstance(x, KV)
        and x.domain == "tile"
        and reduced_block(shape, dims) == (geo.outer, geo.n_len, geo.inner)
        and geo.rows == 1
    )


def _reduce(
    b: Builder, kind: str, x: KV, kinds: tuple[Kind, ...] = ("f",), index: str | None = None
) -> list[str]:
    outs = tuple(b.fresh() for _ in kinds)
    b.ops.append(Reduce(outs, kind, str(x.var), kinds, index))
    return list(outs)


def _row_kv(var: str, shape: tuple[int, ...], kind: Kind = "f", follows: bool = False) -> KV:
    return KV(var, "row", shape, kind, "row", follows and kind == "f")


def _norm_pre(b: Builder, x: KV, ord_: float) -> tuple[KV, str]:
    """The elementwise part of a vector norm and the reduction it feeds."""
    if ord_ == 2.0:
        return b.compute("mul", [x, x], "f", x.shape), "sum"
    if ord_ == 0.0:
        ne = b.compute("ne", [x, 0.0], "b", x.shape)
        return b.compute("cast_f", [ne], "f", x.shape), "sum"
    mag = b.compute("abs", [x], "f", x.shape)
    if math.isinf(ord_):
        return mag, "max" if ord_ > 0 else "min"
    if ord_ == 1.0:
        return mag, "sum"
    return b.compute("pow", [mag, ord_], "f", x.shape), "sum"


def _row(
    b: Builder, x: KV, red: Reduction, out: tuple[int, ...], shapes: list[tuple[int, ...]]
) -> Any:
    n = float(b.geo.n_len)
    if red.kind in ("sum", "max", "min", "prod"):
        kind: Kind = "i" if red.kind == "sum" and x.kind != "f" else "f"
        (v,) = _reduce(b, red.kind, x, (kind,))
        return _row_kv(v, out, kind, x.follows)
    if red.kind == "mean":
        (s,) = _reduce(b, "sum", x)
        return b.compute("div", [_row_kv(s, out, "f", x.follows), n], "f", out)
    if red.kind in ("var", "var_mean"):
        mean, m2 = _reduce(b, "welford", x, ("f", "f"))
        var = b.compute(
            "div", [_row_kv(m2, out, "f", x.follows), max(n - red.correction, 0.0)], "f", out
        )
        return (var, _row_kv(mean, out, "f", x.follows)) if red.kind == "var_mean" else var
    if red.kind in ("argmax", "argmin"):
        (v,) = _reduce(b, red.kind, x, ("i",))
        return _row_kv(v, out, "i")
    if red.kind in ("max_arg", "min_arg"):
        base = red.kind[:3]
        (v,) = _reduce(b, base, x)
        (i,) = _reduce(b, f"arg{base}", x, ("i",))
        return (_row_kv(v, shapes[0], "f", x.follows), _row_kv(i, shapes[1], "i"))
    if red.kind == "norm":
        pre, how = _norm_pre(b, x, red.ord)
        (s,) = _reduce(b, how, pre)
        total = _row_kv(s, out, "f", x.follows)
        if how != "sum" or red.ord in (0.0, 1.0):
            return total
        if red.ord == 2.0:
            return b.compute("sqrt", [total], "f", out)
        return b.compute("pow", [total, 1.0 / red.ord], "f", out)
    raise ProblemError(f"{red.kind} along the row is not supported.")


def _whole(
    b: Builder,
    node: torch.fx.Node,
    x: Value,
    red: Reduction,
    shape: tuple[int, ...],
    out: tuple[int, ...],
) -> Whole:
    kind = red.kind
    post = "{0}"
    if kind == "norm" and isinstance(x, KV):
        x, kind = _norm_pre(b, x, red.ord)
        if kind == "sum" and red.ord not in (0.0, 1.0):
            post = "{0}.sqrt()" if red.ord == 2.0 else f"({{0}} ** {1.0 / red.ord!r})"
    if kind not in _COMBINE:
        raise ProblemError(
            f"{node.name} is a whole-tensor {red.kind}, which the wrapper cannot finish from row partials."
        )
    if isinstance(x, Pend):
        numel = math.prod(x.shape)
        if numel not in (b.geo.rows, b.geo.total):
            raise ProblemError(f"{node.name} reduces a tensor that does not line up with the rows.")
        x = b.materialize(x, "row" if numel == b.geo.rows else "tile", x.shape)
    if not isinstance(x, KV) or x.domain == "const":
        raise ProblemError(f"{node.name} reduces a tensor that does not depend on the rows.")
    if x.domain == "tile":
        (var,) = _reduce(
            b,
            "sum" if kind == "mean" else kind,
            x,
            ("f" if x.kind == "f" or kind != "sum" else "i",),
        )
        count = b.geo.total
    else:
        if (
            not is_row_identity(row_terms(x.shape, x.shape, b.geo.rows), b.geo.rows)
            or x.numel != b.geo.rows
        ):
            raise ProblemError(
                f"{node.name} reduces a per-row value that does not have one value per row."
            )
        var = (
            str(x.var)
            if isinstance(x.var, str)
            else b.compute("identity", [x], x.kind, x.shape).var
        )  # type: ignore[assignment]
        count = b.geo.rows
    k = len(b.partials)
    b.partials.append(Partial(str(var), _COMBINE[kind]))  # type: ignore[arg-type]
    expr = f"_kv_w[{k}]"
    if kind == "mean":
        expr = f"({expr} / {float(count)!r})"
    m = tensor_val(node)
    out_kind: Kind = "f" if m is None or m.dtype.is_floating_point else "i"
    return Whole(post.format(expr), out, out_kind, x.follows and out_kind == "f")


def _gather(
    b: Builder, x: Value, red: Reduction, shape: tuple[int, ...], out: tuple[int, ...]
) -> KV:
    if not (isinstance(x, KV) and x.domain == "tile"):
        raise ProblemError("gather reads a tensor that is not a row tile; cannot fuse it.")
    dims = set(red.dims or ())
    if reduced_block(shape, dims) != (b.geo.outer, b.geo.n_len, b.geo.inner):
        raise ProblemError("gather picks along a dim other than the kernel's row; cannot fuse it.")
    if math.prod(out) != b.geo.rows:
        raise ProblemError("gather picks more than one element per row; cannot fuse it.")
    index = b.value(red.index)
    if isinstance(index, Pend):
        index = b.materialize(index, "row", out)
    if not isinstance(index, KV) or index.domain == "tile":
        raise ProblemError("gather's index is not one value per row; cannot fuse it.")
    idx = b.as_kernel_arg(index, "row", out)
    if not isinstance(idx, KV) or not isinstance(idx.var, str):
        raise ProblemError("gather's index is a constant; cannot fuse it.")
    return _push_gather(b, x, idx.var, out, {})


def _push_gather(b: Builder, x: KV, index: str, out: tuple[int, ...], memo: dict[str, KV]) -> KV:
    """``gather(f(tiles, rows), index) = f(gather(tiles, index), rows)`` for elementwise ``f``.

    Picking one element per row commutes with elementwise steps, so the pick moves down to
    the loads: a looped kernel then gathers in the first pass (cross-entropy reads each row
    once), and a single tile never computes the whole ``f`` tile for one element.
    """
    name = str(x.var)
    if name in memo:
        return memo[name]
    op = next((o for o in reversed(b.ops) if isinstance(o, Compute) and o.var == name), None)
    if op is not None and op.domain == "tile":
        domains = {o.var: o for o in b.ops if isinstance(o, (Compute, Load))}
        args: list[Any] = []
        for a in op.args:
            src = domains.get(a) if isinstance(a, str) else None
            if src is not None and src.domain == "tile":
                tile = KV(a, "tile", x.shape, src.kind, src.shape, x.follows)
                args.append(_push_gather(b, tile, index, out, memo))
            elif src is not None:
                args.append(KV(a, src.domain, out, src.kind, src.shape))
            elif isinstance(a, str):  # a reduction's result: one value per row
                args.append(KV(a, "row", out, "f", "row"))
            else:
                args.append(a)
        found = b.compute(op.op, args, op.kind, out, x.follows and op.kind == "f")
    elif x.kind == "b":
        as_int = b.compute("cast_i", [x], "i", x.shape)
        (v,) = _reduce(b, "gather", as_int, ("i",), index=index)
        found = b.compute("cast_b", [_row_kv(v, out, "i")], "b", out)
    else:
        (v,) = _reduce(b, "gather", x, (x.kind,), index=index)
        found = _row_kv(v, out, x.kind, x.follows)
    memo[name] = found
    return found


def _inner(
    b: Builder,
    node: torch.fx.Node,
    x: KV,
    red: Reduction,
    shape: tuple[int, ...],
    dims: set[int],
    out: tuple[int, ...],
) -> KV:
    """A reduction of per-row values over the inner rows: one value per outer index.

    A tile then holds every inner row of one outer index (``BLOCK_M >= INNER``), as the FM
    interaction reduces fields along the row and then the embedding dim across rows.
    """
    geo = b.geo
    if (
        x.per_outer
        or red.kind not in ("sum", "mean", "max", "min")
        or x.numel != geo.rows
        or reduced_block(shape, dims) != (geo.outer, geo.inner, 1)
        or not is_row_identity(row_terms(x.shape, x.shape, geo.rows), geo.rows)
        or not isinstance(x.var, str)
    ):
        raise ProblemError(
            f"{node.name} reduces a per-row value; one row program reduces the row tiles"
            " (and per-row values over the inner rows only)."
        )
    kind: Kind = "i" if red.kind == "sum" and x.kind != "f" else "f"
    base = "sum" if red.kind == "mean" else red.kind
    (v,) = _reduce(b, f"inner_{base}", x, (kind,))
    found = KV(v, "row", out, kind, "row", x.follows and kind == "f", per_outer=True)
    if red.kind == "mean":
        found = replace(b.compute("div", [found, float(geo.inner)], "f", out), per_outer=True)
    return found
