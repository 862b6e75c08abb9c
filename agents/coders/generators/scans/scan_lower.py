"""Lowering the ATen graph around one scan into Triton lines over a tile of scan positions.

Every node is evaluated at an index along the scan dim, an :class:`Affine` map of the tile's
iteration positions ``jj`` (``a * jj + c + f * (n_l - 1)``). ``flip`` negates it,
``slice``/``narrow``/``constant_pad_nd``/``cat`` shift it and add a validity test, and
forward inputs (seen through view ops) are loaded at it; elementwise ops combine values at
the same index. So ``flip(cumsum(flip(x)))`` loads and stores in reverse order, and the
zero-column exclusive scan (``cat([0, cumsum(x)[:-1]])``) is a scan of the input shifted
by one, exact for both sums and products.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx

from agents.coders.generators.scans import pointwise as pw
from agents.coders.generators.scans.aten import IDENTITY_OPS, leaf_of, replay
from agents.coders.generators.scans.pointwise import Emitter, Val
from agents.coders.kit.fx import is_call, op_label, packet_name, static_shape, val
from agents.coders.kit.trace import AtenTrace, Leaf
from tools.errors import ProblemError

aten = torch.ops.aten

CONSTANT_OPS = {
    aten.zeros.default: 0.0,
    aten.zeros_like.default: 0.0,
    aten.new_zeros.default: 0.0,
    aten.ones.default: 1.0,
    aten.ones_like.default: 1.0,
    aten.new_ones.default: 1.0,
}
FILL_OPS = {
    aten.full.default: 1,
    aten.full_like.default: 1,
    aten.new_full.default: 2,
    aten.scalar_tensor.default: 0,
}
"""Factory -> position of its fill value."""


@dataclass(frozen=True)
class Affine:
    """An index along the scan dim: ``a * jj + c + f * (n_l - 1)``."""

    a: int = 1
    c: int = 0
    f: int = 0

    def shift(self, k: int) -> Affine:
        """The index ``k`` further on."""
        return Affine(self.a, self.c + k, self.f)

    def flip(self, length: int | None) -> Affine:
        """The mirrored index ``(length - 1) - i``; ``None`` means the full scan length."""
        if length is None:
            return Affine(-self.a, -self.c, 1 - self.f)
        return Affine(-self.a, length - 1 - self.c, -self.f)

    def code(self) -> str:
        """The Triton expression (a tile shaped like ``jj``; ``jr`` is ``n_l - 1 - jj``)."""
        f = self.f
        if self.a == -1 and f >= 1:
            terms, f = "jr", f - 1
        else:
            terms = {1: "jj", -1: "-jj", 0: "jj * 0"}[self.a]
        if f:
            terms += f" + {f} * (n_l - 1)" if f != 1 else " + (n_l - 1)"
        if self.c:
            terms += f" + {self.c}" if self.c > 0 else f" - {-self.c}"
        return f"({terms})" if terms not in ("jj", "jr") else terms


IDENT = Affine()


@dataclass
class Operand:
    """A tensor the kernel loads: a leaf seen through view ops."""

    name: str
    expr: str
    dtype: torch.dtype
    shape: tuple[int, ...]


@dataclass
class ScanLowering:
    """Evaluates graph nodes at scan indices, emitting Triton lines (see module docstring)."""

    trace: AtenTrace
    dim: int
    shape: tuple[int, ...]
    """The scan's shape S; every node is S-shaped except along ``dim``."""
    on_scan: Callable[[Affine], Val]
    em: Emitter = field(default_factory=Emitter)
    operands: dict[str, Operand] = field(default_factory=dict)
    cache: dict[tuple[str, Affine], Val] = field(default_factory=dict)
    structural: bool = False
    """True once a value depends on the traced scan length (slice, pad, cat, partial flip)."""
    scan_node: torch.fx.Node | None = None
    ops: list[str] = field(default_factory=list)

    # ---- shapes -------------------------------------------------------------------------
    def length(self, node: Any) -> int:
        """The node's size along the scan dim (1 when it broadcasts there)."""
        shape = static_shape(node)
        if shape is None:
            return 1
        d = self.dim - (len(self.shape) - len(shape))
        return shape[d] if d >= 0 else 1

    def _check_shape(self, node: torch.fx.Node) -> None:
        shape = static_shape(node)
        if shape is None or len(shape) > len(self.shape):
            raise ProblemError(f"{node.name} has a shape the scan kernel cannot index.")
        pad = len(self.shape) - len(shape)
        for i, s in enumerate(shape):
            if i + pad != self.dim and s not in (1, self.shape[i + pad]):
                raise ProblemError(
                    f"{node.name} of shape {list(shape)} does not broadcast to the scan's shape"
                    f" {list(self.shape)}."
                )

    def _dim(self, node: torch.fx.Node, d: int) -> int:
        rank = len(static_shape(node) or ())
        return d % rank if rank else 0

    # ---- evaluation ---------------------------------------------------------------------
    def value(self, node: Any, idx: Affine) -> Val:
        """``node`` at scan index ``idx`` (a number is a literal)."""
        if not isinstance(node, torch.fx.Node):
            return pw.constant(node)
        key = (node.name, idx)
        if key not in self.cache:
            self.cache[key] = self._value(node, idx)
        return self.cache[key]

    def _value(self, node: torch.fx.Node, idx: Affine) -> Val:
        if node is self.scan_node:
            return self.on_scan(idx)
        found = leaf_of(self.trace, node)
        if found is not None:
            return self._load(node, found[0], found[1], idx)
        if node.op != "call_function":
            raise ProblemError(f"{node.name} ({node.op}) is not an input the kernel can load.")
        target = node.target
        if target in CONSTANT_OPS:
            return pw.constant(CONSTANT_OPS[target])
        if target in FILL_OPS:
            return pw.constant(node.args[FILL_OPS[target]])
        if target in IDENTITY_OPS:
            return self.value(node.args[0], idx)
        if is_call(node, aten.arange.default, aten.arange.start, aten.arange.start_step):
            return self._arange(node, idx)
        if is_call(node, aten.flip.default):
            return self._flip(node, idx)
        if is_call(node, aten.slice.Tensor):
            return self._slice(node, idx)
        if is_call(node, aten.constant_pad_nd.default):
            return self._pad(node, idx)
        if is_call(node, aten.cat.default):
            return self._cat(node, idx)
        if pw.is_pointwise(target):
            self._check_shape(node)
            self.ops.append(packet_name(node))
            args = [self._operand(a, node, idx) for a in node.args]
            kwargs = {k: self._operand(v, node, idx) for k, v in node.kwargs.items()}
            return pw.lower(self.em, target, args, kwargs)
        raise ProblemError(
            f"{op_label(node)} is not an op the scan kernel fuses around cumsum/cumprod."
        )

    def _operand(self, a: Any, user: torch.fx.Node, idx: Affine) -> Any:
        if isinstance(a, torch.fx.Node) and isinstance(val(a), torch.Tensor):
            if self.length(a) == 1 and self.length(user) != 1:
                return self.value(a, Affine(0, 0, 0))
            return self.value(a, idx)
        if isinstance(a, torch.dtype) or a is None or isinstance(a, (str, bool, int, float)):
            return a
        raise ProblemError(f"Argument {a!r} of {user.name} cannot be fused.")

    def _load(self, node: torch.fx.Node, leaf: Leaf, views: list[Any], idx: Affine) -> Val:
        self._check_shape(node)
        if self.length(node) not in (1, self.shape[self.dim]):
            raise ProblemError(f"Input {leaf.expr} is not as long as the scan along its dim.")
        expr = replay(leaf.expr, views)
        operand = self.operands.get(expr)
        if operand is None:
            v = val(node)
            operand = Operand(f"in{len(self.operands)}", expr, v.dtype, static_shape(node) or ())
            if v.dtype.is_complex or v.dtype == torch.float64:
                raise ProblemError(f"Input {expr} is {v.dtype}; the kernel reads fp32/fp16/bf16.")
            self.operands[expr] = operand
        n = operand.name
        code = idx.code()
        mask = "omask & jmask"
        if idx != IDENT:
            mask = f"omask & ({code} >= 0) & ({code} < n_l)"
        load = f"tl.load({n}_ptr + {n}_base + {code}.to(tl.int64) * {n}_sl, mask={mask}, other=0)"
        if operand.dtype == torch.bool:
            return self.em.emit(f"{load} != 0", "b")
        return self.em.emit(f"{load}.to(tl.float32)")

    def _arange(self, node: torch.fx.Node, idx: Affine) -> Val:
        """``torch.arange`` along the scan dim (a running mean divides by it): start + step * i."""
        args = list(node.args)
        start, step = (0, 1) if len(args) == 1 else (args[0], args[2] if len(args) > 2 else 1)
        shape = static_shape(node) or ()
        if len(shape) != 1 or len(self.shape) - 1 != self.dim:
            raise ProblemError("torch.arange is fused only along a last-dim scan.")
        self.structural = True  # its length is baked into the graph
        self.ops.append("arange")
        index = f"{idx.code()}.to(tl.float32)"
        return self.em.emit(
            f"({pw.as_float(pw.constant(start))} + {pw.as_float(pw.constant(step))} * {index})"
        )

    def _flip(self, node: torch.fx.Node, idx: Affine) -> Val:
        x = node.args[0]
        dims = {self._dim(node, d) for d in node.args[1]}
        shape = static_shape(node) or ()
        if any(d != self.dim and shape[d] != 1 for d in dims) or self.dim not in dims:
            raise ProblemError("flip along a dim other than the scan dim is not fused.")
        n = self.length(x)
        self.ops.append("flip")
        if n == self.shape[self.dim]:
            return self.value(x, idx.flip(None))
        k = self.tracks(x)
        if k is not None:  # length n_l + k at every size: mirror about n_l + k - 1
            return self.value(x, idx.flip(None).shift(k))
        self.structural = True
        return self.value(x, idx.flip(n))

    def _slice(self, node: torch.fx.Node, idx: Affine) -> Val:
        x, d = node.args[0], self._dim(node, node.args[1])
        n = self.length(x) if d == self.dim else (static_shape(x) or (0,))[d]
        start = node.args[2] if len(node.args) > 2 and node.args[2] is not None else 0
        end = node.args[3] if len(node.args) > 3 and node.args[3] is not None else n
        step = node.args[4] if len(node.args) > 4 else 1
        start, end = _clip(start, n), _clip(end, n)
        if step != 1:
            raise ProblemError("A strided slice is not fused into the scan.")
        if d != self.dim:
            if start != 0 or end != n:
                raise ProblemError("Slicing a dim other than the scan dim is not fused.")
            return self.value(x, idx)
        raw = node.args[2] if len(node.args) > 2 and node.args[2] is not None else 0
        if int(raw) < 0:  # a start counted from the end moves with the length
            self.structural = True
        self.ops.append("slice")
        return self.value(x, idx.shift(start))

    def _pad(self, node: torch.fx.Node, idx: Affine) -> Val:
        x, pad = node.args[0], list(node.args[1])
        fill = node.args[2] if len(node.args) > 2 else 0.0
        rank = len(static_shape(node) or ())
        lo = 0  # the end padding needs no code: positions past the input read the fill
        for k in range(len(pad) // 2):
            d = rank - 1 - k
            if d == self.dim:
                lo = pad[2 * k]
            elif pad[2 * k] or pad[2 * k + 1]:
                raise ProblemError("Padding a dim other than the scan dim is not fused.")
        self.ops.append("pad")
        return self._window([(lo, self.length(x), x)], idx, pw.constant(fill))

    def _cat(self, node: torch.fx.Node, idx: Affine) -> Val:
        pieces, d = node.args[0], self._dim(node, node.args[1] if len(node.args) > 1 else 0)
        if d != self.dim:
            raise ProblemError("torch.cat along a dim other than the scan dim is not fused.")
        windows, offset = [], 0
        for i, piece in enumerate(pieces):
            n = self.length(piece)
            if n:
                windows.append((offset, n, piece))
            offset += n
            if i < len(pieces) - 1 and (n > SMALL_PIECE or n == self.shape[self.dim]):
                self.structural = True  # later offsets may move with the length
        self.ops.append("cat")
        return self._window(windows, idx, pw.constant(0.0))

    def _window(self, windows: list[tuple[int, int, Any]], idx: Affine, fill: Val) -> Val:
        """``where(i in [lo, lo + n), piece(i - lo), ...)`` over the windows, else ``fill``."""
        out = fill
        code = idx.code()
        for lo, n, piece in reversed(windows):
            inner = self.value(piece, idx.shift(-lo))
            k = self.tracks(piece)
            if k is not None:  # the window ends n_l + k + lo at every size
                end = f"(n_l + {k + lo})" if k + lo >= 0 else f"(n_l - {-(k + lo)})"
            else:
                end = str(lo + n)
                if n > SMALL_PIECE:
                    self.structural = True
            cond = f"({code} >= {lo}) & ({code} < {end})"
            if inner.kind == "b" and out.kind == "b":
                out = self.em.emit(f"tl.where({cond}, {inner.code}, {out.code})", "b")
            else:
                out = self.em.emit(f"tl.where({cond}, {pw.as_float(inner)}, {pw.as_float(out)})")
        return out

    # ---- lengths that follow the scan length ------------------------------------------------
    def tracks(self, node: Any) -> int | None:
        """``k`` when ``node``'s length along the scan dim is ``n_l + k`` at every size.

        The scan and full-length inputs track the length (``k = 0``); slices with a
        non-negative start and an open or negative end, pads, flips, elementwise ops and a
        cat whose other pieces are short constants keep tracking it. ``None`` when the
        length is a number baked into the graph.
        """
        if not isinstance(node, torch.fx.Node):
            return None
        n = self.length(node)
        if node is self.scan_node or (
            leaf_of(self.trace, node) is not None and n == self.shape[self.dim]
        ):
            return 0
        if node.op != "call_function":
            return None
        target = node.target
        if target in IDENTITY_OPS or is_call(node, aten.flip.default):
            return self.tracks(node.args[0])
        if is_call(node, aten.slice.Tensor):
            return self._slice_tracks(node)
        if is_call(node, aten.constant_pad_nd.default):
            k = self.tracks(node.args[0])
            return None if k is None else k + (n - self.length(node.args[0]))
        if is_call(node, aten.cat.default):
            pieces = [p for p in node.args[0] if self.length(p)]
            ks = [self.tracks(p) for p in pieces]
            if sum(k is not None for k in ks) != 1:
                return None
            rest = [self.length(p) for p, k in zip(pieces, ks, strict=True) if k is None]
            if any(r > SMALL_PIECE for r in rest):
                return None
            return next(k for k in ks if k is not None) + sum(rest)
        if pw.is_pointwise(target):
            for a in node.args:
                if isinstance(a, torch.fx.Node) and self.length(a) == n:
                    k = self.tracks(a)
                    if k is not None:
                        return k
        return None

    def _slice_tracks(self, node: torch.fx.Node) -> int | None:
        x = node.args[0]
        k = self.tracks(x)
        if k is None or self._dim(node, node.args[1]) != self.dim:
            return k
        start = node.args[2] if len(node.args) > 2 and node.args[2] is not None else 0
        end = node.args[3] if len(node.args) > 3 and node.args[3] is not None else None
        step = node.args[4] if len(node.args) > 4 else 1
        if step != 1 or int(start) < 0:
            return None
        if end is None or int(end) >= OPEN_END:
            return k - int(start)
        if int(end) < 0:
            return k + int(end) - int(start)
        return None


OPEN_END = 2**31
"""A slice end this large is Python's open end (``x[1:]`` traces as ``sys.maxsize``)."""
SMALL_PIECE = 8
"""A cat piece or pad this short is taken as a fixed size (a zero column), not a scaled one."""


def _clip(value: int, n: int) -> int:
    value = int(value)
    if value < 0:
        value += n
    return min(max(value, 0), n)


def numel(shape: tuple[int, ...]) -> int:
    """Elements of a shape."""
    return math.prod(shape)
