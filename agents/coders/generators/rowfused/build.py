"""Walking a traced ATen graph into a :class:`RowProgram` (the recogniser).

One pass over the nodes in order: placeholders become loads (full-size tensors, scalars) or
pending operands, elementwise ops become ``Compute`` steps in the widest domain of their
arguments, views relabel shapes, reductions along the row become ``Reduce`` steps and
whole-tensor reductions become row partials finished by the wrapper. Anything else raises
``ProblemError`` with one sentence naming the node. Reductions are read by
:mod:`agents.coders.generators.rowfused.reduce`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
import torch.fx

from agents.coders.generators.rowfused.aten_ops import (
    is_number,
    literal_text,
)
from agents.coders.generators.rowfused.geometry import (
    Geometry,
    is_row_identity,
    row_terms,
    tile_terms,
    wrap_terms,
)
from agents.coders.generators.rowfused.index_ops import gathered
from agents.coders.generators.rowfused.ir import (
    Arg,
    Compute,
    Kind,
    Load,
    Op,
    Operand,
    Partial,
    Term,
    kind_of,
)
from agents.coders.generators.rowfused.trace import Traced
from agents.coders.generators.rowfused.values import (
    KV,
    Leaf,
    Pend,
    PendOp,
    Value,
    Whole,
    join_shapes,
)
from agents.coders.kit.fx import require_shape, tensor_val
from tools.errors import ProblemError

_DOMAIN_RANK = {"const": 0, "row": 1, "tile": 2}
_WHOLE = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "div": "({0} / {1})",
    "neg": "(-{0})",
    "pow": "({0} ** {1})",
    "sqrt": "{0}.sqrt()",
    "rsqrt": "{0}.rsqrt()",
    "exp": "{0}.exp()",
    "log": "{0}.log()",
    "abs": "{0}.abs()",
    "reciprocal": "{0}.reciprocal()",
    "square": "({0} * {0})",
    "sigmoid": "{0}.sigmoid()",
    "tanh": "{0}.tanh()",
    "relu": "{0}.relu()",
    "clamp_min": "{0}.clamp(min={1})",
    "clamp_max": "{0}.clamp(max={1})",
    "identity": "{0}",
    "cast_f": "{0}",
    "cast_i": "{0}",
}
"""Epilogue formulas over whole-tensor values (0-d fp32 tensors in the wrapper)."""


class Builder:
    """Accumulates the row program while walking the graph (see the module docstring)."""

    def __init__(self, traced: Traced, geo: Geometry) -> None:
        self.traced = traced
        self.geo = geo
        self.operands: list[Operand] = []
        self.ops: list[Op] = []
        self.env: dict[str, Any] = {}
        self.partials: list[Partial] = []
        self.summary: list[str] = []
        self._loads: dict[tuple[int, tuple[Term, ...]], KV] = {}
        self.gathers: dict[tuple[int, tuple[Term, ...], str], KV] = {}
        self._made: dict[tuple[Pend, str, tuple[int, ...]], KV] = {}
        self._count = 0

    # ---- emission helpers ------------------------------------------------------------------
    def fresh(self) -> str:
        """A new value name."""
        self._count += 1
        return f"v{self._count - 1}"

    def load(self, operand: int, terms: tuple[Term, ...], kind: Kind, shape: tuple[int, ...]) -> KV:
        """A load of ``operand`` at ``terms`` (cached per operand and offset)."""
        key = (operand, terms)
        if key not in self._loads:
            srcs = {t.src for t in terms}
            if "f" in srcs or {"r", "n"} <= srcs:
                domain, rshape = "tile", "tile"
            elif "n" in srcs:
                domain, rshape = "tile", "col"
            elif "r" in srcs:
                domain, rshape = "row", "row"
            else:
                domain, rshape = "const", "scalar"
            var = self.fresh()
            self.ops.append(Load(var, operand, terms, domain, kind, rshape))  # type: ignore[arg-type]
            self._loads[key] = KV(var, domain, shape, kind, rshape, kind == "f")  # type: ignore[arg-type]
        return replace(self._loads[key], shape=shape)

    def compute(
        self,
        op: str,
        args: list[Arg | KV],
        kind: Kind,
        shape: tuple[int, ...],
        follows: bool | None = None,
    ) -> KV:
        """``op(*args)`` over kernel values already in place; domain and shape are joined."""
        kvs = [a for a in args if isinstance(a, KV)]
        if follows is None:
            follows = kind == "f" and any(a.follows for a in kvs)
        domain = max((a.domain for a in kvs), key=_DOMAIN_RANK.__getitem__, default="const")
        rshape = join_shapes([a.rshape for a in kvs])
        var = self.fresh()
        raw = tuple(a.var if isinstance(a, KV) else a for a in args)
        self.ops.append(Compute(var, op, raw, domain, kind, rshape))
        return KV(var, domain, shape, kind, rshape, follows)

    # ---- values ----------------------------------------------------------------------------
    def value(self, a: Any) -> Value | Arg:
        """The builder value of a node argument (a literal stays a literal)."""
        if isinstance(a, torch.fx.Node):
            return self.env[a.name]
        if is_number(a):
            return a
        raise ProblemError(f"Argument {a!r} is neither a tensor nor a number; cannot fuse it.")

    def placeholder(self, node: torch.fx.Node, index: int) -> None:
        """Bind a graph input: a full-size load, a scalar load, or a pending operand."""
        ph = self.traced.placeholders[index]
        if ph.dtype in (torch.float64, torch.complex64, torch.complex128):
            raise ProblemError(
                f"Input {ph.expr} is {ph.dtype}; the kernel computes fp32/fp16/bf16."
            )
        operand = len(self.operands)
        name = str(ph.dtype).removeprefix("torch.")
        self.operands.append(Operand(f"p{operand}", ph.expr, ph.shape, name, ph.is_input))
        kind = kind_of(ph.dtype)
        numel = math.prod(ph.shape)
        table = any(
            u.op == "call_function" and "embedding" in str(u.target) and u.args[0] is node
            for u in node.users
        )
        if numel == self.geo.total and not table:
            terms = tile_terms(ph.shape, ph.shape, self.geo)
            self.env[node.name] = self.load(operand, terms, kind, ph.shape)
        elif numel == 1:
            self.env[node.name] = self.load(operand, (), kind, ph.shape)
        else:
            self.env[node.name] = Pend(Leaf(operand, ph.shape), ph.shape, kind, kind == "f")

    def materialize(self, p: Pend, domain: str, shape: tuple[int, ...]) -> KV:
        """Loads and steps computing a pending value broadcast into a row or tile shape."""
        key = (p, domain, shape)
        if key not in self._made:
            self._made[key] = self._materialize(p, domain, shape)
        return self._made[key]

    def _materialize(self, p: Pend, domain: str, shape: tuple[int, ...]) -> KV:
        if isinstance(p.node, Leaf) and p.node.index is not None:
            return gathered(self, p, p.node, shape)
        if isinstance(p.node, Leaf):
            if domain == "tile":
                terms = tile_terms(p.node.shape, shape, self.geo)
            else:
                terms = row_terms(p.node.shape, shape, self.geo.rows)
            terms = wrap_terms(terms, p.node.wrap)
            return self.load(p.node.operand, terms, p.kind, shape)
        args: list[Arg | KV] = []
        for a in p.node.args:
            args.append(self.materialize(a, domain, shape) if isinstance(a, Pend) else a)
        return self.compute(p.node.op, args, p.kind, shape, p.follows)

    def as_kernel_arg(self, a: Value | Arg, domain: str, shape: tuple[int, ...]) -> KV | Arg:
        """An argument of a ``domain`` op with result ``shape``, checked to line up with it."""
        if isinstance(a, Pend):
            return self.materialize(a, domain, shape)
        if not isinstance(a, KV):
            return a  # type: ignore[return-value]
        if a.domain == "row":
            if domain == "tile":
                terms = tile_terms(a.shape, shape, self.geo)
            else:
                terms = row_terms(a.shape, shape, self.geo.rows)
            if not is_row_identity(terms, self.geo.rows):
                raise ProblemError(
                    f"A per-row value of shape {list(a.shape)} is broadcast to {list(shape)}"
                    " across rows, which one row program cannot index."
                )
        return a

    def elementwise(
        self,
        op: str,
        args: list[Any],
        kind: Kind,
        shape: tuple[int, ...],
        follows: bool | None = None,
    ) -> Value:
        """One elementwise op over builder values and literals.

        ``follows`` overrides whether the result's float dtype follows the operands' (an
        explicit cast to another float dtype fixes it).
        """
        vals = [self.value(a) if isinstance(a, torch.fx.Node) else a for a in args]
        vals = [
            v.var if isinstance(v, KV) and v.domain == "const" and not isinstance(v.var, str) else v
            for v in vals
        ]
        if follows is None:
            follows = kind == "f" and any(
                isinstance(v, (KV, Pend, Whole)) and v.follows for v in vals
            )
        if any(isinstance(v, Whole) for v in vals):
            return replace(self._whole_op(op, vals, kind, shape), follows=follows)
        kvs = [v for v in vals if isinstance(v, KV)]
        if any(v.per_outer for v in kvs):
            if any(isinstance(v, Pend) or (v.domain != "const" and not v.per_outer) for v in kvs):
                raise ProblemError(
                    f"{op} mixes a reduction over the inner rows with other per-row values;"
                    " one row program keeps those apart."
                )
            return replace(self.compute(op, list(vals), kind, shape, follows), per_outer=True)  # type: ignore[arg-type]
        domain = max((v.domain for v in kvs), key=_DOMAIN_RANK.__getitem__, default="const")
        if domain == "const":
            if any(isinstance(v, Pend) for v in vals):
                pend_args = tuple(v.var if isinstance(v, KV) else v for v in vals)
                return Pend(PendOp(op, pend_args, kind), shape, kind, follows)
            return self.compute(op, list(vals), kind, shape, follows)  # type: ignore[arg-type]
        if (
            domain == "row"
            and math.prod(shape) == self.geo.total
            and any(isinstance(v, Pend) for v in vals)
        ):
            domain = "tile"  # a per-row value meets a pending operand across the row
        expected = self.geo.total if domain == "tile" else self.geo.rows
        if math.prod(shape) != expected:
            raise ProblemError(
                f"{op} broadcasts {'tile' if domain == 'tile' else 'per-row'} values to shape"
                f" {list(shape)}, outside the kernel's {self.geo.rows} rows of {self.geo.n_len}."
            )
        kernel_args = [self.as_kernel_arg(v, domain, shape) for v in vals]
        return self.compute(op, kernel_args, kind, shape, follows)

    def _whole_op(self, op: str, vals: list[Any], kind: Kind, shape: tuple[int, ...]) -> Whole:
        if any(isinstance(v, (KV, Pend)) for v in vals):
            raise ProblemError(
                "A whole-tensor reduction is used again inside the rows (as in x / x.sum()),"
                " which needs a second kernel."
            )
        if op not in _WHOLE:
            raise ProblemError(f"{op} on a whole-tensor result is not supported in the epilogue.")
        texts = [v.expr if isinstance(v, Whole) else literal_text(v) for v in vals]
        return Whole(_WHOLE[op].format(*texts), shape, kind)

    # ---- views -----------------------------------------------------------------------------
    def view(self, node: torch.fx.Node, name: str) -> Value:
        """A view, reshape, expand or permute: the same value under another logical shape."""
        x = self.value(node.args[0])
        out = require_shape(node)
        if name in ("permute", "transpose", "t"):
            _check_permute(node, name)
        if name == "broadcast_in_dim":
            x = self._unsqueezed(x, node)
        if isinstance(x, Whole):
            return replace(x, shape=out)
        if not isinstance(x, (KV, Pend)):
            return KV(x, "const", out, "f", "scalar")  # type: ignore[arg-type]
        numel = math.prod(out)
        if isinstance(x, Pend):
            if numel == math.prod(x.shape):
                found = x.reshaped(out)
                if found is None:
                    raise ProblemError(
                        f"{name} of a broadcast parameter expression is not indexed."
                    )
                return found
            return Pend(x.node, out, x.kind, x.follows)  # expand: leaves broadcast right-aligned
        if numel == x.numel or x.domain == "const":
            return replace(x, shape=out)
        if x.per_outer:
            raise ProblemError(
                f"{name} broadcasts a reduction over the inner rows; cannot fuse it."
            )
        if x.domain == "row" and numel == self.geo.total:
            self.as_kernel_arg(x, "tile", out)
            return replace(x, domain="tile", shape=out)
        raise ProblemError(f"{name} grows a tensor to {list(out)}, beyond the kernel's row space.")

    def view_value(self, x: Any, shape: tuple[int, ...]) -> Any:
        """``x`` under another logical shape with as many elements."""
        if isinstance(x, Pend):
            found = x.reshaped(shape)
            if found is None:
                raise ProblemError("A view of a broadcast parameter expression is not indexed.")
            return found
        if isinstance(x, (KV, Whole)):
            return replace(x, shape=shape)
        return x

    def _unsqueezed(self, x: Any, node: torch.fx.Node) -> Any:
        """``prims.broadcast_in_dim``: first put the kept dims in place (size-1 elsewhere)."""
        out = require_shape(node)
        bdims = list(node.args[2])
        src = require_shape(node.args[0])
        shape = [1] * len(out)
        for j, d in enumerate(bdims):
            shape[d] = src[j]
        if isinstance(x, KV):
            return replace(x, shape=tuple(shape))
        if isinstance(x, Pend):
            found = x.reshaped(tuple(shape))
            if found is None:
                raise ProblemError("broadcast_in_dim of a broadcast expression is not indexed.")
            return found
        return x

    # ---- constants -------------------------------------------------------------------------
    def constant(self, node: torch.fx.Node, name: str) -> KV:
        """``scalar_tensor``/``full``/``*_like``: a literal with a shape."""
        m = tensor_val(node)
        assert m is not None
        if name == "scalar_tensor":
            raw = node.args[0]
        elif name in ("full", "full_like"):
            raw = node.args[1]
        elif name in ("zeros", "zeros_like"):
            raw = 0
        else:
            raw = 1
        kind = kind_of(m.dtype)
        value: Arg = bool(raw) if kind == "b" else (int(raw) if kind == "i" else float(raw))
        return KV(value, "const", tuple(m.shape), kind, "scalar")

    def fold(self, node: torch.fx.Node) -> KV | None:
        """Evaluate a node whose tensor inputs are all literals (on CPU, exactly as torch does)."""
        args = node.args
        if not any(isinstance(a, torch.fx.Node) for a in args):
            return None
        concrete = []
        for a in args:
            if isinstance(a, torch.fx.Node):
                v = self.env.get(a.name)
                if not (isinstance(v, KV) and v.domain == "const" and not isinstance(v.var, str)):
                    return None
                m = tensor_val(a)
                assert m is not None
                concrete.append(torch.tensor(v.var, dtype=m.dtype))
            else:
                concrete.append(a)
        kwargs = {k: v for k, v in node.kwargs.items() if k != "device"}
        result = node.target(*concrete, **kwargs)  # type: ignore[operator]
        m = tensor_val(node)
        assert m is not None
        kind = kind_of(m.dtype)
        item = result.item()
        value: Arg = bool(item) if kind == "b" else (int(item) if kind == "i" else float(item))
        return KV(value, "const", tuple(m.shape), kind, "scalar")


def _check_permute(node: torch.fx.Node, name: str) -> None:
    src = require_shape(node.args[0])
    if name == "t":
        perm = list(range(len(src)))[::-1]
    elif name == "transpose":
        perm = list(range(len(src)))
        d0, d1 = (int(d) % len(src) for d in node.args[1:3])
        perm[d0], perm[d1] = perm[d1], perm[d0]
    else:
        perm = [int(d) % len(src) for d in node.args[1]]
    order = [p for p in perm if src[p] != 1]
    if order != sorted(order):
        raise ProblemError(
            f"aten.{name} changes the memory order of the rows; the kernel reads them in place."
        )
