"""Readers of a traced ATen graph's nodes, shared by every generator.

A node made by ``make_fx`` carries its value in ``node.meta["val"]`` (a meta or fake
tensor, a tuple, or nothing for a constant); these helpers read names, shapes, dtypes and
arguments off such nodes without each generator writing them again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import fx

from tools.errors import ProblemError

aten = torch.ops.aten

VIEW_OVERLOADS = frozenset(
    {
        aten.view.default,
        aten._unsafe_view.default,
        aten.reshape.default,
        aten.expand.default,
        aten.clone.default,
        aten.alias.default,
        aten.squeeze.dim,
        aten.squeeze.dims,
        aten.squeeze.default,
        aten.unsqueeze.default,
        aten.flatten.using_ints,
    }
)
"""ATen overloads that only reshape (or copy) their first argument."""


def val(node: Any) -> Any:
    """The meta value recorded for a node (a tensor, a tuple, or ``None``)."""
    return node.meta.get("val") if isinstance(node, fx.Node) else None


def tensor_val(node: Any) -> torch.Tensor | None:
    """The tensor a node produced (``None`` for non-tensors, tuples and constants)."""
    value = val(node)
    return value if isinstance(value, torch.Tensor) else None


def static_shape(node: Any) -> tuple[int, ...] | None:
    """The node's tensor shape as ints, or ``None`` when not one tensor or not static."""
    value = tensor_val(node)
    if value is None:
        return None
    try:
        return tuple(int(s) for s in value.shape)
    except Exception:  # noqa: BLE001 - an unbacked symbolic size has no int value
        return None


def require_shape(node: Any) -> tuple[int, ...]:
    """The node's static tensor shape.

    Raises:
        ProblemError: The node does not produce one tensor of static shape.
    """
    shape = static_shape(node)
    if shape is None:
        name = getattr(node, "name", node)
        raise ProblemError(f"Node {name} does not produce a tensor of static shape.")
    return shape


def dtype_of(node: Any) -> torch.dtype | None:
    """The dtype of a node's tensor, or ``None`` when it is not one tensor."""
    value = tensor_val(node)
    return value.dtype if value is not None else None


def packet_name(node: fx.Node) -> str:
    """The overload packet name of a call (``add`` for ``aten.add.Tensor``), else ``''``."""
    target = node.target
    overload = getattr(target, "overloadpacket", None)
    if overload is not None:
        return str(overload.__name__)
    return getattr(target, "__name__", "")


def op_name(node: fx.Node) -> str:
    """Canonical ATen op name: ``t_copy`` -> ``t``, ``relu_`` -> ``relu``; ``getitem``.

    A node that calls no function gets its kind (``placeholder``, ``output``).
    """
    if node.op != "call_function":
        return node.op
    target = node.target
    packet = getattr(target, "overloadpacket", None)
    name = getattr(packet, "__name__", None) or getattr(target, "__name__", str(target))
    name = name.split(".")[-1]
    if name.endswith("_copy") and name != "_to_copy":
        name = name[: -len("_copy")]
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name


def op_label(node: fx.Node) -> str:
    """A short name of a node's target for messages (``aten.bmm``, ``getitem``)."""
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target.overloadpacket.__name__}"
    return getattr(target, "__name__", str(target))


def is_call(node: Any, *targets: Any) -> bool:
    """True when ``node`` calls one of the ATen overloads ``targets``."""
    return isinstance(node, fx.Node) and node.op == "call_function" and node.target in targets


def arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    """Argument ``index`` (positional) or ``name`` (keyword) of a call, else ``default``."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def output_node(gm: fx.GraphModule) -> fx.Node:
    """The single tensor the graph returns.

    Raises:
        ProblemError: The graph returns several values or no tensor.
    """
    out = next(n for n in gm.graph.nodes if n.op == "output")
    value = out.args[0]
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ProblemError("The reference returns several outputs; these generators need one.")
        value = value[0]
    if not isinstance(value, fx.Node) or tensor_val(value) is None:
        raise ProblemError("The reference does not return a single tensor.")
    return value


def first_line(error: BaseException) -> str:
    """``TypeName: first line of the message``, for one-sentence errors."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0].rstrip('.')}" if lines else type(error).__name__


def _closure(
    start: Iterable[fx.Node], step: Callable[[fx.Node], Iterable[fx.Node]]
) -> set[fx.Node]:
    seen = set(start)
    stack = list(seen)
    while stack:
        for nxt in step(stack.pop()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def ancestors(*nodes: fx.Node) -> set[fx.Node]:
    """Every node the given nodes depend on (themselves included)."""
    return _closure(nodes, lambda n: n.all_input_nodes)


def descendants(node: fx.Node) -> set[fx.Node]:
    """Every node that depends on ``node`` (itself included)."""
    return _closure([node], lambda n: n.users)
