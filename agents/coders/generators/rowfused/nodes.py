"""Lowering one ``call_function`` node of the traced graph into the builder.

Reductions go to ``rowfused.reduce``, views and constants to the builder; every other op must
be an elementwise op of ``aten_ops`` (normalised here: ``alpha`` of add/sub, ``rsub``,
rounding divisions, ``pow`` forms, ``clamp`` bounds, ``where``/``masked_fill``, dtype casts),
else one sentence says which op cannot be fused. In-place ops (``clamp_min_``) rebind the
value they wrote.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx

from agents.coders.generators.rowfused.aten_ops import (
    BINARY,
    REFUSED,
    UNARY,
    VIEWS,
    is_number,
    reduction,
)
from agents.coders.generators.rowfused.build import Builder
from agents.coders.generators.rowfused.index_ops import lower_arange, lower_embedding, lower_repeat
from agents.coders.generators.rowfused.ir import Kind, kind_of
from agents.coders.generators.rowfused.reduce import lower_reduction
from agents.coders.generators.rowfused.values import Value
from agents.coders.kit.fx import arg, packet_name, require_shape, tensor_val
from tools.errors import ProblemError


def lower_call(b: Builder, node: torch.fx.Node) -> Any:
    """Lower one ``call_function`` node (reductions go to ``reduce.lower_reduction``)."""
    if node.target is operator.getitem:
        return b.env[node.args[0].name][node.args[1]]  # type: ignore[union-attr]
    name = packet_name(node)
    inplace = name.endswith("_") and not name.startswith("_")
    base = name[:-1] if inplace else name
    if base in REFUSED:
        raise ProblemError(
            f"The graph has {REFUSED[base]} (aten.{base}), which one row-fused kernel"
            " cannot compute."
        )
    red = reduction(node) if not inplace else None
    if red is not None:
        b.summary.append(base)
        return lower_reduction(b, node, red)
    if base in VIEWS:
        return b.view(node, base)
    if base == "repeat":
        return lower_repeat(b, node)
    if base == "arange":
        return lower_arange(b, node)
    if base == "embedding":
        return lower_embedding(b, node)
    if base in (
        "scalar_tensor",
        "full",
        "full_like",
        "zeros",
        "zeros_like",
        "ones",
        "ones_like",
    ):
        return b.constant(node, base)
    folded = b.fold(node)
    if folded is not None:
        return folded
    result = _elementwise_node(b, node, base)
    b.summary.append(base)
    if inplace:
        target = node.args[0]
        if isinstance(target, torch.fx.Node) and target.op == "placeholder":
            raise ProblemError(
                f"aten.{name} writes into an input; the kernel never mutates inputs."
            )
        b.env[target.name] = result  # type: ignore[union-attr]
    return result


def _elementwise_node(b: Builder, node: torch.fx.Node, name: str) -> Value:
    m = tensor_val(node)
    if m is None:
        raise ProblemError(f"aten.{name} does not return one tensor; cannot fuse it.")
    kind, shape = kind_of(m.dtype), tuple(int(s) for s in m.shape)
    a = node.args
    if name in UNARY:
        return b.elementwise(UNARY[name], [a[0]], kind, shape)
    if name in BINARY:
        return b.elementwise(BINARY[name], [a[0], a[1]], kind, shape)
    if name in ("add", "sub", "rsub"):
        alpha = arg(node, 2, "alpha", 1)
        x, y = (a[1], a[0]) if name == "rsub" else (a[0], a[1])
        if alpha != 1:
            y = b.elementwise(
                "mul", [y, alpha], kind, require_shape(y) if isinstance(y, torch.fx.Node) else ()
            )
        op = "add" if name == "add" else "sub"
        return b.elementwise(op, [x, y], kind, shape)
    if name == "div":
        mode = node.kwargs.get("rounding_mode")
        op = {None: "div", "floor": "div_floor", "trunc": "div_trunc"}[mode]
        return b.elementwise(op, [a[0], a[1]], kind, shape)
    if name == "pow":
        exponent = a[1]
        op = "pow" if is_number(exponent) and not isinstance(a[0], (int, float)) else "pow_tt"
        return b.elementwise(op, [a[0], exponent], kind, shape)
    if name in ("clamp", "clamp_min", "clamp_max"):
        lo = arg(node, 1, "min") if name != "clamp_max" else None
        hi = (
            arg(node, 2, "max")
            if name == "clamp"
            else (arg(node, 1, "max") if name == "clamp_max" else None)
        )
        value: Any = a[0]
        if lo is not None:
            value = _chain(b, "clamp_min", value, lo, kind, shape)
        if hi is not None:
            value = _chain(b, "clamp_max", value, hi, kind, shape)
        return (
            value
            if not isinstance(value, torch.fx.Node)
            else b.elementwise("identity", [value], kind, shape)
        )
    if name == "where":
        return b.elementwise("where", [a[0], a[1], a[2]], kind, shape)
    if name == "masked_fill":
        return b.elementwise("where", [a[1], a[2], a[0]], kind, shape)
    if name in ("_to_copy", "to", "convert_element_type", "_convert_element_type"):
        src = tensor_val(a[0])
        follows = None
        if src is not None and src.dtype.is_floating_point and src.dtype != m.dtype:
            follows = False  # an explicit cast to another float dtype fixes the dtype
        op = {"f": "cast_f", "i": "cast_i", "b": "cast_b"}[kind]
        return b.elementwise(op, [a[0]], kind, shape, follows)
    raise ProblemError(
        f"aten.{name} is not an elementwise op or row reduction the row-fused generator knows."
    )


def _chain(
    b: Builder, op: str, value: Any, bound: Any, kind: Kind, shape: tuple[int, ...]
) -> Value:
    if isinstance(value, torch.fx.Node):
        value = b.value(value)
    return b.elementwise(op, [value, bound], kind, shape)
