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

from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from agents.coders.generators.gemm.shapes import shape_spec
from agents.coders.kit.cache import cached_refusals
from agents.coders.kit.fx import op_name, require_shape, val
from agents.coders.kit.trace import TraceOptions, trace_tensor_inputs
from tools.errors import ProblemError

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


GEMM_TRACE = TraceOptions(
    state=True,
    functionalize=True,
    decompositions=tuple(
        getattr(torch.ops.aten, name)
        for name in ("rsub", "addcmul", "addcdiv", "selu", "celu", "threshold", "square", "relu6")
    ),
)
"""Functional (in-place ops removed), parameters and buffers as placeholders, composite
activations decomposed into ops the epilogue already knows."""


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


def _traced(source: str) -> Traced:
    trace = trace_tensor_inputs(source, GEMM_TRACE)
    if not all(t.is_floating_point() for t in trace.inputs):
        raise ProblemError("Every forward input must be a floating-point tensor.")
    return Traced(
        gm=trace.gm,
        exprs={name: leaf.expr for name, leaf in trace.leaves.items()},
        params=frozenset(name for name, leaf in trace.leaves.items() if leaf.kind != "input"),
        forward_args=trace.forward_args,
        dtype=str(trace.inputs[0].dtype).removeprefix("torch.") if trace.inputs else "float32",
    )


trace_aten = cached_refusals(_traced, "GEMM trace")
"""Trace ``Model`` of a KernelBench source for the GEMM generator (cached per source).

Raises:
    ProblemError: The source does not run or trace on the meta device; the message says why.
"""


def view_of(node: torch.fx.Node) -> View | None:
    """The tensor method call that replays a view node (``None`` for identities)."""
    name = op_name(node)
    args = node.args
    if name in IDENTITY_OPS:
        return None
    if name in ("view", "_unsafe_view", "reshape"):
        return "kv_reshape", (shape_spec(require_shape(args[0]), require_shape(node)),)
    if name == "t":
        return "t", ()
    if name == "transpose":
        return "transpose", (int(args[1]), int(args[2]))
    if name == "permute":
        return "permute", (tuple(int(d) for d in args[1]),)
    if name == "expand":
        src, dst = require_shape(args[0]), require_shape(node)
        lead = len(dst) - len(src)
        kept = [-1 if i >= lead and src[i - lead] == d else d for i, d in enumerate(dst)]
        return "expand", (tuple(kept),)
    if name == "unsqueeze":
        return "unsqueeze", (int(args[1]),)
    if name == "squeeze":
        dims = args[1] if len(args) > 1 else None
        if dims is None:
            return "kv_reshape", (shape_spec(require_shape(args[0]), require_shape(node)),)
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
