"""Tracing a KernelBench ``Model`` to an ATen graph on the meta device (``make_fx``).

The reference is built and its inputs drawn under ``tools.problems.materialize.meta_device``
(no storage, however large the shapes), then traced with ``make_fx`` through
``torch.func.functional_call`` so that every parameter and buffer is a placeholder with a
name: each placeholder maps to the Python expression ``ModelNew.forward`` reads it by
(``self.emb.weight``, ``indices``). A data-dependent op (``repeat_interleave`` without
``output_size``) cannot run on meta tensors; such graphs are traced again with symbolic
shapes. Results are cached per source text.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
from torch.fx.experimental.proxy_tensor import make_fx

from agents.coders.kit.reference import forward_arg_names
from tools.errors import ProblemError
from tools.problems.materialize import build_model, call_get_inputs, exec_source, meta_device

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Leaf:
    """A graph input: a forward argument, or a parameter/buffer of the model."""

    expr: str
    """Python expression inside ``ModelNew.forward`` (``x``, ``self.emb.weight``)."""
    kind: str
    """``input``, ``param`` or ``buffer``."""


@dataclass(frozen=True)
class AtenTrace:
    """A traced reference: the ATen graph and what its placeholders stand for."""

    gm: torch.fx.GraphModule
    leaves: dict[str, Leaf]
    """Placeholder node name -> the leaf it stands for."""
    forward_args: tuple[str, ...]
    symbolic: bool
    """True when shapes had to be traced symbolically (a data-dependent op)."""
    training: bool
    """Whether any submodule of the reference is in training mode."""

    def output(self) -> torch.fx.Node:
        """The single tensor the graph returns.

        Raises:
            ProblemError: The reference returns a tuple or a non-tensor.
        """
        out = next(n for n in self.gm.graph.nodes if n.op == "output")
        value = out.args[0]
        if isinstance(value, (tuple, list)):
            if len(value) != 1:
                raise ProblemError("The reference returns several tensors; one is expected.")
            value = value[0]
        if not isinstance(value, torch.fx.Node) or not isinstance(val(value), torch.Tensor):
            raise ProblemError("The reference does not return a single tensor.")
        return value


def val(node: Any) -> Any:
    """The fake/meta value recorded for a node (``None`` for a constant)."""
    return node.meta.get("val") if isinstance(node, torch.fx.Node) else None


def static_shape(node: Any) -> tuple[int, ...] | None:
    """The node's shape as ints, or ``None`` when unknown or not static."""
    v = val(node)
    if not isinstance(v, torch.Tensor):
        return None
    try:
        return tuple(int(s) for s in v.shape)
    except Exception:  # noqa: BLE001 - an unbacked symbolic size has no int value
        return None


def is_call(node: Any, *targets: Any) -> bool:
    """True when ``node`` calls one of the ATen overloads ``targets``."""
    return isinstance(node, torch.fx.Node) and node.op == "call_function" and node.target in targets


def op_name(node: torch.fx.Node) -> str:
    """A readable name of a node's target (``aten.cumsum.default``)."""
    return str(getattr(node.target, "__name__", node.target))


def arg(node: torch.fx.Node, index: int, name: str, default: Any = None) -> Any:
    """Argument ``index`` (positional) or ``name`` (keyword) of a call node."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


_CACHE: dict[str, AtenTrace | ProblemError] = {}


def trace_aten(source: str) -> AtenTrace:
    """Trace ``Model`` of a KernelBench source to ATen on the meta device (cached).

    Args:
        source: The reference source (trusted: the user's own code).

    Returns:
        The traced graph with its leaves.

    Raises:
        ProblemError: The source does not run on the meta device or does not trace.
    """
    key = hashlib.sha1(source.encode()).hexdigest()
    if key not in _CACHE:
        try:
            _CACHE[key] = _trace(source)
        except ProblemError as e:
            _CACHE[key] = e
    found = _CACHE[key]
    if isinstance(found, ProblemError):
        raise ProblemError(str(found)) from found
    return found


def _trace(source: str) -> AtenTrace:
    names = forward_arg_names(source)
    if names is None:
        raise ProblemError("Model.forward takes *args, **kwargs or keyword-only arguments.")
    try:
        with meta_device():
            namespace = exec_source(source, "<reference>")
            model = build_model(namespace)
            inputs = call_get_inputs(namespace)
    except Exception as e:
        raise ProblemError(
            f"The reference does not run on the meta device ({_first_line(e)})."
        ) from e
    if len(inputs) != len(names):
        raise ProblemError(
            f"get_inputs() returns {len(inputs)} values for {len(names)} forward arguments."
        )
    state = dict(model.named_parameters()) | dict(model.named_buffers())
    state_names = list(state)
    tensor_pos = [i for i, x in enumerate(inputs) if isinstance(x, torch.Tensor)]

    def run(*flat: torch.Tensor) -> Any:
        params = dict(zip(state_names, flat[: len(state_names)], strict=True))
        args = list(inputs)
        for pos, t in zip(tensor_pos, flat[len(state_names) :], strict=True):
            args[pos] = t
        return torch.func.functional_call(model, params, tuple(args))

    flat = [*state.values(), *(inputs[i] for i in tensor_pos)]
    gm, symbolic = _make_fx(run, flat)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    param_names = {n for n, _ in model.named_parameters()}
    leaves: dict[str, Leaf] = {}
    for i, node in enumerate(placeholders):
        if i < len(state_names):
            name = state_names[i]
            kind = "param" if name in param_names else "buffer"
            leaves[node.name] = Leaf(expr=f"self.{name}", kind=kind)
        else:
            leaves[node.name] = Leaf(expr=names[tensor_pos[i - len(state_names)]], kind="input")
    training = any(m.training for m in model.modules())
    return AtenTrace(gm, leaves, tuple(names), symbolic, training)


def _make_fx(fn: Any, flat: list[torch.Tensor]) -> tuple[torch.fx.GraphModule, bool]:
    try:
        with meta_device():
            return make_fx(fn, tracing_mode="real")(*flat), False
    except Exception as e:  # noqa: BLE001 - a data-dependent shape is retried symbolically
        first = e
    logger.debug("meta trace failed (%s); retrying with symbolic shapes", first)
    try:
        with meta_device():
            return make_fx(fn, tracing_mode="symbolic")(*flat), True
    except Exception as e:
        raise ProblemError(f"The reference does not trace to ATen ({_first_line(first)}).") from e


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


def _first_line(error: BaseException) -> str:
    """``TypeName: first line of the message``, for one-sentence errors."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0].rstrip('.')}" if lines else type(error).__name__


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
