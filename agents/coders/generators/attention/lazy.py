"""Evaluating constant mask subgraphs point by point, without building the mask.

An attention mask in a traced reference is a subgraph of constants (``arange``, ``full``,
comparisons, ``tril``...) whose shape is baked in, e.g. ``[4096, 4096]``. Instead of
materialising it, each node becomes a :class:`Lazy` value: its shape plus a function from
index tensors (one per dim, same shape) to the values at those points. The recogniser then
reads whole rows of the mask to decide whether it is causal (``j <= i + offset``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from agents.coders.kit.fx import aten, dtype_of, op_label, static_shape
from tools.errors import ProblemError

Index = tuple[torch.Tensor, ...]
MASK_POINTS = 1 << 22
"""Most mask elements read when checking that a mask is causal (whole rows at a time)."""


class LazyError(Exception):
    """A constant node the lazy evaluator does not model (carries one sentence)."""


@dataclass(frozen=True)
class Lazy:
    """A constant tensor known by its values at any index."""

    shape: tuple[int, ...]
    at: Callable[[Index], torch.Tensor]
    """Index tensors (one per dim, all the same shape) -> values at those points."""
    values: frozenset[float] | None = None
    """Every value the tensor can hold, when known (``full``, ``where`` of scalars)."""

    def scalar(self) -> float | None:
        """The single value of a one-valued tensor, else ``None``."""
        return (
            next(iter(self.values)) if self.values is not None and len(self.values) == 1 else None
        )


def constant(shape: Sequence[int], value: Any) -> Lazy:
    """A tensor of ``shape`` holding ``value`` everywhere."""
    v = value if isinstance(value, bool) else float(value)
    return Lazy(tuple(int(s) for s in shape), lambda idx: torch.tensor(v), frozenset({float(v)}))


def _as_lazy(x: Any) -> Lazy:
    if isinstance(x, Lazy):
        return x
    if isinstance(x, (bool, int, float)):
        return constant((), x)
    raise LazyError(f"{type(x).__name__} is not a constant tensor")


def _broadcast(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    try:
        return tuple(torch.broadcast_shapes(*shapes))
    except RuntimeError as e:
        raise LazyError(f"shapes {list(shapes)} do not broadcast") from e


_ZERO = torch.zeros((), dtype=torch.int64)


def _project(value: Lazy, out_shape: tuple[int, ...], idx: Index) -> torch.Tensor:
    """``value`` read at output points ``idx`` under broadcasting (result broadcastable)."""
    offset = len(out_shape) - len(value.shape)
    return value.at(
        tuple(_ZERO if size == 1 else idx[offset + d] for d, size in enumerate(value.shape))
    )


def _elementwise(fn: Callable[..., torch.Tensor], args: Sequence[Any]) -> Lazy:
    lazies = [_as_lazy(a) for a in args]
    shape = _broadcast([v.shape for v in lazies])
    return Lazy(shape, lambda idx: fn(*(_project(v, shape, idx) for v in lazies)))


def _where(cond: Any, a: Any, b: Any) -> Lazy:
    out = _elementwise(torch.where, [cond, a, b])
    va, vb = _as_lazy(a).values, _as_lazy(b).values
    values = va | vb if va is not None and vb is not None else None
    return Lazy(out.shape, out.at, values)


def _unsqueeze(x: Lazy, dim: int) -> Lazy:
    n = len(x.shape) + 1
    d = dim % n
    shape = x.shape[:d] + (1,) + x.shape[d:]
    return Lazy(shape, lambda idx: x.at(idx[:d] + idx[d + 1 :]), x.values)


def _drop_ones(x: Lazy, dims: Sequence[int]) -> Lazy:
    n = len(x.shape)
    drop = sorted({d % n for d in dims if x.shape[d % n] == 1})
    shape = tuple(s for i, s in enumerate(x.shape) if i not in drop)

    def at(idx: Index) -> torch.Tensor:
        it = iter(idx)
        return x.at(tuple(_ZERO if i in drop else next(it) for i in range(n)))

    return Lazy(shape, at, x.values)


def _reshape(x: Lazy, sizes: Sequence[int]) -> Lazy:
    """A view that only adds or removes size-1 dims (anything else is not modelled)."""
    numel = math.prod(x.shape)
    sizes = list(sizes)
    if -1 in sizes:
        known = math.prod(s for s in sizes if s != -1)
        sizes[sizes.index(-1)] = numel // known if known else 0
    if [s for s in x.shape if s != 1] != [s for s in sizes if s != 1]:
        raise LazyError(f"a view from {list(x.shape)} to {sizes} merges dims")
    src = [i for i, s in enumerate(x.shape) if s != 1]
    dst = [i for i, s in enumerate(sizes) if s != 1]

    def at(idx: Index) -> torch.Tensor:
        full = [_ZERO for _ in x.shape]
        for i, j in zip(src, dst, strict=True):
            full[i] = idx[j]
        return x.at(tuple(full))

    return Lazy(tuple(sizes), at, x.values)


def _expand(x: Lazy, sizes: Sequence[int]) -> Lazy:
    offset = len(sizes) - len(x.shape)
    shape = tuple(x.shape[i - offset] if s == -1 else int(s) for i, s in enumerate(sizes))
    return Lazy(shape, lambda idx: _project(x, shape, idx), x.values)


def _permute(x: Lazy, dims: Sequence[int]) -> Lazy:
    n = len(x.shape)
    dims = [d % n for d in dims]
    shape = tuple(x.shape[d] for d in dims)

    def at(idx: Index) -> torch.Tensor:
        src: list[torch.Tensor] = [idx[0]] * n
        for out_dim, in_dim in enumerate(dims):
            src[in_dim] = idx[out_dim]
        return x.at(tuple(src))

    return Lazy(shape, at, x.values)


def _slice(x: Lazy, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> Lazy:
    n = len(x.shape)
    d = dim % n
    size = x.shape[d]
    lo, hi, _ = slice(start, end, step).indices(size)
    length = max(0, -(-(hi - lo) // step))
    shape = x.shape[:d] + (length,) + x.shape[d + 1 :]

    def at(idx: Index) -> torch.Tensor:
        return x.at(idx[:d] + (idx[d] * step + lo,) + idx[d + 1 :])

    return Lazy(shape, at, x.values)


def _triangle(x: Lazy, diagonal: int, lower: bool) -> Lazy:
    def at(idx: Index) -> torch.Tensor:
        diff = idx[-1] - idx[-2]
        keep = diff <= diagonal if lower else diff >= diagonal
        vals = x.at(idx)
        return torch.where(keep, vals, torch.zeros_like(vals))

    values = x.values | {0.0} if x.values is not None else None
    return Lazy(x.shape, at, values)


def _arange(start: Any, end: Any = None, step: Any = 1) -> Lazy:
    if end is None:
        start, end = 0, start
    n = max(0, math.ceil((end - start) / step))
    return Lazy((n,), lambda idx: idx[0] * step + start)


def _cast(x: Lazy, dtype: torch.dtype | None) -> Lazy:
    if dtype is None:
        return x
    return Lazy(x.shape, lambda idx: x.at(idx).to(dtype), x.values)


_ELEMENTWISE: dict[str, Callable[..., torch.Tensor]] = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "le": operator.le,
    "lt": operator.lt,
    "ge": operator.ge,
    "gt": operator.gt,
    "eq": operator.eq,
    "ne": operator.ne,
}
_BINARY: dict[Any, Callable[..., torch.Tensor]] = {
    **{
        getattr(getattr(aten, name), overload): fn
        for name, fn in _ELEMENTWISE.items()
        for overload in ("Tensor", "Scalar")
    },
    aten.logical_and.default: torch.logical_and,
    aten.logical_or.default: torch.logical_or,
    aten.logical_xor.default: torch.logical_xor,
    aten.bitwise_and.Tensor: torch.logical_and,
    aten.bitwise_or.Tensor: torch.logical_or,
    aten.maximum.default: torch.maximum,
    aten.minimum.default: torch.minimum,
}
_UNARY: dict[Any, Callable[[torch.Tensor], torch.Tensor]] = {
    aten.logical_not.default: torch.logical_not,
    aten.bitwise_not.default: torch.logical_not,
    aten.neg.default: torch.neg,
}
_PASS = frozenset({aten.clone.default, aten.alias.default, aten.lift_fresh_copy.default})


def lazy_node(node: fx.Node, args: Sequence[Any]) -> Lazy:
    """The :class:`Lazy` value of one constant node, given its already-lazy arguments.

    Raises:
        LazyError: The node's op is not modelled (its name is in the message).
    """
    target, kw = node.target, dict(node.kwargs)
    shape = static_shape(node)
    if target in (aten.full.default, aten.ones.default, aten.zeros.default):
        fill = args[1] if target is aten.full.default else float(target is aten.ones.default)
        return _cast(constant(args[0], fill), dtype_of(node))
    if target is aten.full_like.default and shape is not None:
        return constant(shape, args[1])
    if target is aten.scalar_tensor.default:
        return constant((), args[0])
    if target in (aten.arange.start_step, aten.arange.start, aten.arange.default):
        return _cast(_arange(*args), dtype_of(node))
    if target in _BINARY:
        return _elementwise(_BINARY[target], args)
    if target in _UNARY:
        return _elementwise(_UNARY[target], args)
    if target is aten.where.self:
        return _where(*args)
    if target is aten.masked_fill.Scalar:
        return _where(args[1], args[2], args[0])
    if target in _PASS:
        return _as_lazy(args[0])
    if target is aten._to_copy.default:
        return _cast(_as_lazy(args[0]), kw.get("dtype"))
    if target is aten.unsqueeze.default:
        return _unsqueeze(_as_lazy(args[0]), args[1])
    if target in (aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default):
        x = _as_lazy(args[0])
        dims = args[1] if len(args) > 1 else list(range(len(x.shape)))
        return _drop_ones(x, [dims] if isinstance(dims, int) else dims)
    if target in (aten.view.default, aten._unsafe_view.default, aten.reshape.default):
        return _reshape(_as_lazy(args[0]), args[1])
    if target is aten.expand.default:
        return _expand(_as_lazy(args[0]), args[1])
    if target is aten.permute.default:
        return _permute(_as_lazy(args[0]), args[1])
    if target is aten.slice.Tensor:
        return _slice(_as_lazy(args[0]), *args[1:])
    if target in (aten.tril.default, aten.triu.default):
        diagonal = args[1] if len(args) > 1 else kw.get("diagonal", 0)
        return _triangle(_as_lazy(args[0]), int(diagonal), target is aten.tril.default)
    raise LazyError(f"{op_label(node)} is not modelled in a constant mask")


def rows_of(mask: Lazy, rows: torch.Tensor, n_rows: int, n_cols: int) -> torch.Tensor:
    """The boolean mask at ``rows`` x ``range(n_cols)``, broadcast to ``(n_rows, n_cols)``.

    Leading dims (if any) are read at index 0; the caller checks they have size 1.
    """
    i = rows[:, None].expand(len(rows), n_cols)
    j = torch.arange(n_cols)[None, :].expand(len(rows), n_cols)
    lead = mask.shape[:-2] if len(mask.shape) > 2 else ()
    out_shape = (*lead, n_rows, n_cols)
    idx = tuple(_ZERO for _ in lead) + (i, j)
    return torch.broadcast_to(_project(mask, out_shape, idx), i.shape).bool()


def causal_offset(masks: tuple[Lazy, ...], seq_q: int, seq_k: int) -> int | None:
    """The offset ``d`` such that the masks keep exactly ``j <= i + d``; ``None`` keeps all.

    Raises:
        ProblemError: The masks are not of that form, or a query row sees no key.
    """
    if not masks:
        return None
    for m in masks:
        lead = m.shape[:-2] if len(m.shape) > 2 else ()
        last = m.shape[-2:] if len(m.shape) >= 2 else (1,) + m.shape
        if any(s != 1 for s in lead) or last[0] not in (1, seq_q) or last[-1] not in (1, seq_k):
            raise ProblemError(
                f"The attention mask of shape {list(m.shape)} varies over batch or heads;"
                " only one causal mask shared by all heads is supported."
            )
    n_rows = seq_q if seq_q * seq_k <= MASK_POINTS else max(8, MASK_POINTS // max(seq_k, 1))
    if n_rows >= seq_q:
        rows = torch.arange(seq_q)
    else:
        edge = torch.arange(min(seq_q, n_rows // 4))
        spread = torch.linspace(0, seq_q - 1, max(2, n_rows // 2)).long()
        rows = torch.unique(torch.cat([edge, spread, seq_q - 1 - edge]))
    visible = torch.ones(len(rows), seq_k, dtype=torch.bool)
    for m in masks:
        visible &= rows_of(m, rows, seq_q, seq_k)
    if bool(visible.all()):
        return None
    offset = int(visible[0].sum()) - 1
    expected = torch.arange(seq_k)[None, :] <= rows[:, None] + offset
    if offset < 0 or not torch.equal(visible, expected) or not bool(visible[0, : offset + 1].all()):
        raise ProblemError(
            "The attention mask is not causal (keys j <= i + offset visible from query i),"
            " or it hides every key from some query; only causal masks are supported."
        )
    return offset
