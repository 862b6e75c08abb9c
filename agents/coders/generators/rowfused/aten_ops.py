"""What each ATen op of a traced graph is to the row-fused generator.

Ops are keyed by overload packet name (``add`` for ``aten.add.Tensor``). Each is one of:
an elementwise op (normalised to an IR op name and its value arguments), a view, a
reduction (with its reduced dims), a constant, or unknown. Matrix products, convolutions
and scans get a dedicated refusal (:data:`REFUSED`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from agents.coders.kit.fx import arg, packet_name, tensor_val

UNARY = {
    "neg": "neg",
    "exp": "exp",
    "exp2": "exp2",
    "expm1": "expm1",
    "log": "log",
    "log2": "log2",
    "log10": "log10",
    "log1p": "log1p",
    "sqrt": "sqrt",
    "rsqrt": "rsqrt",
    "abs": "abs",
    "sign": "sign",
    "sgn": "sign",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "erf": "erf",
    "sin": "sin",
    "cos": "cos",
    "reciprocal": "reciprocal",
    "floor": "floor",
    "ceil": "ceil",
    "trunc": "trunc",
    "square": "square",
    "logical_not": "not",
    "bitwise_not": "not",
    "isnan": "isnan",
    "isinf": "isinf",
    "isfinite": "isfinite",
}
BINARY = {
    "mul": "mul",
    "maximum": "maximum",
    "minimum": "minimum",
    "fmax": "maximum",
    "fmin": "minimum",
    "eq": "eq",
    "ne": "ne",
    "lt": "lt",
    "le": "le",
    "gt": "gt",
    "ge": "ge",
    "logical_and": "and",
    "logical_or": "or",
    "logical_xor": "xor",
    "bitwise_and": "and",
    "bitwise_or": "or",
    "bitwise_xor": "xor",
}
VIEWS = frozenset(
    {
        "view",
        "_unsafe_view",
        "reshape",
        "unsqueeze",
        "squeeze",
        "expand",
        "permute",
        "transpose",
        "t",
        "alias",
        "clone",
        "detach",
        "contiguous",
        "lift_fresh_copy",
        "flatten",
        "unflatten",
        "expand_copy",
        "view_copy",
        "_reshape_alias",
        "broadcast_in_dim",
    }
)
REFUSED = {
    "mm": "a matrix multiply",
    "bmm": "a batched matrix multiply",
    "addmm": "a matrix multiply",
    "baddbmm": "a batched matrix multiply",
    "matmul": "a matrix multiply",
    "dot": "a dot product",
    "convolution": "a convolution",
    "cumsum": "a scan (cumsum)",
    "cumprod": "a scan (cumprod)",
    "sort": "a sort",
    "topk": "a top-k",
    "native_dropout": "random dropout",
    "bernoulli": "random sampling",
    "rand": "random sampling",
    "randn": "random sampling",
}
"""Ops with a clear reason why one row-fused kernel cannot compute them."""


@dataclass(frozen=True)
class Reduction:
    """A reduction node read from the graph."""

    kind: str
    """sum, mean, max, min, prod, var_mean, var, argmax, argmin, max_arg, min_arg, norm, gather."""
    arg: torch.fx.Node
    dims: tuple[int, ...] | None
    """Reduced dims (non-negative), ``None`` for every dim."""
    keepdim: bool = False
    correction: float = 1.0
    ord: float = 2.0
    index: torch.fx.Node | None = None


def _dims(raw: Any, ndim: int) -> tuple[int, ...] | None:
    if raw is None:
        return None
    items = [raw] if isinstance(raw, int) else list(raw)
    if not items:
        return None  # an empty dim list reduces every dim
    return tuple(sorted({int(d) % max(ndim, 1) for d in items}))


def reduction(node: torch.fx.Node) -> Reduction | None:
    """The reduction a node computes, or ``None`` when it is not one."""
    name = packet_name(node)
    x = node.args[0] if node.args else None
    if not isinstance(x, torch.fx.Node) or tensor_val(x) is None:
        return None
    ndim = tensor_val(x).dim()  # type: ignore[union-attr]
    overload = getattr(node.target, "_overloadname", "")
    if name in ("sum", "mean", "amax", "amin", "prod"):
        if overload == "default" and name in ("sum", "mean", "prod"):
            dims = None
        else:
            dims = _dims(arg(node, 1, "dim"), ndim)
        kind = {"amax": "max", "amin": "min"}.get(name, name)
        return Reduction(kind, x, dims, bool(arg(node, 2, "keepdim", False)))
    if name in ("var", "var_mean"):
        correction = node.kwargs.get("correction")
        if correction is None:
            unbiased = node.kwargs.get("unbiased", True)
            correction = 1.0 if unbiased else 0.0
        dims = _dims(arg(node, 1, "dim"), ndim)
        return Reduction(name, x, dims, bool(node.kwargs.get("keepdim", False)), float(correction))
    if name in ("argmax", "argmin"):
        dim = arg(node, 1, "dim")
        dims = None if dim is None else _dims(dim, ndim)
        return Reduction(name, x, dims, bool(arg(node, 2, "keepdim", False)))
    if name in ("max", "min"):
        if overload == "default":
            return Reduction(name, x, None)
        if overload == "dim":
            dims = _dims(arg(node, 1, "dim"), ndim)
            return Reduction(f"{name}_arg", x, dims, bool(arg(node, 2, "keepdim", False)))
        return None
    if name == "linalg_vector_norm":
        ord_ = arg(node, 1, "ord", 2.0)
        dims = _dims(arg(node, 2, "dim"), ndim)
        return Reduction("norm", x, dims, bool(arg(node, 3, "keepdim", False)), ord=float(ord_))
    if name == "gather":
        dims = _dims(arg(node, 1, "dim"), ndim)
        index = arg(node, 2, "index")
        return Reduction("gather", x, dims, True, index=index)
    return None


def is_number(value: Any) -> bool:
    """True for a Python bool/int/float."""
    return isinstance(value, (bool, int, float))


def literal_text(value: float | bool) -> str:
    """A literal as Triton/Python source (``float("inf")``, ``(-2.0)``, ``True``)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '(-float("inf"))'
        text = repr(value)
    else:
        text = str(int(value))
    return f"({text})" if text.startswith("-") else text
