"""What the offline coders know about a problem: its op family, sizes and forward signature.

``analyze`` reads a ``Problem`` once (named ops from ``problem.op``/``problem.params``; other
problems by tracing ``Model`` with ``torch.fx``) and returns an :class:`OpSpec`, or raises
``ProblemError`` saying why no offline template fits.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.chain import Chain, named_chain
from agents.coders.kit.chain_trace import trace_chain
from agents.coders.kit.dtypes import DtypeSized
from agents.coders.kit.reference import forward_arg_names
from tools.errors import ProblemError
from tools.records import Problem

logger = logging.getLogger(__name__)

FAMILIES: dict[str, str] = {
    "softmax": "softmax",
    "log_softmax": "softmax",
    "sum": "reduce",
    "mean": "reduce",
    "max": "reduce",
    "cumsum": "cumsum",
    "layer_norm": "norm",
    "rms_norm": "norm",
    "gelu": "pointwise",
    "silu": "pointwise",
    "relu": "pointwise",
    "matmul": "matmul",
    "linear_relu": "matmul",
    "linear": "matmul",
    "min": "reduce",
    "sigmoid": "pointwise",
    "tanh": "pointwise",
}
"""Named op -> template family; traced chains (``op`` None or ``pointwise_chain``) are pointwise."""

ROW_FAMILIES = frozenset({"softmax", "reduce", "cumsum", "norm"})
DEFAULT_ARGS: dict[str, tuple[str, ...]] = {"matmul": ("A", "B")}


@dataclass(frozen=True)
class OpSpec(DtypeSized):
    """A problem as the templates see it."""

    family: str
    """``pointwise``, ``softmax``, ``reduce``, ``norm``, ``cumsum`` or ``matmul``."""
    op: str
    """The named op, or ``chain`` for a traced pointwise chain."""
    dtype: str
    rows: int = 0
    """M: rows of a row op or matmul (product of leading dims); 0 when unknown."""
    cols: int = 0
    """N: row length, or matmul output columns; 0 when unknown."""
    inner: int = 0
    """K: matmul reduction length; 0 when unknown."""
    forward_args: tuple[str, ...] = ("x",)
    eps: float = 1e-5
    keepdim: bool = False
    bias: bool = True
    chain: Chain | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _int(params: dict[str, Any], key: str) -> int:
    value = params.get(key, 0)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _last_dim_ok(params: dict[str, Any], ndim: int) -> bool:
    dim = params.get("dim", -1)
    return dim == -1 or (ndim > 0 and dim == ndim - 1)


def _named(problem: Problem) -> OpSpec:
    op = str(problem.op)
    params = dict(problem.params)
    family = FAMILIES.get(op)
    if family is None:
        raise ProblemError(f"The offline coders have no template for op {op!r}.")
    if op == "matmul" and any(len(s) != 2 for s in problem.shapes[:2]):
        raise ProblemError(
            "The matmul template multiplies two 2-D matrices; a vector or batched operand is"
            " left to the GEMM generator."
        )
    first_shape = problem.shapes[0] if problem.shapes else []
    rows, cols, inner = _int(params, "M"), _int(params, "N"), _int(params, "K")
    if family in ROW_FAMILIES or family == "pointwise":
        if first_shape and not cols:
            cols = int(first_shape[-1])
            rows = math.prod(int(s) for s in first_shape[:-1])
        if family in ROW_FAMILIES and not _last_dim_ok(params, len(first_shape) or 2):
            raise ProblemError(
                f"{op} over dim {params.get('dim')} is not the last dim;"
                " the templates reduce the last dim."
            )
    args = forward_arg_names(problem.source) or DEFAULT_ARGS.get(op, ("x",))
    chain = named_chain(op, params, args) if family == "pointwise" else None
    if op == "gelu" and params.get("approximate", "none") not in ("none", "tanh"):
        raise ProblemError(f"gelu approximate={params.get('approximate')!r} has no template.")
    return OpSpec(
        family=family,
        op=op,
        dtype=problem.dtype,
        rows=rows,
        cols=cols,
        inner=inner,
        forward_args=tuple(args),
        eps=float(params.get("eps", 1e-5)),
        keepdim=bool(params.get("keepdim", False)),
        bias=bool(params.get("bias", True)),
        chain=chain,
        options={"approximate": params.get("approximate", "none"), "dim": params.get("dim", -1)},
    )


def _traced(problem: Problem) -> OpSpec:
    chain = trace_chain(problem.source)
    shape = problem.shapes[0] if problem.shapes else []
    numel = math.prod(int(s) for s in shape) if shape else 0
    return OpSpec(
        family="pointwise",
        op="chain",
        dtype=problem.dtype,
        rows=1,
        cols=numel,
        forward_args=chain.forward_args,
        chain=chain,
    )


def _analyze(problem: Problem) -> OpSpec:
    if problem.op is None or problem.op == "pointwise_chain":
        return _traced(problem)
    return _named(problem)


analyze = cached_recogniser(_analyze, "offline")
"""Read a problem into an :class:`OpSpec` (cached per problem content).

Raises:
    ProblemError: No offline template fits this problem; the message says why.
"""
