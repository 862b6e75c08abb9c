"""The scan and gather generators' reading of an ATen trace: leaves seen through views.

The reference is traced by the kit (:func:`agents.coders.kit.trace.trace_aten`) with every
parameter and buffer a placeholder named by the expression ``ModelNew.forward`` reads it by
(``self.emb.weight``, ``indices``); a data-dependent op (``repeat_interleave`` without
``output_size``) is traced again with symbolic shapes. This module finds the leaf under a
chain of metadata-only ops and replays the chain as ``Tensor`` methods.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx

from agents.coders.kit.fx import val
from agents.coders.kit.reference import forward_arg_names
from agents.coders.kit.trace import AtenTrace, Leaf, TraceOptions, trace_aten
from tools.errors import ProblemError

aten = torch.ops.aten

VIEW_METHODS: dict[Any, str] = {
    aten.view.default: "view",
    aten._unsafe_view.default: "view",
    aten.reshape.default: "reshape",
    aten.unsqueeze.default: "unsqueeze",
    aten.squeeze.dim: "squeeze",
    aten.expand.default: "expand",
    aten.permute.default: "permute",
    aten.transpose.int: "transpose",
    aten.t.default: "t",
}
"""Metadata-only ATen ops a wrapper can replay as ``Tensor`` methods with the same args."""
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
IDENTITY_OPS = frozenset(
    {aten.alias.default, aten.detach.default, aten.clone.default, aten.lift_fresh_copy.default}
)


SCAN_TRACE = TraceOptions(state=True, symbolic_retry=True)
"""Parameters and buffers as named placeholders, no decompositions, symbolic retry."""


def trace_scan(source: str) -> AtenTrace:
    """The reference traced for these generators (cached by the kit).

    Raises:
        ProblemError: ``forward`` takes ``*args``/``**kwargs``, ``get_inputs()`` does not
            give one value per forward argument, or the source does not trace.
    """
    names = forward_arg_names(source)
    if names is None:
        raise ProblemError("Model.forward takes *args, **kwargs or keyword-only arguments.")
    trace = trace_aten(source, SCAN_TRACE)
    if len(trace.inputs) != len(names):
        raise ProblemError(
            f"get_inputs() returns {len(trace.inputs)} values for {len(names)} forward arguments."
        )
    return trace


def leaf_of(trace: AtenTrace, node: Any) -> tuple[Leaf, list[tuple[str, tuple[Any, ...]]]] | None:
    """The leaf under a chain of view ops, with the chain (method, args) to replay on it.

    Returns:
        ``(leaf, views)`` with views ordered from the leaf outwards, or ``None`` when
        ``node`` is not a placeholder seen through metadata-only ops.
    """
    views: list[tuple[str, tuple[Any, ...]]] = []
    while isinstance(node, torch.fx.Node):
        if node.op == "placeholder":
            leaf = trace.leaves.get(node.name)
            return (leaf, views[::-1]) if leaf is not None else None
        if node.op != "call_function":
            return None
        if node.target in IDENTITY_OPS:
            node = node.args[0]
            continue
        method = VIEW_METHODS.get(node.target)
        if method is None or any(isinstance(a, torch.fx.Node) for a in node.args[1:]):
            return None
        views.append((method, tuple(node.args[1:])))
        node = node.args[0]
    return None


def leaf_expr(trace: AtenTrace, node: Any, what: str) -> str:
    """The forward expression of a leaf seen through view ops.

    Raises:
        ProblemError: ``node`` is computed inside forward.
    """
    found = leaf_of(trace, node)
    if found is None:
        raise ProblemError(
            f"The {what} must be a forward input or a parameter, not computed inside forward."
        )
    return replay(found[0].expr, found[1])


def require_float(node: Any, what: str) -> None:
    """Raise ``ProblemError`` unless ``node`` is an fp32/fp16/bf16 tensor."""
    v = val(node)
    if not isinstance(v, torch.Tensor) or v.dtype not in FLOAT_DTYPES:
        raise ProblemError(f"The {what} is not an fp32/fp16/bf16 tensor.")


def replay(expr: str, views: list[tuple[str, tuple[Any, ...]]]) -> str:
    """``expr`` with the view chain applied as Tensor methods (``x.unsqueeze(1)``)."""
    for method, args in views:
        expr = f"{expr}.{method}({', '.join(repr(_plain(a)) for a in args)})"
    return expr


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.SymInt):
        return int(value)
    return value


def strip_trailing(trace: AtenTrace) -> tuple[torch.fx.Node, str]:
    """The node computing the output, and the views the reference applies after it."""
    node = trace.output()
    views: list[tuple[str, tuple]] = []
    while node.op == "call_function" and (
        node.target in VIEW_METHODS or node.target in IDENTITY_OPS
    ):
        if node.target in VIEW_METHODS:
            views.append((VIEW_METHODS[node.target], tuple(node.args[1:])))
        node = node.args[0]
    return node, replay("", views[::-1])
