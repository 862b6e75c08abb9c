"""What op does a KernelBench file compute? ``torch.fx`` reads it without running it for real.

``Model(*get_init_inputs())`` is built on the meta device, traced with
``torch.fx.symbolic_trace`` and shape-propagated with meta inputs, so even a problem with
40 GB inputs is analysed in milliseconds. The result is the triple coders key on:
``(op, params, op_family)``, e.g. ``("softmax", {"dim": 1, "M": 4096, "N": 8192}, "softmax")``.

Params of a recognised op use the names of generated problems (see ``tools.problems.ops``):
``dim`` (non-negative when the input rank is known), ``eps``, and the sizes ``M`` (rows,
the element count divided by ``N``), ``N`` (the length along the op's dim, or the output
features) and ``K`` (the contraction length). Reductions add ``keepdim``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import fx
from torch.fx.passes.shape_prop import ShapeProp

from tools.problems import fx_names as fxn
from tools.problems.materialize import build_model, call_get_inputs, exec_source, meta_device

logger = logging.getLogger(__name__)

Inferred = tuple[str | None, dict[str, Any], str]


def _unknown() -> Inferred:
    """A fresh ``(None, {}, "unknown")`` (never a shared dict a caller could mutate)."""
    return None, {}, "unknown"


_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "min": "min", "amax": "max",
               "amin": "min", "argmax": "argmax", "argmin": "argmin"}  # fmt: skip
_POINTWISE_NAMED = ("gelu", "silu", "relu", "sigmoid", "tanh")
_MATMULS = ("matmul", "mm", "bmm")
_LOSS_FAMILY = {"mse_loss": "reduction", "cross_entropy": "softmax"}


def infer_op(source: str) -> Inferred:
    """Infer ``(op, params, op_family)`` for arbitrary KernelBench source.

    Never raises: source that cannot be run on the meta device or traced gives
    ``(None, {}, "unknown")``.

    Args:
        source: KernelBench Python source (``Model``, ``get_inputs``, ``get_init_inputs``).

    Returns:
        The op name (``None`` when not one recognised op), its params, and its family.
    """
    try:
        with meta_device():
            namespace = exec_source(source, "<problem>")
            inputs = call_get_inputs(namespace)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - failing user code is "unknown"
        logger.debug("cannot run problem source on the meta device: %s", e)
        return _unknown()
    return infer_op_from_namespace(namespace, inputs)


def infer_op_from_namespace(namespace: dict[str, Any], inputs: list[Any]) -> Inferred:
    """Infer ``(op, params, op_family)`` from an executed problem's namespace.

    Args:
        namespace: Globals of the executed problem source.
        inputs: What its ``get_inputs()`` returned (meta or CPU tensors).

    Returns:
        As :func:`infer_op`; never raises.
    """
    try:
        with meta_device():
            model = build_model(namespace)
        gm = fx.symbolic_trace(model)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - untraceable code is "unknown"
        logger.debug("cannot trace problem Model: %s", e)
        return _unknown()
    meta_inputs = [x.to("meta") if isinstance(x, torch.Tensor) else x for x in inputs]
    try:
        with meta_device():
            ShapeProp(gm).propagate(*meta_inputs)
    except Exception as e:  # noqa: BLE001 - shapes are optional extras
        logger.debug("shape propagation failed; dims stay as written: %s", e)
    try:
        return classify_graph(gm)
    except Exception as e:  # noqa: BLE001 - a surprise in an odd graph is still "unknown"
        logger.debug("cannot classify traced graph: %s", e)
        return _unknown()


def _compute_nodes(gm: fx.GraphModule) -> list[tuple[fx.Node, str]]:
    """The graph's call nodes that compute, with canonical names; max/min tuples folded."""
    ops: list[tuple[fx.Node, str]] = []
    absorbed: set[fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op not in ("call_function", "call_method", "call_module") or node in absorbed:
            continue
        name = fxn.node_name(node, gm)
        if name in fxn.STRUCTURAL:
            continue
        if name in ("max", "min") and fxn.arg(node, 1, "dim") is not None:
            users = list(node.users)
            if users and all(_is_values_of(u) for u in users):
                absorbed.update(users)
            else:
                name = f"{name}_with_indices"
        ops.append((node, name))
    return ops


def _is_values_of(node: fx.Node) -> bool:
    """Whether ``node`` reads ``.values`` (or ``[0]``) of a max/min result."""
    target = getattr(node.target, "__name__", str(node.target))
    if target == "getitem":
        return node.args[1] == 0
    return target == "getattr" and node.args[1] == "values"


def classify_graph(gm: fx.GraphModule) -> Inferred:
    """Classify a traced (and ideally shape-propagated) graph.

    Args:
        gm: The traced problem ``Model``.

    Returns:
        ``(op, params, op_family)``; a chain of only elementwise ops is
        ``("pointwise_chain", {"nodes": n}, "pointwise")``, several ops that are not all
        elementwise are ``(None, {}, "fused")``.
    """
    ops = _compute_nodes(gm)
    names = [name for _, name in ops]
    if not ops:
        return _unknown()
    output = next((n for n in gm.graph.nodes if n.op == "output"), None)
    if output is not None and not isinstance(output.args[0], fx.Node):
        return None, {}, "fused"  # several outputs: no named op returns a tuple
    if len(ops) == 1:
        single = _single_op(ops[0][0], names[0], gm)
        if single is not None:
            return single
    pattern = _linear_relu(ops, gm) or _rms_norm(ops) or _mse_loss(ops)
    if pattern is not None:
        return pattern
    if all(name in fxn.ELEMENTWISE for name in names):
        return "pointwise_chain", {"nodes": len(ops)}, "pointwise"
    if "scaled_dot_product_attention" in names:
        return None, {}, "attention"
    return _unknown() if len(ops) == 1 else (None, {}, "fused")


def _rows(shape: list[int] | None, dim: int | None = None) -> dict[str, int]:
    """``{"M": rows, "N": length along dim}`` for a known shape, else ``{}``."""
    if not shape:
        return {}
    n = shape[-1 if dim is None else dim]
    return {"M": math.prod(shape) // n if n else 0, "N": n}


def _norm_dim(dim: Any, rank: int | None) -> Any:
    """A dim made non-negative when the rank is known and the dim is in range."""
    if isinstance(dim, (list, tuple)) and len(dim) == 1:
        dim = dim[0]
    if isinstance(dim, int) and rank and -rank <= dim < rank:
        return dim % rank
    return dim


def _module(node: fx.Node, gm: fx.GraphModule) -> torch.nn.Module | None:
    return gm.get_submodule(str(node.target)) if node.op == "call_module" else None


def _single_op(node: fx.Node, name: str, gm: fx.GraphModule) -> Inferred | None:
    """Recognise one op on its own; ``None`` when it is not one of the named ops."""
    module = _module(node, gm)
    shape = fxn.shape_of(fxn.tensor_input(node))
    rank = len(shape) if shape is not None else None
    if name in ("softmax", "log_softmax"):
        dim = module.dim if module is not None else fxn.arg(node, 1, "dim")
        if dim is None and rank is not None:  # legacy implicit dim of F.softmax
            dim = 0 if rank in (0, 1, 3) else 1
        dim = _norm_dim(dim, rank)
        return name, {"dim": dim, **_rows(shape, dim if isinstance(dim, int) else None)}, "softmax"
    if name in ("layer_norm", "rms_norm"):
        return _norm_op(node, name, module, shape)
    if name in _POINTWISE_NAMED:
        params: dict[str, Any] = {}
        if name == "gelu":
            approx = module.approximate if module is not None else fxn.arg(node, 1, "approximate")
            params["approximate"] = approx or "none"
        return name, {**params, **_rows(shape)}, "pointwise"
    if name in _REDUCTIONS:
        return _reduction(node, name, shape, rank)
    if name == "cumsum":
        dim = _norm_dim(fxn.arg(node, 1, "dim"), rank)
        return "cumsum", {"dim": dim, **_rows(shape, dim if isinstance(dim, int) else None)}, "scan"
    if name in _MATMULS:
        return "matmul", _matmul_dims(shape, fxn.shape_of(fxn.arg(node, 1, "other"))), "matmul"
    if name == "linear":
        return "linear", _linear_params(node, module, shape), "matmul"
    if name in _LOSS_FAMILY:
        reduction = module.reduction if module is not None else node.kwargs.get("reduction")
        return name, {"reduction": reduction or "mean", **_rows(shape)}, _LOSS_FAMILY[name]
    return None


def _norm_op(
    node: fx.Node, name: str, module: torch.nn.Module | None, shape: list[int] | None
) -> Inferred:
    """layer_norm / rms_norm params: eps, normalized_shape, elementwise_affine, M, N."""
    if module is not None:
        eps = module.eps
        normalized = list(module.normalized_shape)
        affine = getattr(module, "weight", None) is not None
    else:
        normalized = fxn.arg(node, 1, "normalized_shape")
        normalized = [normalized] if isinstance(normalized, int) else list(normalized or [])
        affine = fxn.arg(node, 2, "weight") is not None
        eps_index = 4 if name == "layer_norm" else 3
        eps = fxn.arg(node, eps_index, "eps", 1e-5 if name == "layer_norm" else None)
    params: dict[str, Any] = {"eps": eps, "normalized_shape": normalized,
                              "elementwise_affine": affine}  # fmt: skip
    if shape and all(isinstance(d, int) for d in normalized):
        n = math.prod(normalized)
        params.update({"M": math.prod(shape) // n if n else 0, "N": n})
    return name, params, "norm"


def _reduction(node: fx.Node, name: str, shape: list[int] | None, rank: int | None) -> Inferred:
    """sum/mean/max/min/argmax/argmin along one dim; a full reduction has no op name."""
    dim = _norm_dim(fxn.arg(node, 1, "dim"), rank)
    if not isinstance(dim, int):
        return None, {}, "reduction"
    keepdim = bool(fxn.arg(node, 2, "keepdim", False))
    return _REDUCTIONS[name], {"dim": dim, "keepdim": keepdim, **_rows(shape, dim)}, "reduction"


def _matmul_dims(a: list[int] | None, b: list[int] | None) -> dict[str, int]:
    """M, N, K (and ``batch`` for batched operands) from the operand shapes."""
    if not a or not b or len(a) < 2 or len(b) < 2:
        return {}
    dims = {"M": a[-2], "N": b[-1], "K": a[-1]}
    if len(a) > 2:
        dims["batch"] = math.prod(a[:-2])
    return dims


def _linear_params(
    node: fx.Node, module: torch.nn.Module | None, shape: list[int] | None
) -> dict[str, Any]:
    """bias, and M (rows), N (out features), K (in features) for nn.Linear or F.linear."""
    if module is not None:
        params: dict[str, Any] = {"bias": module.bias is not None}
        n, k = module.out_features, module.in_features
    else:
        params = {"bias": fxn.arg(node, 2, "bias") is not None}
        weight = fxn.shape_of(fxn.arg(node, 1, "weight"))
        n, k = (weight[0], weight[1]) if weight and len(weight) == 2 else (None, None)
    if n is not None and shape:
        params.update({"M": math.prod(shape) // k if k else 0, "N": n, "K": k})
    return params


def _linear_relu(ops: list[tuple[fx.Node, str]], gm: fx.GraphModule) -> Inferred | None:
    """Linear (module or F.linear) whose only consumer is a relu."""
    if [name for _, name in ops] != ["linear", "relu"]:
        return None
    (linear, _), (relu, _) = ops
    if fxn.tensor_input(relu) is not linear:
        return None
    shape = fxn.shape_of(fxn.tensor_input(linear))
    return "linear_relu", _linear_params(linear, _module(linear, gm), shape), "matmul"


def _rms_norm(ops: list[tuple[fx.Node, str]]) -> Inferred | None:
    """x * rsqrt(mean(x^2, dim, keepdim) + eps) [* w], or x / sqrt(...), written by hand."""
    names = [name for _, name in ops]
    root = names.count("rsqrt") == 1 or (names.count("sqrt") == 1 and "truediv" in names)
    if names.count("mean") != 1 or not root:
        return None
    if not all(n in fxn.ELEMENTWISE or n == "mean" for n in names):
        return None
    mean = next(node for node, name in ops if name == "mean")
    shape = fxn.shape_of(fxn.tensor_input(mean))
    dim = _norm_dim(fxn.arg(mean, 1, "dim"), len(shape) if shape else None)
    if shape is None or not isinstance(dim, int) or not fxn.arg(mean, 2, "keepdim", False):
        return None
    eps = None
    for user in mean.users:
        constants = [a for a in user.args if fxn.is_number(a)]
        if fxn.node_name(user, user.graph.owning_module) == "add" and constants:
            eps = float(constants[0])
    if eps is None:
        return None
    return "rms_norm", {"eps": eps, "dim": dim, **_rows(shape, dim)}, "norm"


def _mse_loss(ops: list[tuple[fx.Node, str]]) -> Inferred | None:
    """mean((a - b) ** 2) over every element, written out by hand."""
    names = [name for _, name in ops]
    if len(names) != 3 or names[0] != "sub" or names[2] != "mean":
        return None
    square = ops[1][0]
    if names[1] == "pow" and square.args[1:2] != (2,):
        return None
    if names[1] not in ("pow", "square") or fxn.arg(ops[2][0], 1, "dim") is not None:
        return None
    return "mse_loss", {"reduction": "mean", **_rows(fxn.shape_of(ops[0][0]))}, "reduction"
