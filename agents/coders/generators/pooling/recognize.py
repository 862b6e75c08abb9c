"""Recognising max/average pooling (1-D, 2-D, depth-1 3-D) and global average pooling in a trace.

After ``make_fx`` with the core decompositions, ``F.max_pool1d/2d``, ``nn.MaxPool2d``,
``F.avg_pool1d/2d``, ``nn.AvgPool2d`` and ``adaptive_avg_pool{1,2}d(x, 1)`` become one of
``max_pool2d_with_indices`` (value only), ``avg_pool2d`` or ``mean.dim`` over the trailing
dims, with 1-D forms wrapped in ``unsqueeze(-2)`` ... ``squeeze(-2)``. The recogniser accepts
exactly: input -> [unsqueeze / copies] -> one pooling op -> [views] -> output.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

from torch import fx

from agents.coders.kit.dtypes import FLOAT_DTYPES, DtypeSized
from agents.coders.kit.fx import VIEW_OVERLOADS, aten, dtype_of, op_label, static_shape
from tools.errors import ProblemError

_COPIES = frozenset({aten.clone.default, aten.alias.default})
_MAX = frozenset({aten.max_pool2d_with_indices.default, aten.max_pool2d.default})
_MAX_1D = frozenset({aten.max_pool1d_with_indices.default, aten.max_pool1d.default})
_MAX_3D = frozenset({aten.max_pool3d_with_indices.default, aten.max_pool3d.default})
_AVG = frozenset({aten.avg_pool1d.default, aten.avg_pool2d.default, aten.avg_pool3d.default})
_ADAPTIVE = {
    aten._adaptive_avg_pool2d.default: 2,
    aten.adaptive_avg_pool2d.default: 2,
    aten.adaptive_avg_pool1d.default: 1,
}
"""Adaptive average pooling ops (when not decomposed to ``mean``) -> dims they pool."""


@dataclass(frozen=True)
class PoolSpec(DtypeSized):
    """A pooling problem as the template sees it."""

    kind: str
    """``max`` or ``avg`` (windowed), or ``global_avg`` (mean over the trailing dims)."""
    dtype: str
    pool_shape: tuple[int, ...]
    """Shape of the pooling op's input (after any ``unsqueeze``): ``(..., H, W)``."""
    out_shape: tuple[int, ...]
    """Shape of the pooling op's output (before any trailing view)."""
    final_shape: tuple[int, ...]
    """Shape the reference returns."""
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    count_include_pad: bool = True
    divisor: int = 0
    """``divisor_override`` of avg pooling; 0 when not given."""
    reduce_dims: int = 0
    """``global_avg``: how many trailing dims are averaged."""
    keepdim: bool = True
    pre: tuple[int, ...] = ()
    """``unsqueeze`` dims applied to the input before pooling, in order."""
    groups: tuple[tuple[int, int], ...] | None = None
    """Trailing view: output dim i is the product of pooled dims ``[a, b)``; ``None``: none."""
    arg: int = 0
    forward_args: tuple[str, ...] = ("x",)
    dims: int = 2
    """1 for 1-D pooling (a height-1 2-D window), 2 for 2-D."""
    op: str = field(default="pool")
    family: str = field(default="pool")

    @property
    def rows(self) -> int:
        """Output rows: planes x output height (windowed), or averaged rows (global)."""
        if self.kind == "global_avg":
            return math.prod(self.pool_shape[: len(self.pool_shape) - self.reduce_dims])
        return math.prod(self.out_shape[:-1])

    @property
    def cols(self) -> int:
        """Output width (windowed), or elements averaged per row (global)."""
        if self.kind == "global_avg":
            return math.prod(self.pool_shape[len(self.pool_shape) - self.reduce_dims :])
        return self.out_shape[-1]


def _pair(value: Any) -> tuple[int, int]:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        raise ProblemError("A pooling op has no kernel size.")
    if isinstance(value, int):
        return (value, value)
    items = [int(v) for v in value]
    return (items[0], items[0]) if len(items) == 1 else (items[0], items[1])


def _depth_and_pair(value: Any) -> tuple[int, tuple[int, int]]:
    """A 3-D pooling argument as (depth, (height, width))."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        raise ProblemError("A pooling op has no kernel size.")
    if isinstance(value, int):
        return value, (value, value)
    items = [int(v) for v in value]
    return (items[0], (items[0], items[0])) if len(items) == 1 else (items[0], (items[1], items[2]))


def _arg(node: fx.Node, index: int, name: str, default: Any) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _window(node: fx.Node, is_max: bool, one_d: bool, three_d: bool = False) -> dict[str, Any]:
    """Kernel, stride, padding, dilation and avg options of a windowed pooling node.

    A 3-D window must have depth 1 (kernel 1, stride 1, padding 0, dilation 1): it is then
    2-D pooling of every (batch, channel, frame) plane.
    """
    kernel = _arg(node, 1, "kernel_size", None)
    stride = _arg(node, 2, "stride", None)
    padding = _arg(node, 3, "padding", 0)
    if is_max:
        dilation, ceil = _arg(node, 4, "dilation", 1), _arg(node, 5, "ceil_mode", False)
        options: dict[str, Any] = {}
    else:
        dilation, ceil = 1, _arg(node, 4, "ceil_mode", False)
        divisor = _arg(node, 6, "divisor_override", None)
        options = {
            "count_include_pad": bool(_arg(node, 5, "count_include_pad", True)),
            "divisor": int(divisor or 0),
        }
    if ceil:
        raise ProblemError("Pooling with ceil_mode=True is not supported; only ceil_mode=False is.")
    if three_d:
        depth, kernel = _depth_and_pair(kernel)
        d_stride, stride = (depth, kernel) if stride in (None, []) else _depth_and_pair(stride)
        d_pad, padding = _depth_and_pair(padding)
        d_dil, dilation = _depth_and_pair(dilation)
        if (depth, d_stride, d_pad, d_dil) != (1, 1, 0, 1):
            raise ProblemError(
                "3-D pooling is supported only with a depth window of 1 (stride 1, no padding)."
            )
    k = _pair(kernel)
    found: dict[str, Any] = {
        "kernel": k,
        "stride": _pair(stride) if stride not in (None, []) else k,
        "padding": _pair(padding),
        "dilation": _pair(dilation),
        **options,
    }
    if one_d:  # a 1-D op on (..., L): the same as a height-1 window on (..., 1, L)
        for key in ("kernel", "stride", "padding", "dilation"):
            found[key] = (0 if key == "padding" else 1, found[key][1])
    return found


def _behind_views(node: fx.Node) -> fx.Node:
    """Walk from the output back through views and copies to the op that computes it."""
    while node.op == "call_function" and (node.target in VIEW_OVERLOADS or node.target in _COPIES):
        node = node.args[0]  # type: ignore[assignment]
    return node


def _groups(src: tuple[int, ...], dst: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Each ``dst`` dim as a range ``[a, b)`` of ``src`` dims whose sizes multiply to it.

    Raises:
        ProblemError: ``dst`` is not a view of ``src`` that keeps the element order.
    """
    groups: list[tuple[int, int]] = []
    i = 0
    for size in dst:
        start, prod = i, 1
        while size != 1 and i < len(src) and prod < size:
            prod *= src[i]
            i += 1
        if prod != size:
            raise ProblemError(f"A view from {list(src)} to {list(dst)} is not supported.")
        groups.append((start, i))
    if any(s != 1 for s in src[i:]):
        raise ProblemError(f"A view from {list(src)} to {list(dst)} is not supported.")
    return tuple(groups)


def _global(pool: fx.Node, in_shape: tuple[int, ...]) -> tuple[int, bool]:
    """``(reduce_dims, keepdim)`` of a global average pooling node."""
    if pool.target in _ADAPTIVE:
        size = pool.args[1]
        sizes = [size] if isinstance(size, int) else list(size)  # type: ignore[arg-type]
        if any(s != 1 for s in sizes):
            raise ProblemError(
                "Adaptive average pooling is supported only to output size 1 (global average)."
            )
        return _ADAPTIVE[pool.target], True
    n = len(in_shape)
    wanted = sorted(int(d) % n for d in pool.args[1])  # type: ignore[union-attr]
    if n < 3 or len(wanted) > 2 or wanted != list(range(n - len(wanted), n)):
        raise ProblemError(f"A mean over dims {wanted} of a {n}-D input is not global pooling.")
    if _arg(pool, 3, "dtype", None) is not None:
        raise ProblemError("A mean with a dtype= argument is not supported.")
    return len(wanted), bool(_arg(pool, 2, "keepdim", False))


def recognise_pool(
    gm: fx.GraphModule,
    placeholders: tuple[fx.Node, ...],
    out: fx.Node,
    forward_args: tuple[str, ...],
) -> PoolSpec:
    """The pooling computed by the graph: input -> [unsqueeze] -> pool -> [views] -> output.

    Raises:
        ProblemError: The graph is anything else; the message names what is not supported.
    """
    top = _behind_views(out)
    pool = top.args[0] if top.target is operator.getitem else top
    if top.target is operator.getitem and top.args[1] != 0:
        raise ProblemError("The reference returns pooling indices; only values are supported.")
    if not isinstance(pool, fx.Node) or pool.op != "call_function":
        raise ProblemError("The reference's output is not computed by a pooling op.")
    others = [
        n
        for n in gm.graph.nodes
        if n.op == "call_function"
        and n is not pool
        and n.target not in VIEW_OVERLOADS
        and n.target not in _COPIES
        and n.target is not operator.getitem
    ]
    if others:
        raise ProblemError(
            f"The reference computes {op_label(others[0])} besides {op_label(pool)};"
            " only a lone pooling op is supported."
        )
    source, pre = pool.args[0], []
    while isinstance(source, fx.Node) and source.op == "call_function":
        if source.target is aten.unsqueeze.default:
            pre.insert(0, int(source.args[1]))  # type: ignore[arg-type]
        elif source.target not in _COPIES:
            break
        source = source.args[0]
    if not isinstance(source, fx.Node) or source.op != "placeholder":
        raise ProblemError(
            f"{op_label(pool)} does not read a forward input through unsqueeze only."
        )
    in_shape, out_shape, final = static_shape(pool.args[0]), static_shape(top), static_shape(out)
    dtype = str(dtype_of(source)).removeprefix("torch.")
    if in_shape is None or out_shape is None or final is None:
        raise ProblemError("The pooling input has no static shape.")
    if dtype not in FLOAT_DTYPES or dtype_of(out) != dtype_of(source):
        raise ProblemError(f"Pooling of {dtype} inputs to {dtype_of(out)} is not supported.")
    common: dict[str, Any] = {
        "dtype": dtype,
        "final_shape": final,
        "pre": tuple(pre),
        "arg": placeholders.index(source),
        "forward_args": forward_args,
    }
    target = pool.target
    if target is aten.mean.dim or target in _ADAPTIVE:
        reduce_dims, keepdim = _global(pool, in_shape)
        groups = None if final == out_shape else _groups(out_shape, final)
        return PoolSpec(
            kind="global_avg",
            pool_shape=in_shape,
            out_shape=out_shape,
            groups=groups,
            reduce_dims=reduce_dims,
            keepdim=keepdim,
            dims=reduce_dims,
            **common,
        )
    if target not in (*_MAX, *_MAX_1D, *_MAX_3D, *_AVG):
        raise ProblemError(
            f"{op_label(pool)} is not a supported pooling op (max/avg pool 1-D/2-D/3-D,"
            " global average)."
        )
    one_d = target in _MAX_1D or target is aten.avg_pool1d.default
    three_d = target in _MAX_3D or target is aten.avg_pool3d.default
    if len(in_shape) < (2 if one_d else 4 if three_d else 3):
        raise ProblemError(f"{op_label(pool)} input {list(in_shape)} has too few dims.")
    is_max = target in _MAX or target in _MAX_1D or target in _MAX_3D
    window = _window(pool, is_max, one_d, three_d)
    if one_d:  # pool (..., L) as (..., 1, L)
        in_shape = in_shape[:-1] + (1, in_shape[-1])
        out_shape = out_shape[:-1] + (1, out_shape[-1])
        common["pre"] += (-2,)
    groups = None if final == out_shape else _groups(out_shape, final)
    flat = in_shape[-2] == 1 and window["kernel"][0] == 1 and window["padding"][0] == 0
    return PoolSpec(
        kind="max" if is_max else "avg",
        pool_shape=in_shape,
        out_shape=out_shape,
        groups=groups,
        dims=1 if flat else 2,
        **common,
        **window,
    )
