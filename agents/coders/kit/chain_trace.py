"""Tracing a reference ``Model`` with ``torch.fx`` into a pointwise :class:`Chain`.

The reference is built on the ``meta`` device (no memory, no kernels), traced symbolically,
and its shapes propagated with ``ShapeProp``. Only graphs made of elementwise operations on
float tensors, Python scalars, parameters and buffers are accepted; anything else raises
``ProblemError`` with the node that could not be fused.

Inference-mode batch norm (``F.batch_norm(..., training=False)``, or an ``nn.BatchNorm*d``
module the reference's ``__init__`` put in eval mode) is elementwise too: its running
statistics, weight and bias become per-channel broadcast operands (``view(-1, 1, 1)``) and
it lowers to ``(x - mean) / sqrt(var + eps) * weight + bias``. A batch norm in training mode
normalises with batch statistics (a reduction) and is rejected; the evaluator runs
references as built, and a freshly built module is in training mode.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from agents.coders.kit.chain import (
    BOOLEAN_OPS,
    Arg,
    Chain,
    Operand,
    OperandKind,
    Step,
    is_finite_constant,
)
from agents.coders.kit.chain_batchnorm import batch_norm_operands, is_batch_norm, lower_batch_norm
from agents.coders.kit.formulas import UNARY_ACTIVATIONS
from agents.coders.kit.fx import materialize_constants
from tools.errors import ProblemError

logger = logging.getLogger(__name__)

# canonical op -> argument names after the tensor input, with defaults
_SIGNATURES: dict[str, tuple[tuple[str, Any], ...]] = {
    "add": (("other", None), ("alpha", 1)),
    "sub": (("other", None), ("alpha", 1)),
    "mul": (("other", None),),
    "div": (("other", None), ("rounding_mode", None)),
    "pow": (("exponent", None),),
    "clamp": (("min", None), ("max", None)),
    "hardtanh": (("min_val", -1.0), ("max_val", 1.0)),
    "relu6": (),
    "leaky_relu": (("negative_slope", 0.01), ("inplace", False)),
    "elu": (("alpha", 1.0), ("inplace", False)),
    "softplus": (("beta", 1.0), ("threshold", 20.0)),
    "gelu": (("approximate", "none"),),
    "maximum": (("other", None),),
    "minimum": (("other", None),),
    **{c: (("other", None),) for c in BOOLEAN_OPS},
}
_UNARY = [*UNARY_ACTIVATIONS[:15], "square", *UNARY_ACTIVATIONS[15:], "identity"]

_FUNCTIONS: dict[Callable[..., Any], str] = {
    operator.add: "add",
    operator.sub: "sub",
    operator.mul: "mul",
    operator.truediv: "div",
    operator.neg: "neg",
    operator.pow: "pow",
    operator.abs: "abs",
    operator.gt: "gt",
    operator.ge: "ge",
    operator.lt: "lt",
    operator.le: "le",
    operator.eq: "eq",
    operator.ne: "ne",
    torch.add: "add",
    torch.sub: "sub",
    torch.mul: "mul",
    torch.div: "div",
    torch.true_divide: "div",
    torch.neg: "neg",
    torch.pow: "pow",
    torch.abs: "abs",
    torch.relu: "relu",
    torch.sigmoid: "sigmoid",
    torch.tanh: "tanh",
    torch.exp: "exp",
    torch.log1p: "log1p",
    torch.expm1: "expm1",
    torch.log: "log",
    torch.sqrt: "sqrt",
    torch.rsqrt: "rsqrt",
    torch.sin: "sin",
    torch.cos: "cos",
    torch.erf: "erf",
    torch.reciprocal: "reciprocal",
    torch.square: "square",
    torch.clamp: "clamp",
    torch.clip: "clamp",
    torch.where: "where",
    torch.maximum: "maximum",
    torch.minimum: "minimum",
    torch.gt: "gt",
    torch.ge: "ge",
    torch.lt: "lt",
    torch.le: "le",
    torch.eq: "eq",
    torch.ne: "ne",
    F.relu: "relu",
    F.gelu: "gelu",
    F.silu: "silu",
    F.sigmoid: "sigmoid",
    F.tanh: "tanh",
    F.leaky_relu: "leaky_relu",
    F.elu: "elu",
    F.softplus: "softplus",
    F.mish: "mish",
    F.hardsigmoid: "hardsigmoid",
    F.hardswish: "hardswish",
    F.hardtanh: "hardtanh",
    F.relu6: "relu6",
}
_METHODS = {
    name: name for name in _UNARY + list(_SIGNATURES)
} | {  # not where: argument order differs
    "clip": "clamp",
    "contiguous": "identity",
    "clone": "identity",
    "true_divide": "div",
}
_MODULES: dict[type[nn.Module], tuple[str, tuple[str, ...]]] = {
    nn.ReLU: ("relu", ()),
    nn.Sigmoid: ("sigmoid", ()),
    nn.Tanh: ("tanh", ()),
    nn.SiLU: ("silu", ()),
    nn.Mish: ("mish", ()),
    nn.GELU: ("gelu", ("approximate",)),
    nn.LeakyReLU: ("leaky_relu", ("negative_slope",)),
    nn.ELU: ("elu", ("alpha",)),
    nn.Softplus: ("softplus", ("beta", "threshold")),
    nn.Hardsigmoid: ("hardsigmoid", ()),
    nn.Hardswish: ("hardswish", ()),
    nn.Hardtanh: ("hardtanh", ("min_val", "max_val")),
    nn.ReLU6: ("relu6", ()),
    nn.Identity: ("identity", ()),
}


def bcast_geometry(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[int, int] | None:
    """``(inner, size)`` such that element ``i`` of the output reads ``(i // inner) % size``.

    Returns ``None`` when ``shape`` is not a contiguous range of ``out_shape``'s dims.
    """
    if len(shape) > len(out_shape):
        return None
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    dims = [i for i, s in enumerate(padded) if s != 1]
    if not dims:
        return 1, 1
    lo, hi = dims[0], dims[-1] + 1
    if any(padded[i] != out_shape[i] for i in range(lo, hi)):
        return None
    return math.prod(out_shape[hi:]), math.prod(out_shape[lo:hi])


class ChainBuilder:
    """Accumulates operands and steps while walking the graph."""

    def __init__(self, out_shape: tuple[int, ...]) -> None:
        self.out_shape = out_shape
        self.operands: list[Operand] = []
        self.steps: list[Step] = []
        self.names: dict[str, Arg] = {}
        self.ops: list[str] = []

    def operand(
        self,
        node: torch.fx.Node,
        expr: str,
        shape: tuple[int, ...] | None = None,
        key: str | None = None,
    ) -> str:
        """Register a tensor the chain reads; ``shape`` overrides its traced shape (a view)."""
        meta = node.meta.get("tensor_meta")
        if meta is None or not meta.dtype.is_floating_point:
            raise ProblemError(f"Input {node.name} is not a floating-point tensor; cannot fuse it.")
        shape = tuple(meta.shape) if shape is None else shape
        kind: OperandKind
        if shape == self.out_shape:
            kind = "full"
        elif math.prod(shape) == 1:
            kind = "scalar"
        elif bcast_geometry(shape, self.out_shape) is not None:
            kind = "bcast"
        else:
            raise ProblemError(
                f"{expr} of shape {list(shape)} broadcasts in a pattern"
                " the fused kernel cannot index."
            )
        name = f"in{len(self.operands)}"
        self.operands.append(Operand(name=name, expr=expr, kind=kind))
        self.names[key or node.name] = name
        return name

    def emit(self, op: str, *args: Arg) -> str:
        var = f"v{len(self.steps)}"
        self.steps.append(Step(var=var, op=op, args=tuple(args)))
        self.ops.append(op)
        return var

    def value(self, arg: Any) -> Arg:
        if isinstance(arg, torch.fx.Node):
            if arg.name not in self.names:
                raise ProblemError(f"Node {arg.name} has no value in the chain.")
            return self.names[arg.name]
        if is_finite_constant(arg):
            return float(arg)
        raise ProblemError(
            f"Argument {arg!r} is neither a tensor nor a finite number; cannot fuse it."
        )


def bind_args(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The arguments of a canonical op in signature order, defaults filled in."""
    spec = _SIGNATURES.get(op, ())
    if op in _UNARY or op == "relu6":
        spec = ()
    if len(args) - 1 > len(spec):
        raise ProblemError(f"Too many arguments for {op}.")
    bound = list(args[1:]) + [default for _, default in spec[len(args) - 1 :]]
    for key, value in kwargs.items():
        names = [n for n, _ in spec]
        if key == "inplace":
            continue
        if key not in names:
            raise ProblemError(f"Unsupported keyword {key}= for {op}.")
        bound[names.index(key)] = value
    return [args[0], *bound]


def lower_call(b: ChainBuilder, op: str, a: list[Any]) -> Arg:
    """Emit the steps of one canonical op; returns the value name."""
    x = b.value(a[0])
    if op in ("add", "sub"):
        other = b.value(a[1])
        if a[2] != 1:
            other = b.emit("mul", other, b.value(a[2]))
        return b.emit(op, x, other)
    if op == "div" and a[2] is not None:
        raise ProblemError("Division with rounding_mode is not fused.")
    if op == "pow":
        if not is_finite_constant(a[1]):
            raise ProblemError("pow with a tensor exponent is not fused.")
        return b.emit("pow", x, float(a[1]))
    if op in ("clamp", "hardtanh", "relu6"):
        lo, hi = (0.0, 6.0) if op == "relu6" else (a[1], a[2])
        if lo is not None:
            x = b.emit("clamp_min", x, b.value(lo))
        if hi is not None:
            x = b.emit("clamp_max", x, b.value(hi))
        return x
    if op == "gelu":
        if a[1] not in ("none", "tanh"):
            raise ProblemError(f"gelu approximate={a[1]!r} is not fused.")
        return b.emit("gelu" if a[1] == "none" else "gelu_tanh", x)
    if op in ("leaky_relu", "elu"):
        return b.emit(op, x, b.value(a[1]))
    if op == "softplus":
        return b.emit(op, x, b.value(a[1]), b.value(a[2]))
    if op in _UNARY:
        return b.emit(op, x)
    return b.emit(op, x, b.value(a[1]))


def lower_node(b: ChainBuilder, node: torch.fx.Node, gm: torch.fx.GraphModule) -> Arg:
    """Emit the steps of one elementwise call node; returns its value name.

    Raises:
        ProblemError: The node is not an elementwise op the chain knows.
    """
    op, args, kwargs = canonical_call(node, gm)
    if op == "where":  # torch.where(condition, input, other)
        if len(args) != 3 or kwargs:
            raise ProblemError("torch.where is fused only in its three-argument form.")
        return b.emit("where", b.value(args[0]), b.value(args[1]), b.value(args[2]))
    return lower_call(b, op, bind_args(op, args, kwargs))


def _binary_tensor(node: torch.fx.Node) -> bool:
    """``torch.min(x, other)`` / ``torch.max(x, other)`` with a tensor ``other``: elementwise."""
    other = node.args[1] if len(node.args) == 2 else node.kwargs.get("other")
    return (
        len(node.args) >= 1
        and isinstance(other, torch.fx.Node)
        and not node.kwargs.keys() - {"other"}
    )


def is_pointwise_node(node: torch.fx.Node, gm: torch.fx.GraphModule) -> bool:
    """A call node the chain fuses (``canonical_call`` knows it) with one tensor output."""
    if node.op not in ("call_function", "call_method", "call_module"):
        return False
    try:
        canonical_call(node, gm)
    except ProblemError:
        return False
    meta = node.meta.get("tensor_meta")
    return meta is not None and getattr(meta, "dtype", None) is not None


def canonical_call(
    node: torch.fx.Node, gm: torch.fx.GraphModule
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """The canonical op name, args and kwargs of a call node.

    Raises:
        ProblemError: The node is not an elementwise op the chain knows.
    """
    if node.op == "call_function":
        op = _FUNCTIONS.get(node.target)  # type: ignore[arg-type]
        if node.target in (torch.min, torch.max) and _binary_tensor(node):
            op = "minimum" if node.target is torch.min else "maximum"  # torch.min(x, other)
        if op is None:
            raise ProblemError(
                f"{getattr(node.target, '__name__', node.target)}"
                " is not a pointwise op the coder fuses."
            )
        return op, tuple(node.args), dict(node.kwargs)
    if node.op == "call_method":
        op = _METHODS.get(str(node.target))
        if op is None:
            raise ProblemError(f"Tensor.{node.target} is not a pointwise op the coder fuses.")
        return op, tuple(node.args), dict(node.kwargs)
    module = gm.get_submodule(str(node.target))
    entry = _MODULES.get(type(module))
    if entry is None:
        raise ProblemError(f"Module {type(module).__name__} is not a pointwise op the coder fuses.")
    op, attrs = entry
    kwargs = {name: getattr(module, name) for name in attrs}
    if op == "gelu":
        kwargs = {"approximate": module.approximate}  # type: ignore[attr-defined]
    return op, tuple(node.args), kwargs


def trace_module(
    source: str, *, proxy_buffers: bool = False
) -> tuple[torch.fx.GraphModule, nn.Module]:
    """``Model`` built on the meta device, traced with ``torch.fx`` and shape-propagated.

    Args:
        source: The reference source; it is executed (the reference is trusted input).
        proxy_buffers: Trace buffer reads as graph nodes (``self.cos[:seq]`` then slices a
            proxy, not a tensor).

    Returns:
        The graph module (``tensor_meta`` on every node) and the model it traced.

    Raises:
        ProblemError: The reference does not build, trace or run on the meta device.
    """
    namespace: dict[str, Any] = {"__name__": "kevolve_reference"}
    try:
        exec(compile(source, "<reference>", "exec"), namespace)  # noqa: S102 - the user's reference
        with torch.device("meta"):
            model = namespace["Model"](*namespace["get_init_inputs"]())
            inputs = list(namespace["get_inputs"]())
        tracer = torch.fx.Tracer()
        tracer.proxy_buffer_attributes = proxy_buffers
        gm = torch.fx.GraphModule(model, tracer.trace(model))
        ShapeProp(gm).propagate(*inputs)
        materialize_constants(gm, model)
    except ProblemError:
        raise
    except Exception as e:
        raise ProblemError(
            f"The reference could not be traced on the meta device ({type(e).__name__}: {e})."
        ) from e
    return gm, model


def trace_chain(source: str) -> Chain:
    """Trace ``Model`` from a KernelBench source into a pointwise chain.

    Args:
        source: The reference source; it is executed (the reference is trusted input).

    Returns:
        The chain, with operands for every forward input and every parameter/buffer used.

    Raises:
        ProblemError: The source does not run on the meta device, does not trace, or is not
            a pure elementwise chain.
    """
    gm, model = trace_module(source)
    return _walk(gm, model)


def _walk(gm: torch.fx.GraphModule, model: nn.Module) -> Chain:
    output = next(n for n in gm.graph.nodes if n.op == "output")
    result_node = output.args[0]
    if not isinstance(result_node, torch.fx.Node) or "tensor_meta" not in result_node.meta:
        raise ProblemError("The reference does not return a single tensor.")
    b = ChainBuilder(tuple(result_node.meta["tensor_meta"].shape))
    attrs = dict(model.named_parameters()) | dict(model.named_buffers())
    forward_args: list[str] = []
    bn_only = batch_norm_operands(gm)
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if str(node.target).startswith("*"):
                raise ProblemError("forward takes *args; cannot fuse it.")
            forward_args.append(str(node.target))
            if node.users and node not in bn_only:  # an unused input is never read
                b.operand(node, str(node.target))
        elif node.op == "get_attr":
            if node.target not in attrs:
                raise ProblemError(
                    f"Attribute {node.target} is not a parameter or buffer of Model."
                )
            if node not in bn_only:
                b.operand(node, f"self.{node.target}")
        elif is_batch_norm(node, gm):
            b.names[node.name] = lower_batch_norm(b, node, gm)
        elif node.op in ("call_function", "call_method", "call_module"):
            b.names[node.name] = lower_node(b, node, gm)
    result = b.names.get(result_node.name)
    if not isinstance(result, str) or not b.steps:
        raise ProblemError("The reference's output is not computed by a pointwise chain.")
    if any(s.var == result and s.op in BOOLEAN_OPS for s in b.steps):
        raise ProblemError("The chain returns a boolean tensor; only float outputs are fused.")
    if result in {o.name for o in b.operands}:
        result = b.emit("identity", result)
    logger.debug("traced chain %s", " -> ".join(b.ops))
    return Chain(
        operands=tuple(b.operands),
        steps=tuple(b.steps),
        result=result,
        forward_args=tuple(forward_args),
        summary=" -> ".join(b.ops),
    )
