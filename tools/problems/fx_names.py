"""Canonical names for the nodes of a ``torch.fx`` graph, and which of them are elementwise.

``torch.softmax``, ``F.softmax``, ``x.softmax`` and ``nn.Softmax`` all become ``softmax``;
in-place and reflected forms (``relu_``, ``operator.iadd``, ``__radd__``) lose their marks.
"""

from __future__ import annotations

from typing import Any

from torch import fx, nn

MODULE_NAMES: dict[type[nn.Module], str] = {
    nn.Softmax: "softmax",
    nn.LogSoftmax: "log_softmax",
    nn.LayerNorm: "layer_norm",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Linear: "linear",
    nn.Identity: "identity",
    nn.Dropout: "dropout",
    nn.LeakyReLU: "leaky_relu",
    nn.ELU: "elu",
    nn.SELU: "selu",
    nn.CELU: "celu",
    nn.Mish: "mish",
    nn.Softplus: "softplus",
    nn.Softsign: "softsign",
    nn.Hardtanh: "hardtanh",
    nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid",
    nn.Tanhshrink: "tanhshrink",
    nn.Softshrink: "softshrink",
    nn.Hardshrink: "hardshrink",
    nn.Threshold: "threshold",
    nn.MSELoss: "mse_loss",
    nn.CrossEntropyLoss: "cross_entropy",
}
"""Leaf modules that stand for one op."""
if hasattr(nn, "RMSNorm"):
    MODULE_NAMES[nn.RMSNorm] = "rms_norm"

_ALIASES = {
    "iadd": "add", "radd": "add", "imul": "mul", "rmul": "mul", "multiply": "mul",
    "isub": "sub", "rsub": "sub", "subtract": "sub", "itruediv": "truediv",
    "rtruediv": "truediv", "div": "truediv", "divide": "truediv", "true_divide": "truediv",
    "ipow": "pow", "rpow": "pow", "clip": "clamp", "negative": "neg", "absolute": "abs",
    "special_expit": "sigmoid", "expit": "sigmoid",
    "imatmul": "matmul", "rmatmul": "matmul",
}  # fmt: skip

ELEMENTWISE = frozenset(
    """
    add sub mul truediv floordiv mod remainder fmod pow neg abs exp exp2 expm1 log log2
    log10 log1p sqrt rsqrt reciprocal square sin cos tan asin acos atan sinh cosh tanh
    sigmoid logit relu relu6 gelu silu mish softplus softsign elu selu celu leaky_relu
    hardtanh hardswish hardsigmoid tanhshrink softshrink hardshrink threshold clamp
    clamp_min clamp_max minimum maximum fmax fmin where erf erfc sign floor ceil round
    trunc frac lerp addcmul addcdiv dropout float half bfloat16 double to type_as
    masked_fill nan_to_num eq ne lt le gt ge logical_and logical_or logical_not
    """.split()
)
"""Names of ops that map each output element from the same position of their inputs."""

STRUCTURAL = frozenset({"size", "dim", "numel", "contiguous", "identity", "detach"})
"""Names that move no data (or only read metadata); they never count as compute."""

_SHAPE_ATTRS = frozenset({"shape", "dtype", "device", "ndim", "is_cuda"})


def node_name(node: fx.Node, gm: fx.GraphModule) -> str:
    """The canonical op name of a call node (``"module:Conv2d"`` for an unknown module).

    Args:
        node: A ``call_function``, ``call_method`` or ``call_module`` node.
        gm: The traced module that owns the node.

    Returns:
        A lower-case name such as ``softmax``, ``add`` or ``max``.
    """
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        for cls, name in MODULE_NAMES.items():
            if type(module) is cls:
                return name
        return f"module:{type(module).__name__}"
    if node.op == "call_method":
        raw = str(node.target)
    else:
        raw = getattr(node.target, "__name__", str(node.target))
    name = raw.strip("_")
    name = _ALIASES.get(name, name)  # relu_ -> relu, __radd__ -> add, iadd -> add
    if name in ("max", "min") and len(node.args) > 1 and isinstance(node.args[1], fx.Node):
        return "maximum" if name == "max" else "minimum"
    if name == "getattr" and len(node.args) > 1 and node.args[1] in _SHAPE_ATTRS:
        return "size"
    if name == "getitem" and _reads_metadata(node.args[0]):
        return "size"
    return name


def _reads_metadata(arg: Any) -> bool:
    """Whether ``arg`` is a node that produced shape/size data rather than a tensor."""
    if not isinstance(arg, fx.Node) or arg.op not in ("call_function", "call_method"):
        return False
    target = getattr(arg.target, "__name__", str(arg.target))
    if target in ("size", "dim"):
        return True
    return target == "getattr" and len(arg.args) > 1 and arg.args[1] in _SHAPE_ATTRS


def arg(node: fx.Node, index: int, keyword: str, default: Any = None) -> Any:
    """A call's argument by position (``args[0]`` is the input tensor) or keyword.

    Args:
        node: A ``call_function`` or ``call_method`` node.
        index: Its position in ``torch.<op>(input, ...)`` form.
        keyword: Its keyword name.
        default: Returned when the argument is absent.

    Returns:
        The argument (an ``fx.Node`` for a tensor, else a constant).
    """
    if keyword in node.kwargs:
        return node.kwargs[keyword]
    if len(node.args) > index:
        return node.args[index]
    return default


def shape_of(value: Any) -> list[int] | None:
    """The shape ShapeProp recorded for a node, or ``None`` when unknown."""
    if not isinstance(value, fx.Node):
        return None
    meta = value.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    if shape is None:
        return None
    try:
        return [int(d) for d in shape]
    except (TypeError, ValueError):
        return None


def tensor_input(node: fx.Node) -> Any:
    """The first tensor argument of a call node (``input`` keyword included)."""
    if node.args:
        return node.args[0]
    return node.kwargs.get("input", node.kwargs.get("self"))


def is_number(value: Any) -> bool:
    """Whether ``value`` is a plain Python number (not a node, not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
