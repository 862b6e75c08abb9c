"""Index arithmetic nodes of a traced graph: ``repeat`` of a small operand and ``arange``.

Both stay *pending* (see ``values``) until they meet a row or tile value: a repeat along the
leading dims reads its operand at ``offset % numel`` (InstanceNorm's per-channel weight
repeated per sample is indexed by ``row % C``), and an ``arange`` is its own flat index (an
arange along the row is the column index; no load).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch
import torch.fx

from agents.coders.generators.rowfused.geometry import tile_terms
from agents.coders.generators.rowfused.ir import Load, kind_of
from agents.coders.generators.rowfused.values import KV, Leaf, Pend, PendOp, join_shapes
from agents.coders.kit.fx import arg, require_shape, tensor_val
from tools.errors import ProblemError

if TYPE_CHECKING:
    from agents.coders.generators.rowfused.build import Builder


def lower_repeat(b: Builder, node: torch.fx.Node) -> Any:
    """``x.repeat(*reps)``: a pending operand read modulo its size (outer repeats only).

    Raises:
        ProblemError: The repeated value is not a small operand, or a repeat is not outermost.
    """
    out = require_shape(node)
    x = b.value(node.args[0])
    if isinstance(x, KV) and x.domain == "const":
        return KV(x.var, "const", out, x.kind, "scalar", x.follows)
    if not (isinstance(x, Pend) and isinstance(x.node, Leaf)):
        raise ProblemError("aten.repeat of a row or tile value needs a copy; cannot fuse it.")
    reps = [int(r) for r in node.args[1]]  # type: ignore[union-attr]
    src = (1,) * (len(reps) - len(x.shape)) + tuple(x.shape)
    for i, r in enumerate(reps):
        if r > 1 and any(d != 1 for d in src[:i]):
            raise ProblemError(
                "aten.repeat tiles an inner dim; only repeats of the whole tensor are indexed."
            )
    numel = math.prod(x.shape)
    wrap = x.node.wrap or numel
    m = tensor_val(node)
    kind = kind_of(m.dtype) if m is not None else x.kind
    return Pend(Leaf(x.node.operand, out, wrap), out, kind, x.follows)


def lower_arange(b: Builder, node: torch.fx.Node) -> Any:
    """``arange(start, end, step)``: a pending index sequence (``start + step * j``).

    Raises:
        ProblemError: The bounds are not plain numbers.
    """
    out = require_shape(node)
    overload = getattr(node.target, "_overloadname", "default")
    start: Any = 0
    step: Any = 1
    if overload == "start_step":
        start, step = node.args[0], arg(node, 2, "step", 1)
    elif overload == "start":
        start = node.args[0]
    if not all(isinstance(v, (int, float)) for v in (start, step)):
        raise ProblemError("aten.arange has tensor bounds; cannot index it.")
    m = tensor_val(node)
    kind = kind_of(m.dtype) if m is not None else "i"
    if kind not in ("i", "f"):
        raise ProblemError("aten.arange of a non-numeric dtype is not indexed.")
    value = Pend(Leaf(-1, out), out, "i")
    if kind == "f":
        value = Pend(PendOp("cast_f", (value,), "f"), out, "f")
    if step != 1:
        value = Pend(PendOp("mul", (value, step), kind), out, kind)
    if start != 0:
        value = Pend(PendOp("add", (value, start), kind), out, kind)
    return value


def lower_embedding(b: Builder, node: torch.fx.Node) -> Any:
    """``embedding(weight, ids)``: rows of a 2-D operand picked by an integer index.

    Raises:
        ProblemError: The weight is not a 2-D operand, or the index is not integer.
    """

    out = require_shape(node)
    weight = b.value(node.args[0])
    ids = b.value(node.args[1])
    if not (
        isinstance(weight, Pend)
        and isinstance(weight.node, Leaf)
        and weight.node.index is None
        and not weight.node.wrap
        and not weight.node.iota
        and len(weight.shape) == 2
    ):
        raise ProblemError(
            "aten.embedding reads a table that is not a 2-D operand; cannot fuse it."
        )
    if isinstance(ids, KV) and ids.domain == "const":
        raise ProblemError("aten.embedding with a constant index is not fused.")
    if not isinstance(ids, Pend) or ids.kind != "i":
        raise ProblemError("aten.embedding's index is not a small integer operand; cannot fuse it.")
    leaf = Leaf(weight.node.operand, out, 0, Pend(ids.node, ids.shape, ids.kind))
    return Pend(leaf, out, weight.kind, weight.follows)


def gathered(b: Builder, p: Pend, leaf: Leaf, shape: tuple[int, ...]) -> KV:
    """An embedding lookup broadcast into the tile ``shape``: the index picks the row.

    Raises:
        ProblemError: The index is a constant.
    """
    assert leaf.index is not None
    width = leaf.shape[-1]
    ones = (1,) * (len(leaf.shape) - 1)
    cols = tile_terms(ones + (width,), shape, b.geo)
    index = leaf.index.reshaped(leaf.shape[:-1] + (1,))
    if index is None:
        raise ProblemError("An embedding index expression is not indexed.")
    found = b.materialize(index, "tile", shape)
    if not isinstance(found.var, str):
        raise ProblemError("An embedding lookup with a constant index is not fused.")
    key = (leaf.operand, cols, found.var)
    if key not in b.gathers:
        var = b.fresh()
        rshape = join_shapes([found.rshape, "col" if cols else "scalar"])
        domain = "tile" if rshape in ("tile", "col") else found.domain
        b.ops.append(
            Load(var, leaf.operand, cols, domain, p.kind, rshape, found.var, width)  # type: ignore[arg-type]
        )
        b.gathers[key] = KV(var, domain, shape, p.kind, rshape, p.kind == "f")  # type: ignore[arg-type]
    return replace(b.gathers[key], shape=shape)
