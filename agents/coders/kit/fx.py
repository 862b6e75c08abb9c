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


MAX_CAPTURED_ELEMENTS = 4096
"""Largest tensor a trace may capture as a constant and still be written into code."""


def materialize_constants(gm: fx.GraphModule, model: torch.nn.Module) -> list[str]:
    """Turn the tensors a trace captured into ``torch.tensor(...)`` calls in the graph.

    ``torch.fx`` records a tensor built inside ``forward`` from Python values
    (``torch.tensor(self.constant)``) as an attribute of the traced module
    (``_tensor_constant0``) read by a ``get_attr`` node. Code generated from the graph then
    reads ``self._tensor_constant0``, which the reference's own module (and so ``ModelNew``)
    does not have. Each such node is replaced by a call building the same values, with the
    same dtype, on the device of the forward's first tensor input, so generated code passes
    the constant on as an ordinary tensor (a kernel argument where a kernel reads it).

    Args:
        gm: The traced module; its graph is changed in place (``meta`` kept).
        model: The module that was traced; its parameters and buffers stay ``get_attr``.

    Returns:
        The names of the attributes replaced.

    Raises:
        ProblemError: A captured constant is too large to write into code.
    """
    owned = {name for name, _ in model.named_parameters()} | {
        name for name, _ in model.named_buffers()
    }
    graph = gm.graph
    tensor_inputs = [
        n for n in graph.nodes
        if n.op == "placeholder"
        and (n.meta.get("tensor_meta") is not None or tensor_val(n) is not None)
    ]  # fmt: skip
    replaced: list[str] = []
    device: fx.Node | None = None
    for node in list(graph.nodes):
        if node.op != "get_attr" or str(node.target) in owned:
            continue
        value = getattr(gm, str(node.target), None)
        if not isinstance(value, torch.Tensor) or isinstance(value, torch.nn.Parameter):
            continue
        if value.numel() > MAX_CAPTURED_ELEMENTS:
            raise ProblemError(
                f"forward builds a constant tensor of {value.numel()} elements; keep constants "
                f"under {MAX_CAPTURED_ELEMENTS} elements or make it a buffer of Model."
            )
        kwargs: dict[str, Any] = {"dtype": value.dtype}
        with graph.inserting_before(node):
            if tensor_inputs:
                if device is None:
                    with graph.inserting_after(tensor_inputs[-1]):
                        device = graph.call_function(getattr, (tensor_inputs[0], "device"))
                kwargs["device"] = device
            new = graph.call_function(torch.tensor, (value.detach().cpu().tolist(),), kwargs)
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        replaced.append(str(node.target))
    if replaced:
        graph.lint()
        gm.recompile()
    return replaced


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
