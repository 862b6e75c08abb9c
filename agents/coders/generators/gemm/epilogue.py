"""Translating the ATen nodes after a product into an elementwise epilogue (chain ``Step`` s).

The product's value is ``acc``; every node that depends on it must be elementwise (or a
view that keeps the row-major element order) and keep the product's element count. Tensors
that do not depend on it -- a bias, a residual input, a scale parameter, or elementwise
expressions of them -- become :class:`~agents.coders.generators.gemm.plan.Operand` s, each read at the
output element's (batch, row, column) with the broadcast pattern traced on the meta device.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.fx

from agents.coders.generators.gemm.plan import GemmPlan, Operand, Source, numel
from agents.coders.generators.gemm.trace import IDENTITY_OPS, REDUCTION_OPS, Traced, view_of
from agents.coders.kit.chain import Arg, Step, is_finite_constant
from agents.coders.kit.formulas import UNARY_ACTIVATIONS
from agents.coders.kit.fx import ancestors, arg, op_name, require_shape, val
from tools.errors import ProblemError

UNARY = frozenset(UNARY_ACTIVATIONS)
BINARY = frozenset(
    {"mul", "div", "maximum", "minimum", "gt", "ge", "lt", "le", "eq", "ne", "fmax", "fmin"}
)
RESHAPES = frozenset({"view", "_unsafe_view", "reshape", "unsqueeze", "squeeze", "flatten"})
CONSTANT_OPS = frozenset({"scalar_tensor", "full", "new_full", "new_zeros", "new_ones"})



def _order_kept(node: torch.fx.Node) -> bool:
    """True when a permute/transpose only moves size-1 dims (row-major order unchanged)."""
    name = op_name(node)
    src = require_shape(node.args[0])  # type: ignore[arg-type]
    if name == "permute":
        perm = [int(d) % len(src) for d in node.args[1]]  # type: ignore[union-attr]
    elif name == "transpose":
        perm = list(range(len(src)))
        d0, d1 = int(node.args[1]) % len(src), int(node.args[2]) % len(src)  # type: ignore[arg-type]
        perm[d0], perm[d1] = perm[d1], perm[d0]
    else:
        return False
    big = [d for d in perm if src[d] != 1]
    return big == sorted(big)


def source_of(traced: Traced, node: torch.fx.Node) -> Source | None:
    """The placeholder-plus-views a node reads, or ``None`` when it computes something."""
    views = []
    current = node
    while current.op != "placeholder":
        if current.op == "get_attr":
            raise ProblemError(
                "The reference creates a tensor constant in forward; it is not read."
            )
        name = op_name(current)
        if (
            current.op != "call_function"
            or name
            not in RESHAPES
            | {"t", "transpose", "permute", "expand", "slice", "select", "_unsafe_view"}
            | IDENTITY_OPS
        ):
            return None
        view = view_of(current)
        if view is not None:
            views.append(view)
        current = current.args[0]  # type: ignore[assignment]
    return Source(
        base=traced.exprs[current.name],
        views=tuple(reversed(views)),
        shape=require_shape(node),
        stable=current.name in traced.params,
    )


class Epilogue:
    """Accumulates operands and steps for one product's epilogue."""

    def __init__(
        self,
        traced: Traced,
        mm3: tuple[int, int, int],
        node_shape: tuple[int, ...],
        operands: list[Operand] | None = None,
        steps: list[Step] | None = None,
        real_dims: tuple[bool, bool, bool] = (False, False, False),
    ) -> None:
        self.traced = traced
        self.mm3 = mm3
        self.real_dims = real_dims
        """Which of (batch, M, N) the product really has (a size 1 there may grow at call time)."""
        self.node_shape = node_shape
        self.operands: list[Operand] = operands if operands is not None else []
        self.steps: list[Step] = steps if steps is not None else []
        self.values: dict[torch.fx.Node, Arg] = {}
        self.cast: str | None = None
        self.ops: list[str] = []
        self._side: dict[tuple[str, tuple[int, ...]], Arg] = {}
        self.forbidden: set[torch.fx.Node] = set()
        """Nodes that depend on a product but are not values here (read them: an error)."""

    # ---- building blocks ------------------------------------------------------------------
    def emit(self, op: str, *args: Arg) -> str:
        """Append ``var = op(*args)``; returns the new value's name."""
        var = f"v{len(self.steps)}"
        self.steps.append(Step(var=var, op=op, args=tuple(args)))
        self.ops.append(op)
        return var

    def operand(self, source: Source, cur_shape: tuple[int, ...]) -> str:
        """Register a tensor read at the output's position (deduplicated); returns its name."""
        try:
            probe = torch.empty(source.shape, device="meta").expand(cur_shape).reshape(self.mm3)
        except RuntimeError as e:
            raise ProblemError(
                f"{source.render()} of shape {list(source.shape)} does not broadcast to"
                f" {list(cur_shape)}."
            ) from e
        # A dim of size 1 in the traced product is ambiguous (per-batch bias of a one-expert
        # trace, or a broadcast one): an operand with a real dim there is kept, which stays
        # correct at any call-time size (the wrapper expands it), where dropping it is wrong
        # as soon as that dim grows.
        full = len(source.shape) == len(cur_shape)
        keep = tuple(
            probe.stride(d) != 0 if self.mm3[d] > 1 else full and self.real_dims[d]
            for d in range(3)
        )
        shape = None if cur_shape == self.node_shape else cur_shape
        for o in self.operands:
            if o.source == source and o.cur_shape == shape:
                return o.name
        name = f"e{len(self.operands)}"
        self.operands.append(
            Operand(
                name=name,
                source=source,
                cur_shape=shape,
                keep=keep,  # type: ignore[arg-type]
                promotes=len(source.shape) > 0 and not source.base.startswith("_kv_p"),
            )
        )
        return name

    def value(self, a: Any, cur_shape: tuple[int, ...]) -> Arg:
        """A step argument: a translated value, a constant, or a side tensor as an operand."""
        if isinstance(a, torch.fx.Node):
            if a in self.values:
                return self.values[a]
            if a in self.forbidden:
                raise ProblemError(
                    f"{a.name} reads the product's output outside the fused epilogue chain."
                )
            return self.side(a, cur_shape)
        if isinstance(a, bool):
            return float(a)
        if is_finite_constant(a):
            return float(a)
        if isinstance(a, float) and math.isinf(a):
            return a
        raise ProblemError(f"Argument {a!r} is neither a tensor nor a finite number.")

    def side(self, node: torch.fx.Node, cur_shape: tuple[int, ...]) -> Arg:
        """Translate a tensor that does not depend on the product (cached per use shape)."""
        key = (node.name, cur_shape)
        if key in self._side:
            return self._side[key]
        name = op_name(node)
        result: Arg
        if name in CONSTANT_OPS:
            result = self._constant(node)
        elif (source := source_of(self.traced, node)) is not None:
            result = self.operand(source, cur_shape)
        elif name in REDUCTION_OPS:
            raise ProblemError(f"The epilogue reads a reduction ({name}) of another tensor.")
        else:
            result = self.elementwise(node, name, cur_shape)
        self._side[key] = result
        return result

    def _constant(self, node: torch.fx.Node) -> float:
        name = op_name(node)
        if numel(require_shape(node)) != 1:
            raise ProblemError(f"{name} builds a constant tensor the epilogue does not index.")
        if name == "scalar_tensor":
            return float(node.args[0])  # type: ignore[arg-type]
        if name == "full":
            return float(node.args[1])  # type: ignore[arg-type]
        if name == "new_full":
            return float(node.args[2])  # type: ignore[arg-type]
        return 0.0 if name == "new_zeros" else 1.0

    # ---- elementwise ops ------------------------------------------------------------------
    def elementwise(self, node: torch.fx.Node, name: str, cur: tuple[int, ...]) -> Arg:
        """Emit the steps of one elementwise ATen op; returns its value."""

        def v(a: Any) -> Arg:
            return self.value(a, cur)

        x = node.args[0] if node.args else None
        if name in ("add", "sub"):
            other = v(node.args[1])
            alpha = arg(node, 2, "alpha", 1)
            if alpha != 1:
                other = self.emit("mul", other, v(alpha))
            return self.emit(name, v(x), other)
        if name == "rsub":
            other = v(x)
            alpha = arg(node, 2, "alpha", 1)
            if alpha != 1:
                other = self.emit("mul", other, v(alpha))
            return self.emit("sub", v(node.args[1]), other)
        if name == "div" and arg(node, 2, "rounding_mode") is not None:
            raise ProblemError("Division with a rounding_mode is not fused into the epilogue.")
        if name in BINARY:
            op = {"fmax": "maximum", "fmin": "minimum"}.get(name, name)
            return self.emit(op, v(x), v(node.args[1]))
        if name in UNARY:
            return self.emit(name, v(x))
        if name == "gelu":
            approximate = arg(node, 1, "approximate", "none")
            if approximate not in ("none", "tanh"):
                raise ProblemError(f"gelu approximate={approximate!r} is not fused.")
            return self.emit("gelu" if approximate == "none" else "gelu_tanh", v(x))
        if name == "leaky_relu":
            return self.emit("leaky_relu", v(x), v(arg(node, 1, "negative_slope", 0.01)))
        if name in ("hardtanh", "clamp", "clamp_min", "clamp_max"):
            return self._clamp(node, name, v)
        if name == "elu":
            if arg(node, 2, "scale", 1) != 1 or arg(node, 3, "input_scale", 1) != 1:
                raise ProblemError("elu with scale or input_scale is not fused.")
            return self.emit("elu", v(x), v(arg(node, 1, "alpha", 1.0)))
        if name == "softplus":
            beta, threshold = arg(node, 1, "beta", 1.0), arg(node, 2, "threshold", 20.0)
            return self.emit("softplus", v(x), v(beta), v(threshold))
        if name == "pow":
            exponent = node.args[1]
            if not is_finite_constant(exponent) or not isinstance(x, torch.fx.Node):
                raise ProblemError("pow is fused only with a constant exponent.")
            return self.emit("pow", v(x), float(exponent))  # type: ignore[arg-type]
        if name == "where":
            return self.emit("where", v(x), v(node.args[1]), v(node.args[2]))
        if name in IDENTITY_OPS or name == "_to_copy":
            return v(x)
        raise ProblemError(f"{name} is not an elementwise op the GEMM epilogue fuses.")

    def _clamp(self, node: torch.fx.Node, name: str, v: Any) -> Arg:
        x = v(node.args[0])
        if name == "hardtanh":
            lo, hi = arg(node, 1, "min_val", -1.0), arg(node, 2, "max_val", 1.0)
        elif name == "clamp":
            lo, hi = arg(node, 1, "min"), arg(node, 2, "max")
        elif name == "clamp_min":
            lo, hi = node.args[1], None
        else:
            lo, hi = None, node.args[1]
        if lo is not None:
            x = self.emit("clamp_min", x, v(lo))
        if hi is not None:
            x = self.emit("clamp_max", x, v(hi))
        return x

    # ---- the region after the product -----------------------------------------------------
    def start(self, node: torch.fx.Node, value: Arg) -> None:
        """The product node ``node`` holds ``value`` (``acc`` or a step after it)."""
        self.values[node] = value

    def translate(self, region: set[torch.fx.Node], end: torch.fx.Node) -> Arg:
        """Translate the region's nodes up to ``end`` (in graph order); returns ``end``'s value.

        Raises:
            ProblemError: A node is not elementwise, changes the element count, or reorders
                the product's elements.
        """
        wanted = ancestors(end) & region
        total = numel(self.mm3)
        for node in end.graph.nodes:
            if node not in wanted or node in self.values:
                continue
            name = op_name(node)
            if name == "getitem":
                self.values[node] = self._getitem(node)
                continue
            if name == "native_dropout":
                self.values[node] = self._dropout(node)
                continue
            shape = require_shape(node) if isinstance(val(node), torch.Tensor) else None
            if shape is None or numel(shape) != total:
                raise ProblemError(
                    f"{name} after the product changes its element count"
                    f" ({total} -> {numel(shape) if shape else '?'}); only elementwise"
                    " epilogues are fused."
                )
            if name in RESHAPES or name in IDENTITY_OPS:
                self.values[node] = self.value(node.args[0], shape)
            elif name in ("permute", "transpose"):
                if not _order_kept(node):
                    raise ProblemError(
                        f"The product's output is reordered by {name} before the end."
                    )
                self.values[node] = self.value(node.args[0], shape)
            elif name == "_to_copy":
                dtype = node.kwargs.get("dtype")
                if isinstance(dtype, torch.dtype) and not dtype.is_floating_point:
                    raise ProblemError("The reference casts the product to a non-float dtype.")
                self.cast = str(val(node).dtype).removeprefix("torch.")
                self.values[node] = self.value(node.args[0], shape)
            elif name in REDUCTION_OPS:
                raise ProblemError(
                    f"{name} after the product is a reduction the epilogue cannot fuse."
                )
            else:
                self.values[node] = self.elementwise(node, name, shape)
        if end not in self.values:
            raise ProblemError("The reference's output is not computed from the product.")
        return self.values[end]

    def plan(
        self,
        result: Arg,
        out: torch.fx.Node,
        product_shape: tuple[int, ...],
        cast: str | None = None,
        **fields: Any,
    ) -> GemmPlan:
        """The plan whose epilogue is this one, ``result`` being the reference's output ``out``.

        Args:
            result: The value :meth:`translate` gave for ``out``.
            out: The reference's output node.
            product_shape: The product's own output shape; ``out_shape`` is kept only when
                the output's differs (views after the product).
            cast: A cast outside this epilogue that fixes the output dtype as well.
            **fields: The plan's other fields (``rewrite``, the product's dims...).

        Raises:
            ProblemError: ``result`` is a constant: the output does not depend on the product.
        """
        if not isinstance(result, str):
            raise ProblemError("The reference's output does not depend on the product's value.")
        out_shape = require_shape(out)
        return GemmPlan(
            operands=tuple(self.operands),
            steps=tuple(self.steps),
            result=result,
            out_shape=None if out_shape == product_shape else out_shape,
            out_dtype=str(val(out).dtype).removeprefix("torch.") if self.cast or cast else None,
            **fields,
        )

    def _dropout(self, node: torch.fx.Node) -> Arg:
        p, train = arg(node, 1, "p", 0.0), arg(node, 2, "train", True)
        if train and p:
            raise ProblemError("Dropout in training mode is random; it is not fused.")
        return self.value(node.args[0], require_shape(node.args[0]))  # type: ignore[arg-type]

    def _getitem(self, node: torch.fx.Node) -> Arg:
        parent, index = node.args[0], node.args[1]
        if (
            not isinstance(parent, torch.fx.Node)
            or op_name(parent) != "native_dropout"
            or index != 0
        ):
            raise ProblemError("The epilogue indexes a tuple result it does not know.")
        return self.values[parent]
