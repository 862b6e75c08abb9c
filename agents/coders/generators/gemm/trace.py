"""Tracing a KernelBench reference to ATen on the meta device, for the GEMM generator.

``Model(*get_init_inputs())`` and ``get_inputs()`` are built on the ``meta`` device (no
storage), the forward is made functional (``torch.func.functional_call`` over every
parameter and buffer, ``functionalize`` to remove in-place ops) and traced with ``make_fx``
and a small decomposition table, so the graph holds ATen ops (``addmm``, ``bmm``, ``gelu``,
``view``...) with concrete shapes in ``node.meta["val"]``. Placeholders are named back to
the Python expressions that reach them inside ``ModelNew.forward`` (``x``,
``self.linear.weight``).
"""

from __future__ import annotations

import functools
import hashlib
import keyword
import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
from torch.fx.experimental.proxy_tensor import make_fx

from agents.coders.generators.gemm.shapes import shape_spec
from agents.coders.kit.reference import forward_arg_names
from tools.errors import ProblemError
from tools.problems.materialize import build_model, call_get_inputs, exec_source, meta_device

logger = logging.getLogger(__name__)

View = tuple[str, tuple[Any, ...]]
"""A replayable view op: a tensor method name and its arguments, e.g. ``("reshape", ((8, 16),))``."""

VIEW_OPS = frozenset(
    {
        "view",
        "_unsafe_view",
        "reshape",
        "t",
        "transpose",
        "permute",
        "expand",
        "unsqueeze",
        "squeeze",
        "slice",
        "select",
        "alias",
        "clone",
        "detach",
        "lift_fresh_copy",
        "contiguous",
    }
)
"""ATen ops that only re-index a tensor (replayed as tensor methods, never computed)."""
IDENTITY_OPS = frozenset({"alias", "clone", "detach", "lift_fresh_copy", "contiguous"})
MATMUL_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "dot"})
REDUCTION_OPS = frozenset(
    {
        "sum",
        "mean",
        "amax",
        "amin",
        "max",
        "min",
        "prod",
        "var",
        "std",
        "var_mean",
        "logsumexp",
        "_softmax",
        "_log_softmax",
        "softmax",
        "log_softmax",
        "cumsum",
        "norm",
        "argmax",
        "argmin",
        "native_layer_norm",
        "native_batch_norm",
        "_native_batch_norm_legit_functional",
        "native_group_norm",
        "linalg_vector_norm",
    }
)


@functools.lru_cache(1)
def _decompositions() -> dict[Any, Any]:
    """Decompositions of composite activations into ops the epilogue already knows."""
    from torch._decomp import get_decompositions

    aten = torch.ops.aten
    ops = [
        aten.rsub,
        aten.addcmul,
        aten.addcdiv,
        aten.selu,
        aten.celu,
        aten.threshold,
        aten.square,
        aten.relu6,
    ]
    return get_decompositions([op for op in ops if hasattr(op, "overloads")])


@dataclass(frozen=True)
class Traced:
    """A reference traced to ATen."""

    gm: torch.fx.GraphModule
    exprs: dict[str, str]
    """Placeholder node name -> Python expression inside ``forward`` (``x``, ``self.w``)."""
    params: frozenset[str]
    """Placeholder node names that are parameters or buffers (stable across calls)."""
    forward_args: tuple[str, ...]
    dtype: str
    """dtype name of the first floating input."""


def op_name(node: torch.fx.Node) -> str:
    """Canonical ATen op name: ``t_copy`` -> ``t``, ``relu_`` -> ``relu``, ``getitem``."""
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


def val(node: Any) -> Any:
    """The meta value recorded for a node (a tensor, a tuple, or ``None``)."""
    return node.meta.get("val") if isinstance(node, torch.fx.Node) else None


def shape_of(node: torch.fx.Node) -> tuple[int, ...]:
    """The node's tensor shape, as ints."""
    value = val(node)
    if not isinstance(value, torch.Tensor):
        raise ProblemError(f"Node {node.name} does not produce a tensor; cannot index it.")
    return tuple(int(s) for s in value.shape)


def _param_expr(name: str, kind: str) -> str:
    parts = name.split(".")
    if all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        return "self." + name
    return f"self.get_{kind}({name!r})"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _trace(source: str) -> Traced:
    args = forward_arg_names(source)
    if args is None:
        raise ProblemError("Model.forward takes *args, **kwargs or keyword-only arguments.")
    try:
        with meta_device():
            namespace = exec_source(source, "<reference>")
            model = build_model(namespace)
            inputs = call_get_inputs(namespace)
    except (Exception, SystemExit) as e:
        raise ProblemError(
            f"The reference does not run on the meta device ({_first_line(e)})."
        ) from e
    if len(inputs) != len(args) or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise ProblemError("get_inputs() must return one tensor per forward argument.")
    floating = [t for t in inputs if t.is_floating_point()]
    if len(floating) != len(inputs):
        raise ProblemError("Every forward input must be a floating-point tensor.")
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    names = list(params) + list(buffers)
    exprs = [_param_expr(n, "parameter") for n in params]
    exprs += [_param_expr(n, "buffer") for n in buffers]
    n_state = len(names)

    def forward(*flat: torch.Tensor) -> Any:
        state = dict(zip(names, flat[:n_state], strict=True))
        return torch.func.functional_call(model, state, tuple(flat[n_state:]))

    try:
        with meta_device():
            gm = make_fx(
                torch.func.functionalize(forward, remove="mutations"),
                decomposition_table=_decompositions(),
            )(*params.values(), *buffers.values(), *inputs)
    except (Exception, SystemExit) as e:
        raise ProblemError(f"The reference does not trace to ATen ({_first_line(e)}).") from e
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    all_exprs = exprs + list(args)
    if len(placeholders) != len(all_exprs):
        raise ProblemError("The traced graph's inputs do not match the model's tensors.")
    return Traced(
        gm=gm,
        exprs={p.name: e for p, e in zip(placeholders, all_exprs, strict=True)},
        params=frozenset(p.name for p in placeholders[:n_state]),
        forward_args=tuple(args),
        dtype=str(floating[0].dtype).removeprefix("torch.") if floating else "float32",
    )


_CACHE: dict[str, Traced | ProblemError] = {}


def trace_aten(source: str) -> Traced:
    """Trace ``Model`` of a KernelBench source to an ATen graph (cached per source).

    Raises:
        ProblemError: The source does not run or trace on the meta device; the message says why.
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


def view_of(node: torch.fx.Node) -> View | None:
    """The tensor method call that replays a view node (``None`` for identities)."""
    name = op_name(node)
    args = node.args
    if name in IDENTITY_OPS:
        return None
    if name in ("view", "_unsafe_view", "reshape"):
        return "kv_reshape", (shape_spec(shape_of(args[0]), shape_of(node)),)
    if name == "t":
        return "t", ()
    if name == "transpose":
        return "transpose", (int(args[1]), int(args[2]))
    if name == "permute":
        return "permute", (tuple(int(d) for d in args[1]),)
    if name == "expand":
        src, dst = shape_of(args[0]), shape_of(node)
        lead = len(dst) - len(src)
        kept = [-1 if i >= lead and src[i - lead] == d else d for i, d in enumerate(dst)]
        return "expand", (tuple(kept),)
    if name == "unsqueeze":
        return "unsqueeze", (int(args[1]),)
    if name == "squeeze":
        dims = args[1] if len(args) > 1 else None
        if dims is None:
            return "kv_reshape", (shape_spec(shape_of(args[0]), shape_of(node)),)
        return "squeeze", (int(dims),) if isinstance(dims, int) else (tuple(int(d) for d in dims),)
    if name == "select":
        return "select", (int(args[1]), int(args[2]))
    if name == "slice":
        dim = int(args[1]) if len(args) > 1 else 0
        start = args[2] if len(args) > 2 else None
        end = args[3] if len(args) > 3 else None
        step = int(args[4]) if len(args) > 4 else 1
        size = val(args[0]).shape[dim]
        start = 0 if start is None else int(start)
        end = int(size) if end is None else min(int(end), int(size))
        return "narrow_step", (dim, start, end, step)
    raise ProblemError(f"{name} is not a view the generator replays.")
