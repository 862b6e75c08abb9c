"""Lowering a traced ATen graph of gathers, pointwise ops and reductions to Triton.

The reference is traced with symbolic shapes (one symbol per input dimension), so every
size the kernels use is an argument bound from the tensors ``forward`` receives, never a
constant of the traced sizes. The graph is split in three:

- **library part** (run by PyTorch in ``forward``): ops no formula covers (``cumsum``,
  ``topk``, ``searchsorted``, ``repeat_interleave``, ``cat``...), every ancestor of one,
  and matrix products whose operands all come from there (the library GEMM is kept);
- **whole-tensor reductions** (``x.sum()``, ``x.mean()``): each is its own Triton kernel,
  one program per block of the reduced elements writing a partial, the partials summed by
  PyTorch (a two-pass reduction);
- **the output kernel**: one lane per output element, one program per block of lanes.
  A value is an expression of the lane's multi-index: loads of the library part's tensors
  and the inputs at computed addresses (``embedding``, ``index``, ``gather``,
  ``index_select``: the index is itself a loaded value, negative indices wrap as in
  PyTorch), pointwise formulas (``agents.coders.kit.formulas``), views as index maps,
  ``arange``/``full`` as expressions, and row reductions (``sum``/``mean``/``amax``/
  ``amin``, softmax, matrix products over a computed operand) as loops over the reduced
  dimension whose results are computed once per lane, before the loop that uses them.

A literal of the graph that changes when the problem is re-sized (a table size passed to
``__init__`` and used by ``remainder``) is found by tracing the problem again at the
evaluator's irregular size; it must equal a dimension of some tensor at both sizes, and
becomes that dimension at run time; otherwise the problem is declined.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from torch import fx

from agents.coders.kit.formulas import formula, helpers_used
from agents.coders.kit.resized import resized_literals
from agents.coders.kit.trace import AtenTrace, TraceOptions, trace_aten
from tools.errors import ProblemError

aten = torch.ops.aten
TRACE = TraceOptions(state=True, decompositions="core", no_grad=True, symbolic=True)

_TL = {
    torch.float32: "tl.float32",
    torch.float16: "tl.float32",
    torch.bfloat16: "tl.float32",
    torch.float64: "tl.float64",
    torch.int64: "tl.int64",
    torch.int32: "tl.int32",
    torch.int16: "tl.int16",
    torch.int8: "tl.int8",
    torch.uint8: "tl.uint8",
    torch.bool: "tl.int1",
}
"""Compute type of a node's dtype (half types are computed in fp32, stored in their own)."""

_UNARY = {
    aten.neg.default: "neg",
    aten.exp.default: "exp",
    aten.exp2.default: "exp2",
    aten.log.default: "log",
    aten.log2.default: "log2",
    aten.log1p.default: "log1p",
    aten.expm1.default: "expm1",
    aten.sigmoid.default: "sigmoid",
    aten.tanh.default: "tanh",
    aten.relu.default: "relu",
    aten.abs.default: "abs",
    aten.sqrt.default: "sqrt",
    aten.rsqrt.default: "rsqrt",
    aten.reciprocal.default: "reciprocal",
    aten.sin.default: "sin",
    aten.cos.default: "cos",
    aten.erf.default: "erf",
    aten.sign.default: "sign",
    aten.floor.default: "floor",
    aten.ceil.default: "ceil",
    aten.trunc.default: "trunc",
    aten.isnan.default: "isnan",
    aten.logical_not.default: "not",
    aten.silu.default: "silu",
}
_BINARY = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "div": "div",
    "maximum": "maximum",
    "minimum": "minimum",
    "gt": "gt",
    "ge": "ge",
    "lt": "lt",
    "le": "le",
    "eq": "eq",
    "ne": "ne",
    "remainder": "remainder",
    "bitwise_and": "and",
    "bitwise_or": "or",
    "bitwise_xor": "xor",
    "logical_and": "and",
    "logical_or": "or",
    "pow": "pow",
}
_REDUCE = {
    aten.sum.dim_IntList: "sum",
    aten.sum.default: "sum",
    aten.mean.dim: "mean",
    aten.mean.default: "mean",
    aten.amax.default: "max",
    aten.amin.default: "min",
}
_VIEWS = {
    aten.view.default,
    aten._unsafe_view.default,
    aten.reshape.default,
    aten.expand.default,
    aten.unsqueeze.default,
    aten.squeeze.dim,
    aten.squeeze.dims,
    aten.squeeze.default,
    aten.permute.default,
    aten.transpose.int,
    aten.t.default,
    aten.clone.default,
    aten.alias.default,
    aten.lift_fresh_copy.default,
    aten.slice.Tensor,
    aten.select.int,
}
_INDEX = {
    aten.index.Tensor,
    aten.embedding.default,
    aten.gather.default,
    aten.index_select.default,
}
_MAKERS = {
    aten.arange.start_step,
    aten.arange.start,
    aten.arange.default,
    aten.full.default,
    aten.full_like.default,
    aten.zeros_like.default,
    aten.ones_like.default,
    aten.scalar_tensor.default,
    aten.zeros.default,
    aten.ones.default,
}
_MISC = {
    aten.where.self,
    aten.masked_fill.Scalar,
    aten.clamp.default,
    aten.clamp_min.default,
    aten.clamp_max.default,
    aten._to_copy.default,
    aten.bitwise_not.default,
    aten._softmax.default,
    aten._log_softmax.default,
    aten.softplus.default,
}
MATMULS = {aten.mm.default, aten.bmm.default, aten.addmm.default}
SCATTERS = {
    aten.scatter.src,
    aten.scatter_add.default,
    aten.index_put_.default,
    aten.index_put.default,
    aten.index_add.default,
}
"""Ops whose result is their first operand with some elements written (or added): lowered
only as the graph's result, a kernel writing the first operand then one storing the rest."""


def _binary_name(node: fx.Node) -> str | None:
    target = node.target
    if not isinstance(target, torch._ops.OpOverload):
        return None
    base = target.overloadpacket.__name__
    if base in _BINARY and target._overloadname in ("Tensor", "Scalar", "default", "Tensor_Scalar",
                                                    "Tensor_Tensor", "Scalar_Tensor"):
        return _BINARY[base]
    return None


def lowerable(node: fx.Node) -> bool:
    """True when the output kernel can compute this node from its operands."""
    t = node.target
    if node.op != "call_function" or not isinstance(tensor_of(node), torch.Tensor):
        return False
    if t in _UNARY or t in _REDUCE or t in _VIEWS or t in _INDEX or t in _MAKERS or t in _MISC:
        return True
    return t in MATMULS or _binary_name(node) is not None


_NUMBER = re.compile(r"^-?[\d.e+-]+$|^float\('[-a-z]+'\)$")


def f32(expr: str) -> str:
    """``expr`` as fp32: a cast for a value, the literal itself for a number."""
    if _NUMBER.match(expr):
        return f"{expr}.0" if re.fullmatch(r"-?\d+", expr) else expr
    return f"({expr}).to(tl.float32)"


def tensor_of(node: Any) -> Any:
    return node.meta.get("val") if isinstance(node, fx.Node) else None


def whole_reduction(node: fx.Node) -> bool:
    """A sum/mean/amax/amin over every dimension of a tensor with more than one element."""
    if node.target not in _REDUCE:
        return False
    src = tensor_of(node.args[0])
    out = tensor_of(node)
    return out is not None and out.dim() == 0 and src is not None and src.dim() > 0


# --------------------------------------------------------------------------- sizes


def size_expr(value: Any, names: dict[str, str] | None = None) -> str:
    """A Python/Triton expression of a (symbolic) size: ints and sums/products of symbols."""
    if isinstance(value, int):
        return str(value)
    expr = value.node.expr if isinstance(value, torch.SymInt) else value
    expr = sympy.sympify(expr)
    for sub in sympy.preorder_traversal(expr):
        if not isinstance(sub, (sympy.Symbol, sympy.Integer, sympy.Add, sympy.Mul)):
            raise ProblemError(f"a size of the graph is not a plain expression of the inputs' sizes ({expr}).")
        if isinstance(sub, sympy.Integer) and sub < 0 and not isinstance(sub, sympy.Integer):
            pass
    text = sympy.sstr(expr)
    return f"({text})"


def symbols_of(value: Any) -> set[str]:
    if isinstance(value, int):
        return set()
    expr = value.node.expr if isinstance(value, torch.SymInt) else value
    return {s.name for s in sympy.sympify(expr).free_symbols}


def hint(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, torch.SymInt):
        return value.node.hint
    return None


def is_one(value: Any) -> bool:
    return isinstance(value, int) and value == 1 or (
        isinstance(value, torch.SymInt) and str(value.node.expr) == "1"
    )


# --------------------------------------------------------------------------- emitter


@dataclass
class Scope:
    """A block of kernel code: the lanes' top level, or the body of one reduction loop."""

    indent: int
    parent: Scope | None = None
    items: list[Any] = field(default_factory=list)
    cursor: int | None = None
    """Where new lines go while a child loop is open (before that loop)."""
    open: bool = True

    def add(self, text: str) -> None:
        if self.cursor is None:
            self.items.append("    " * self.indent + text)
        else:
            self.items.insert(self.cursor, "    " * self.indent + text)
            self.cursor += 1

    def depth(self) -> int:
        return 0 if self.parent is None else 1 + self.parent.depth()

    def render(self) -> list[str]:
        out: list[str] = []
        for item in self.items:
            out.extend(item.render() if isinstance(item, Scope) else [item])
        return out


class KernelWriter:
    """Emits the body of one lane-per-element kernel."""

    def __init__(self, lowering: Lowering) -> None:
        self.low = lowering
        self.root = Scope(indent=1)
        self.current = self.root
        self.count = 0
        self.var_scope: dict[str, Scope] = {}
        self.memo: dict[tuple[Any, ...], str] = {}

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def scope_for(self, *texts: str) -> Scope:
        best = self.root
        for text in texts:
            for token in re.findall(r"[A-Za-z_]\w*", text):
                s = self.var_scope.get(token)
                if s is not None and s.open and s.depth() > best.depth():
                    best = s
        return best

    def define(self, prefix: str, expr: str, deps: tuple[str, ...]) -> str:
        scope = self.scope_for(expr, *deps)
        name = self.fresh(prefix)
        scope.add(f"{name} = {expr}")
        self.var_scope[name] = scope
        return name

    def value(self, node: Any, idx: tuple[str, ...]) -> str:
        """The expression of ``node`` at multi-index ``idx`` (a variable name or literal)."""
        if not isinstance(node, fx.Node):
            return self.low.literal(node)
        key = (node.name, idx)
        cached = self.memo.get(key)
        if cached is not None and (cached not in self.var_scope or self.var_scope[cached].open):
            return cached
        out = self.low.emit(self, node, idx)
        self.memo[key] = out
        return out

    def cached(self, key: tuple[Any, ...], make: Any) -> str:
        """A value computed once per key while the scope it lives in is open."""
        found = self.memo.get(key)
        if found is not None and (found not in self.var_scope or self.var_scope[found].open):
            return found
        out = make()
        self.memo[key] = out
        return out

    def reduce(
        self, op: str, dtype: torch.dtype, sizes: list[str], body: Any, deps: tuple[str, ...]
    ) -> str:
        """A loop nest over ``sizes`` accumulating ``body(loop vars)`` with ``op``, placed in
        the innermost scope its ``deps`` (the variables of its own index) live in."""
        outer = self.scope_for(*deps)
        acc = self.fresh("acc")
        floating = dtype.is_floating_point
        tl_type = "tl.float32" if floating else "tl.int64"
        init = {"sum": "0", "mean": "0", "max": "float('-inf')", "min": "float('inf')"}[op]
        if not floating and op in ("max", "min"):
            init = "-9223372036854775807" if op == "max" else "9223372036854775807"
        outer.add(f"{acc} = tl.full([BLOCK], {init}, {tl_type})")
        self.var_scope[acc] = outer
        scope = outer
        loops: list[Scope] = []
        loop_vars = []
        for size in sizes:
            var = self.fresh("r")
            loop = Scope(indent=scope.indent + 1, parent=scope)
            pos = scope.cursor if scope.cursor is not None else len(scope.items)
            scope.items.insert(pos, "    " * scope.indent + f"for {var}_ in range(0, {size}):")
            scope.items.insert(pos + 1, loop)
            loop.add(f"{var} = lane_zero + {var}_")
            scope.cursor = pos
            self.var_scope[var] = loop
            loop_vars.append(var)
            loops.append(loop)
            scope = loop
        v = body(tuple(loop_vars))
        combine = {"sum": "{0} + {1}", "mean": "{0} + {1}", "max": "tl.maximum({0}, {1})",
                   "min": "tl.minimum({0}, {1})"}[op]
        scope.add(f"{acc} = " + combine.format(acc, v))
        for loop in reversed(loops):
            loop.open = False
            assert loop.parent is not None
            loop.parent.cursor = _restore_cursor(loop.parent)
        if op == "mean":
            total = " * ".join(sizes) or "1"
            return self.define("v", f"{acc} / ({total})", (acc,))
        return acc


def _restore_cursor(scope: Scope) -> int | None:
    """The insertion point of a scope once its loop closed: before a still-open child loop."""
    for i, item in enumerate(scope.items):
        if isinstance(item, Scope) and item.open:
            return i - 1
    return None


# --------------------------------------------------------------------------- lowering


@dataclass
class Kernel:
    """One generated kernel and how ``forward`` launches it."""

    name: str
    text: str
    args: list[str]
    """Argument expressions in ``forward`` (tensors, strides, sizes, scalars)."""
    params: list[str]
    """Parameter names in the kernel signature."""
    numel: str
    out_var: str
    out_alloc: str
    post: str = ""


class Lowering:
    """The split of one traced reference into a PyTorch part and Triton kernels."""

    def __init__(self, trace: AtenTrace, bound: dict[tuple[str, int], str]) -> None:
        self.trace = trace
        self.gm = trace.gm
        self.bound = bound
        self.nodes = [n for n in self.gm.graph.nodes]
        out = [n for n in self.nodes if n.op == "output"][0]
        result = out.args[0]
        if isinstance(result, (tuple, list)):
            if len(result) != 1:
                raise ProblemError("the reference returns several tensors; one output is lowered.")
            result = result[0]
        if not isinstance(result, fx.Node) or not isinstance(tensor_of(result), torch.Tensor):
            raise ProblemError("the reference does not return one tensor.")
        self.output = result
        if any(n.op == "get_attr" for n in self.nodes):
            raise ProblemError("the traced graph holds tensor constants; no kernel reads them.")
        self.torch_part = self._library_part()
        if self.output in self.torch_part or self.output.op == "placeholder":
            raise ProblemError(
                "the reference's result comes from ops no formula covers "
                f"({self._blockers()}); PyTorch keeps it."
            )
        self.var: dict[str, str] = {}
        for n in self.nodes:
            if n.op == "placeholder":
                self.var[n.name] = trace.leaves[n.name].expr
            elif n in self.torch_part:
                self.var[n.name] = f"t_{n.name}"
        self.whole = [n for n in self.nodes if n not in self.torch_part and whole_reduction(n)
                      and self._needed(n)]
        for n in self.whole:
            self.var[n.name] = f"w_{n.name}"
        self.sym_var: dict[str, str] = {}
        self.leaf_args: dict[str, list[str]] = {}
        self.scalar_args: dict[str, str] = {}

    # ----- partition

    def _blockers(self) -> str:
        names = sorted({str(n.target).removeprefix("aten.") for n in self.torch_part
                        if n.op == "call_function" and not lowerable(n)})
        return ", ".join(names[:6]) or "none"

    def _needed(self, node: fx.Node) -> bool:
        seen, stack = set(), [self.output]
        while stack:
            n = stack.pop()
            if n is node:
                return True
            if n in seen or n in self.torch_part:
                continue
            seen.add(n)
            stack.extend(x for x in n.all_input_nodes)
        return False

    def _from_leaves(self, node: fx.Node, part: set[fx.Node]) -> bool:
        """True when ``node`` is an input, a library value, or views of them (a matrix
        product over such operands stays a library GEMM)."""
        if node.op == "placeholder" or node in part:
            return True
        if node.target not in _VIEWS:
            return False
        return all(self._from_leaves(x, part) for x in node.all_input_nodes)

    def _library_part(self) -> set[fx.Node]:
        part: set[fx.Node] = set()
        changed = True
        while changed:
            changed = False
            for n in reversed(self.nodes):
                if n.op != "call_function" or n in part:
                    continue
                if n is self.output and n.target in SCATTERS:
                    continue
                inputs = [x for x in n.all_input_nodes if isinstance(tensor_of(x), torch.Tensor)]
                library = not lowerable(n) or (
                    n.target in MATMULS and all(self._from_leaves(x, part) for x in inputs)
                )
                if library or any(u in part for u in n.users):
                    part.add(n)
                    changed = True
        # every ancestor of a library node runs in PyTorch too
        stack = list(part)
        while stack:
            n = stack.pop()
            for x in n.all_input_nodes:
                if x.op == "call_function" and x not in part:
                    part.add(x)
                    stack.append(x)
        return part

    # ----- literals and arguments

    def literal(self, value: Any) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if math.isinf(value):
                return "float('inf')" if value > 0 else "float('-inf')"
            if math.isnan(value):
                return "float('nan')"
            return repr(value)
        if isinstance(value, torch.SymInt):
            return self.size(value)
        raise ProblemError(f"a scalar argument of the graph is not a number ({value!r}).")

    def size(self, value: Any) -> str:
        if isinstance(value, int):
            return str(value)
        for s in symbols_of(value):
            self.sym_var.setdefault(s, "")
        return size_expr(value)

    def scalar_arg(self, node: fx.Node, pos: int, value: Any) -> str:
        """A scalar operand: a literal, a bound literal (re-sized with the problem) or a
        symbolic integer computed in ``forward``."""
        key = (node.name, pos)
        if key in self.bound:
            bound = self.bound[key]
            if bound.startswith("self."):
                name = "c_" + bound.removeprefix("self.").replace(".", "_")
                self.scalar_args[name] = bound
                return name
            self.sym_var.setdefault(bound, "")
            return f"({bound})"
        if isinstance(value, fx.Node):
            name = f"k_{value.name}"
            self.scalar_args[name] = self.var.get(value.name, value.name)
            return name
        return self.literal(value)

    def load(self, w: KernelWriter, node: fx.Node, idx: tuple[str, ...]) -> str:
        t = tensor_of(node)
        name = self.var[node.name]
        arg = re.sub(r"\W", "_", name).strip("_")
        ptr = f"p_{arg}"
        if ptr not in self.leaf_args:
            strides = [f"st_{arg}_{d}" for d in range(t.dim())]
            self.leaf_args[ptr] = [name, *strides]
            for size in t.shape:
                self.size(size)
        terms = []
        for d, e in enumerate(idx):
            if e == "0":
                continue
            terms.append(f"({e}).to(tl.int64) * st_{arg}_{d}" if not e.isdigit() else f"{e} * st_{arg}_{d}")
        addr = " + ".join(terms) or "0"
        if all(e.isdigit() for e in idx):  # a fixed element (a 0-d tensor): every lane reads it
            expr = f"tl.load({ptr} + {addr})"
        else:
            expr = f"tl.load({ptr} + {addr}, mask=lane_mask, other=0)"
        if t.dtype.is_floating_point and t.dtype != torch.float64:
            expr += ".to(tl.float32)"
        return w.define("v", expr, idx)

    # ----- emission

    def emit(self, w: KernelWriter, node: fx.Node, idx: tuple[str, ...]) -> str:
        if node.op == "placeholder" or node in self.torch_part or node in self.whole:
            return self.load(w, node, idx)
        t = node.target
        val = tensor_of(node)
        args = node.args
        kw = node.kwargs
        dt = _TL.get(val.dtype)
        if dt is None:
            raise ProblemError(f"dtype {val.dtype} has no kernel type here.")

        def cast(expr: str, deps: tuple[str, ...]) -> str:
            if _NUMBER.match(expr):
                return expr
            if val.dtype == torch.bool:
                return w.define("v", expr, deps)
            return w.define("v", f"({expr}).to({dt})", deps)

        def operand(a: Any, pos: int) -> str:
            if isinstance(a, fx.Node) and isinstance(tensor_of(a), torch.Tensor):
                return self.broadcast(w, a, idx, val)
            return self.scalar_arg(node, pos, a)

        if t in _UNARY:
            x = operand(args[0], 0)
            if val.dtype.is_floating_point:
                x = f32(x)
            return cast(formula(_UNARY[t], "triton").format(x), idx)
        name = _binary_name(node)
        if name is not None:
            if kw.get("alpha", 1) != 1 or kw.get("rounding_mode") is not None:
                raise ProblemError(f"{t} with alpha or rounding_mode is not lowered.")
            a, b = operand(args[0], 0), operand(args[1], 1)
            if val.dtype.is_floating_point or name == "div":
                a, b = f32(a), f32(b)
            if name == "remainder":
                expr = formula("remainder", "triton").format(a, b)
            else:
                expr = formula(name, "triton").format(a, b)
            return cast(expr, idx)
        if t is aten.where.self:
            c, a, b = operand(args[0], 0), operand(args[1], 1), operand(args[2], 2)
            return cast(f"tl.where({c}, {a}, {b})", idx)
        if t is aten.masked_fill.Scalar:
            x, m = operand(args[0], 0), operand(args[1], 1)
            return cast(f"tl.where({m}, {self.scalar_arg(node, 2, args[2])}, {x})", idx)
        if t in (aten.clamp.default, aten.clamp_min.default, aten.clamp_max.default):
            x = operand(args[0], 0)
            lo = args[1] if t is not aten.clamp_max.default and len(args) > 1 else kw.get("min")
            hi = (args[2] if len(args) > 2 else kw.get("max")) if t is aten.clamp.default else (
                args[1] if t is aten.clamp_max.default else None)
            if lo is not None:
                x = w.define("v", f"tl.maximum({x}, {self.scalar_arg(node, 1, lo)})", idx)
            if hi is not None:
                pos = 2 if t is aten.clamp.default else 1
                x = w.define("v", f"tl.minimum({x}, {self.scalar_arg(node, pos, hi)})", idx)
            return cast(x, idx)
        if t is aten._to_copy.default or t in (aten.clone.default, aten.alias.default,
                                               aten.lift_fresh_copy.default):
            x = w.value(args[0], idx)
            if val.dtype == torch.bool:
                return w.define("v", f"({x}) != 0", idx)
            return cast(x, idx)
        if t is aten.bitwise_not.default:
            x = operand(args[0], 0)
            return cast(f"({x}) == 0" if val.dtype == torch.bool else f"~({x})", idx)
        if t is aten.softplus.default:
            x = f32(operand(args[0], 0))
            beta = self.literal(args[1] if len(args) > 1 else 1.0)
            thr = self.literal(args[2] if len(args) > 2 else 20.0)
            return cast(formula("softplus", "triton").format(x, beta, thr), idx)
        if t in _MAKERS:
            return self.maker(w, node, idx)
        if t in _VIEWS:
            return w.value(args[0], self.view_index(node, idx))
        if t in _INDEX:
            return self.index(w, node, idx)
        if t in _REDUCE:
            return self.reduction(w, node, idx)
        if t in (aten._softmax.default, aten._log_softmax.default):
            return self.softmax(w, node, idx)
        if t in MATMULS:
            return self.matmul(w, node, idx)
        raise ProblemError(f"{t} is not lowered.")

    def broadcast(self, w: KernelWriter, a: fx.Node, idx: tuple[str, ...], out: torch.Tensor) -> str:
        shape = tensor_of(a).shape
        lead = len(idx) - len(shape)
        sub = tuple("0" if is_one(s) and not is_one(out.shape[lead + i]) else idx[lead + i]
                    for i, s in enumerate(shape))
        return w.value(a, sub)

    def maker(self, w: KernelWriter, node: fx.Node, idx: tuple[str, ...]) -> str:
        t, args = node.target, node.args
        val = tensor_of(node)
        dt = _TL[val.dtype]
        if t in (aten.arange.start_step, aten.arange.start, aten.arange.default):
            start, step = (0, 1)
            if t is not aten.arange.default:
                start = args[0]
                step = args[2] if len(args) > 2 else 1
            s = self.scalar_arg(node, 0, start) if t is not aten.arange.default else "0"
            st = self.scalar_arg(node, 2, step) if len(args) > 2 else "1"
            return w.define("v", f"({s} + ({idx[0]}) * {st}).to({dt})", idx)
        if t in (aten.zeros_like.default, aten.zeros.default):
            return "0"
        if t in (aten.ones_like.default, aten.ones.default):
            return "1"
        fill = args[0] if t is aten.scalar_tensor.default else args[1]
        return self.scalar_arg(node, 0 if t is aten.scalar_tensor.default else 1, fill)

    def view_index(self, node: fx.Node, idx: tuple[str, ...]) -> tuple[str, ...]:
        t, args = node.target, node.args
        src = tensor_of(args[0])
        out = tensor_of(node)
        if t in (aten.clone.default, aten.alias.default, aten.lift_fresh_copy.default):
            return idx
        if t is aten.unsqueeze.default:
            d = args[1] % out.dim()
            return idx[:d] + idx[d + 1 :]
        if t in (aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default):
            res, j = [], 0
            for d in range(src.dim()):
                if len(res) < src.dim() and (j >= len(idx) or (is_one(src.shape[d]) and
                                                                (src.dim() - d) > (len(idx) - j))):
                    res.append("0")
                else:
                    res.append(idx[j])
                    j += 1
            return tuple(res)
        if t is aten.expand.default:
            lead = out.dim() - src.dim()
            return tuple("0" if is_one(s) and not is_one(out.shape[lead + i]) else idx[lead + i]
                         for i, s in enumerate(src.shape))
        if t is aten.permute.default:
            res = [""] * src.dim()
            for i, d in enumerate(args[1]):
                res[d % src.dim()] = idx[i]
            return tuple(res)
        if t in (aten.transpose.int, aten.t.default):
            if src.dim() < 2:
                return idx
            a, b = (args[1] % src.dim(), args[2] % src.dim()) if t is aten.transpose.int else (0, 1)
            res = list(idx)
            res[a], res[b] = idx[b], idx[a]
            return tuple(res)
        if t is aten.select.int:
            d = args[1] % src.dim()
            i = args[2]
            i_expr = self.literal(i) if isinstance(i, int) and i >= 0 else (
                f"({self.size(src.shape[d])} + {self.literal(i)})" if isinstance(i, int) else self.literal(i))
            return idx[:d] + (i_expr,) + idx[d:]
        if t is aten.slice.Tensor:
            d = args[1] % src.dim() if len(args) > 1 else 0
            start = args[2] if len(args) > 2 and args[2] is not None else 0
            step = args[4] if len(args) > 4 else 1
            if isinstance(start, int) and start < 0:
                start_e = f"({self.size(src.shape[d])} + {start})"
            else:
                start_e = self.literal(start)
            res = list(idx)
            res[d] = f"({start_e} + ({idx[d]}) * {step})"
            return tuple(res)
        # view / reshape: the same sizes up to size-1 dims map one to one
        if list(map(str, src.shape)) == list(map(str, out.shape)):
            return idx
        kept_out = [(i, str(s)) for i, s in enumerate(out.shape) if not is_one(s)]
        kept_src = [(i, str(s)) for i, s in enumerate(src.shape) if not is_one(s)]
        if [s for _, s in kept_out] == [s for _, s in kept_src]:
            res = ["0"] * src.dim()
            for (i, _), (j, _) in zip(kept_out, kept_src, strict=True):
                res[j] = idx[i]
            return tuple(res)
        # otherwise through the flat index
        sizes = [self.size(s) for s in out.shape]
        flat_terms = []
        for d, e in enumerate(idx):
            rest = " * ".join(sizes[d + 1 :]) or "1"
            flat_terms.append(f"({e}) * {rest}")
        flat = "(" + " + ".join(flat_terms or ["0"]) + ")"
        res = []
        src_sizes = [self.size(s) for s in src.shape]
        for d in range(src.dim()):
            rest = " * ".join(src_sizes[d + 1 :]) or "1"
            res.append(f"(({flat} // ({rest})) % {src_sizes[d]})")
        return tuple(res)

    def wrap(self, w: KernelWriter, value: str, size: Any, deps: tuple[str, ...]) -> str:
        """A loaded index, negative ones counted from the end (PyTorch's rule)."""
        n = self.size(size)
        return w.define("ix", f"tl.where({value} < 0, {value} + {n}, {value})", (value, *deps))

    def index(self, w: KernelWriter, node: fx.Node, idx: tuple[str, ...]) -> str:
        t, args = node.target, node.args
        out = tensor_of(node)
        if t is aten.embedding.default:
            weight, ids = args[0], args[1]
            k = tensor_of(ids).dim()
            v = self.wrap(w, w.value(ids, idx[:k]), tensor_of(weight).shape[0], idx)
            return w.value(weight, (v, *idx[k:]))
        if t is aten.gather.default:
            src, dim, index = args[0], args[1] % out.dim(), args[2]
            v = self.wrap(w, w.value(index, idx), tensor_of(src).shape[dim], idx)
            return w.value(src, idx[:dim] + (v,) + idx[dim + 1 :])
        if t is aten.index_select.default:
            src, dim, index = args[0], args[1] % out.dim(), args[2]
            v = self.wrap(w, w.value(index, (idx[dim],)), tensor_of(src).shape[dim], idx)
            return w.value(src, idx[:dim] + (v,) + idx[dim + 1 :])
        # index.Tensor: x[i0, i1, ...] with None for untouched dims
        src, indices = args[0], list(args[1])
        x = tensor_of(src)
        indices += [None] * (x.dim() - len(indices))
        used = [d for d, i in enumerate(indices) if i is not None]
        bshape = torch.broadcast_shapes(*(tensor_of(indices[d]).shape for d in used))
        nb = len(bshape)
        adjacent = used == list(range(used[0], used[-1] + 1))
        first = used[0] if adjacent else 0
        bidx = idx[first : first + nb]
        rest = list(idx[:first] + idx[first + nb :])
        res: list[str] = []
        for d in range(x.dim()):
            if indices[d] is None:
                res.append(rest.pop(0))
            else:
                i_node = indices[d]
                ishape = tensor_of(i_node).shape
                lead = nb - len(ishape)
                sub = tuple("0" if is_one(s) and not is_one(bshape[lead + j]) else bidx[lead + j]
                            for j, s in enumerate(ishape))
                raw = w.value(i_node, sub)
                if tensor_of(i_node).dtype == torch.bool:
                    raise ProblemError("boolean-mask indexing has a data-dependent size.")
                res.append(self.wrap(w, raw, x.shape[d], idx))
        return w.value(src, tuple(res))

    def reduction(self, w: KernelWriter, node: fx.Node, idx: tuple[str, ...]) -> str:
        t, args = node.target, node.args
        src = args[0]
        x = tensor_of(src)
        val = tensor_of(node)
        op = _REDUCE[t]
        if t in (aten.sum.default, aten.mean.default):
            dims, keep = list(range(x.dim())), False
        else:
            dims = args[1] if len(args) > 1 and args[1] is not None else list(range(x.dim()))
            dims = [d % max(x.dim(), 1) for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
            keep = bool(args[2]) if len(args) > 2 else bool(node.kwargs.get("keepdim", False))
        if node.kwargs.get("dtype") is not None:
            raise ProblemError("a reduction with a dtype argument is not lowered.")
        outer = list(idx)
        if keep:
            outer = [e for d, e in enumerate(idx) if d not in dims]
        sizes = [self.size(x.shape[d]) for d in dims]

        def body(rv: tuple[str, ...]) -> str:
            it = iter(outer)
            rit = iter(rv)
            full = tuple(next(rit) if d in dims else next(it) for d in range(x.dim()))
            v = w.value(src, full)
            if x.dtype == torch.bool:
                v = f"({v}).to(tl.int64)"
            return v

        return w.reduce(op, val.dtype, sizes, body, tuple(outer))

    def scatter_domain(self, node: fx.Node) -> Any:
        """The shape whose elements a scatter writes (one lane each)."""
        t, args = node.target, node.args
        if t in (aten.scatter.src, aten.scatter_add.default):
            return tensor_of(args[2]).shape
        if t is aten.index_add.default:
            return tensor_of(args[3]).shape
        indices = list(args[1])
        if any(i is None for i in indices):
            raise ProblemError("index_put with skipped dimensions is not lowered.")
        base = tensor_of(args[0])
        b = torch.broadcast_shapes(*(tensor_of(i).shape for i in indices))
        return (*b, *base.shape[len(indices) :])

    def scatter_target(
        self, w: KernelWriter, node: fx.Node, idx: tuple[str, ...]
    ) -> tuple[str, tuple[str, ...], bool]:
        """(value, output index, accumulate) of the lane at ``idx`` of a scatter's domain."""
        t, args = node.target, node.args
        out = tensor_of(node)
        if t in (aten.scatter.src, aten.scatter_add.default):
            dim = args[1] % out.dim()
            if not isinstance(args[3], fx.Node):
                raise ProblemError("scatter of a scalar is not lowered.")
            ix = self.wrap(w, w.value(args[2], idx), out.shape[dim], idx)
            return w.value(args[3], idx), idx[:dim] + (ix,) + idx[dim + 1 :], (
                t is aten.scatter_add.default)
        if t is aten.index_add.default:
            if node.kwargs.get("alpha", 1) != 1:
                raise ProblemError("index_add with alpha is not lowered.")
            dim = args[1] % out.dim()
            ix = self.wrap(w, w.value(args[2], (idx[dim],)), out.shape[dim], idx)
            return w.value(args[3], idx), idx[:dim] + (ix,) + idx[dim + 1 :], True
        indices = list(args[1])
        accumulate = bool(args[3]) if len(args) > 3 else False
        b = torch.broadcast_shapes(*(tensor_of(i).shape for i in indices))
        nb = len(b)
        target = []
        for d, i_node in enumerate(indices):
            ishape = tensor_of(i_node).shape
            if tensor_of(i_node).dtype == torch.bool:
                raise ProblemError("boolean-mask index_put has a data-dependent size.")
            lead = nb - len(ishape)
            sub = tuple("0" if is_one(s) and not is_one(b[lead + j]) else idx[lead + j]
                        for j, s in enumerate(ishape))
            target.append(self.wrap(w, w.value(i_node, sub), out.shape[d], idx))
        target += list(idx[nb:])
        values = args[2]
        if not isinstance(values, fx.Node):
            raise ProblemError("index_put of a scalar is not lowered.")
        vshape = tensor_of(values).shape
        dom = self.scatter_domain(node)
        lead = len(dom) - len(vshape)
        vidx = tuple("0" if is_one(s) and not is_one(dom[lead + j]) else idx[lead + j]
                     for j, s in enumerate(vshape))
        return w.value(values, vidx), tuple(target), accumulate

    def softmax(self, w: KernelWriter, node: fx.Node, idx: tuple[str, ...]) -> str:
        src, dim = node.args[0], node.args[1] % tensor_of(node).dim()
        x = tensor_of(src)
        outer = idx[:dim] + idx[dim + 1 :]
        size = self.size(x.shape[dim])

        def at(rv: tuple[str, ...]) -> tuple[str, ...]:
            return idx[:dim] + (rv[0],) + idx[dim + 1 :]

        m = w.cached(
            (node.name, "max", outer),
            lambda: w.reduce("max", torch.float32, [size],
                             lambda rv: f"({w.value(src, at(rv))}).to(tl.float32)", outer),
        )
        s = w.cached(
            (node.name, "sum", outer),
            lambda: w.reduce(
                "sum", torch.float32, [size],
                lambda rv: f"tl.exp(({w.value(src, at(rv))}).to(tl.float32) - {m})",
                (m, *outer),
            ),
        )
        x0 = f"({w.value(src, idx)}).to(tl.float32)"
        if node.target is aten._softmax.default:
            return w.define("v", f"tl.exp({x0} - {m}) / {s}", (m, s, *idx))
        return w.define("v", f"{x0} - {m} - tl.log({s})", (m, s, *idx))

    def matmul(self, w: KernelWriter, node: fx.Node, idx: tuple[str, ...]) -> str:
        t, args = node.target, node.args
        if t is aten.addmm.default:
            if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
                raise ProblemError("addmm with beta or alpha is not lowered.")
            bias, a, b = args
        else:
            bias, (a, b) = None, args
        k = tensor_of(a).shape[-1]
        lead = idx[:-2]

        def body(rv: tuple[str, ...]) -> str:
            x = w.value(a, (*lead, idx[-2], rv[0]))
            y = w.value(b, (*lead, rv[0], idx[-1]))
            return f"({x}).to(tl.float32) * ({y}).to(tl.float32)"

        acc = w.reduce("sum", torch.float32, [self.size(k)], body, idx)
        if bias is not None:
            acc = w.define("v", f"{acc} + {self.broadcast(w, bias, idx, tensor_of(node))}", (acc, *idx))
        return acc


# --------------------------------------------------------------------------- module


def _fmt(low: Lowering, a: Any) -> str:
    """A PyTorch-part argument as Python source in ``forward``."""
    if isinstance(a, fx.Node):
        return low.var.get(a.name, a.name)
    if isinstance(a, (list, tuple)):
        inner = ", ".join(_fmt(low, x) for x in a)
        return f"[{inner}]" if isinstance(a, list) else f"({inner},)"
    if isinstance(a, torch.dtype):
        return str(a)
    if isinstance(a, torch.device):
        return "_dev"
    if isinstance(a, (torch.layout, torch.memory_format)):
        return str(a)
    if isinstance(a, float) and (math.isinf(a) or math.isnan(a)):
        return f"float({str(a)!r})"
    return repr(a)


def _call(low: Lowering, node: fx.Node) -> str:
    t = node.target
    if isinstance(t, torch._ops.OpOverload):
        fn = "torch.ops." + str(t)
    elif getattr(t, "__module__", "") in ("_operator", "operator"):
        fn = f"operator.{t.__name__}"
    else:
        raise ProblemError(f"the graph calls {t}, which has no PyTorch spelling here.")
    args = []
    for i, a in enumerate(node.args):
        if (node.name, i) in low.bound:
            args.append(low.bound[(node.name, i)])
        else:
            args.append(_fmt(low, a))
    args += [f"{k}={_fmt(low, v)}" for k, v in node.kwargs.items()]
    return f"{fn}({', '.join(args)})"


@dataclass
class Built:
    """The kernels' source, their count, the ops PyTorch keeps, and ``forward``."""

    source: str
    kernels: int
    library_ops: list[str]
    forward: str


def _lane_index(low: Lowering, shape: Any) -> tuple[list[str], tuple[str, ...]]:
    sizes = [low.size(s) for s in shape]
    lines, idx = [], []
    for d in range(len(sizes)):
        rest = " * ".join(sizes[d + 1 :]) or "1"
        name = f"x{d}"
        lines.append(f"    {name} = (offs // ({rest})) % {sizes[d]}")
        idx.append(name)
    return lines, tuple(idx)


def _kernel(
    low: Lowering, name: str, shape: Any, root: fx.Node, reduce_op: str | None,
    scatter: fx.Node | None = None,
) -> Kernel:
    low.leaf_args, low.scalar_args = {}, {}
    w = KernelWriter(low)
    lane_lines, idx = _lane_index(low, shape)
    for i in idx:
        w.var_scope[i] = w.root
    if scatter is not None:
        v, target, atomic = low.scatter_target(w, scatter, idx)
        sizes = [low.size(x) for x in tensor_of(scatter).shape]
        terms = []
        for d, e in enumerate(target):
            rest = " * ".join(sizes[d + 1 :]) or "1"
            terms.append(f"({e}).to(tl.int64) * ({rest})" if not e.isdigit() else f"{e} * ({rest})")
        addr = " + ".join(terms) or "0"
    else:
        v = w.value(root, idx)
    body = "\n".join(w.root.render())
    text_all = "\n".join(lane_lines) + "\n" + body
    syms = sorted(s for s in low.sym_var if re.search(rf"\b{s}\b", text_all))
    params, args = ["out_ptr"], []
    for ptr, (var, *strides) in low.leaf_args.items():
        params += [ptr, *strides]
        args += [var, *(f"{var}.stride({d})" for d in range(len(strides)))]
    params += syms
    args += syms
    for k, expr in low.scalar_args.items():
        params.append(k)
        args.append(expr)
    head = [
        "@triton.jit",
        f"def {name}({', '.join(params)}, N, BLOCK: tl.constexpr):",
        "    pid = tl.program_id(0)",
        "    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)",
        "    lane_mask = offs < N",
        "    lane_zero = offs * 0",
        *lane_lines,
    ]
    if _NUMBER.match(v):  # a constant result: one value per lane
        v = f"(lane_zero + {v})"
    if scatter is not None:
        fn = "tl.atomic_add" if atomic else "tl.store"
        tail = [f"    {fn}(out_ptr + {addr}, ({v}).to(out_ptr.dtype.element_ty), mask=lane_mask)"]
    elif reduce_op is None:
        tail = [f"    tl.store(out_ptr + offs, ({v}).to(out_ptr.dtype.element_ty), mask=lane_mask)"]
    else:
        neutral = {"sum": "0", "mean": "0", "max": "float('-inf')", "min": "float('inf')"}[reduce_op]
        fn = "tl.sum" if reduce_op in ("sum", "mean") else ("tl.max" if reduce_op == "max" else "tl.min")
        tail = [
            f"    part = tl.where(lane_mask, ({v}) + tl.zeros([BLOCK], out_ptr.dtype.element_ty), {neutral})",
            f"    tl.store(out_ptr + pid, {fn}(part.to(out_ptr.dtype.element_ty), axis=0))",
        ]
    text = "\n".join(head) + "\n" + body + ("\n" if body else "") + "\n".join(tail) + "\n"
    return Kernel(name, text, args, params, "", "", "")


def build_module(
    trace: AtenTrace, bound: dict[tuple[str, int], str], block: int, num_warps: int
) -> Built:
    """The kernels and ``forward`` of one reference (see the module docstring)."""
    low = Lowering(trace, bound)
    kernels: list[str] = []
    launches: list[str] = []
    for k, node in enumerate(low.whole):
        src = node.args[0]
        x = tensor_of(src)
        op = _REDUCE[node.target]
        acc_dtype = "torch.float32" if tensor_of(node).dtype.is_floating_point else "torch.int64"
        kern = _kernel(low, f"_kv_whole{k}", x.shape, src, op)
        kernels.append(kern.text)
        numel = " * ".join(low.size(s) for s in x.shape) or "1"
        var = low.var[node.name]
        finish = {"sum": "sum()", "mean": f"sum() / max({numel}, 1)", "max": "amax()",
                  "min": "amin()"}[op]
        launches += [
            f"n_{var} = {numel}",
            f"g_{var} = max(triton.cdiv(n_{var}, {block}), 1)",
            f"{var} = torch.empty(g_{var}, dtype={acc_dtype}, device=_dev)",
            f"{kern.name}[(g_{var},)]({var}, {', '.join(kern.args)}, n_{var}, "
            f"BLOCK={block}, num_warps={num_warps})",
            f"{var} = ({var}.{finish}).to({tensor_of(node).dtype})",
        ]
    out = tensor_of(low.output)
    scattered = low.output.target in SCATTERS
    root = low.output.args[0] if scattered else low.output
    if scattered and (not isinstance(root, fx.Node) or list(map(str, tensor_of(root).shape))
                      != list(map(str, out.shape))):
        raise ProblemError("the scatter's base does not have the result's shape.")
    main = _kernel(low, "_kv_rows", out.shape, root, None)
    kernels.append(main.text)
    shape = ", ".join(low.size(s) for s in out.shape)
    launches += [
        f"out = torch.empty(({shape}{',' if out.dim() == 1 else ''}), dtype={out.dtype}, device=_dev)",
        "n_out = out.numel()",
        "if n_out > 0:",
        f"    _kv_rows[(triton.cdiv(n_out, {block}),)](out, {', '.join(main.args)}, n_out, "
        f"BLOCK={block}, num_warps={num_warps})",
    ]
    if scattered:
        domain = low.scatter_domain(low.output)
        sk = _kernel(low, "_kv_scatter", domain, low.output, None, scatter=low.output)
        kernels.append(sk.text)
        numel = " * ".join(low.size(x) for x in domain) or "1"
        launches += [
            f"n_sc = {numel}",
            "if n_sc > 0:",
            f"    _kv_scatter[(triton.cdiv(n_sc, {block}),)](out, {', '.join(sk.args)}, n_sc, "
            f"BLOCK={block}, num_warps={num_warps})",
        ]
    launches.append("return out")
    # forward: bind sizes, run the PyTorch part, launch
    tensors = [n for n in trace.placeholders if trace.leaves[n.name].kind == "input"]
    first = trace.leaves[tensors[0].name].expr if tensors else trace.leaves[trace.placeholders[0].name].expr
    lines = [f"_dev = {first}.device"]
    bound_syms: set[str] = set()

    def bind(node: fx.Node) -> None:
        t = tensor_of(node)
        if not isinstance(t, torch.Tensor):
            return
        for d, s in enumerate(t.shape):
            if isinstance(s, torch.SymInt):
                expr = s.node.expr
                if isinstance(expr, sympy.Symbol) and expr.name not in bound_syms:
                    bound_syms.add(expr.name)
                    lines.append(f"{expr.name} = {low.var[node.name]}.shape[{d}]")

    for n in trace.placeholders:
        bind(n)
    library: list[str] = []
    for n in low.nodes:
        if n in low.torch_part:
            lines.append(f"{low.var[n.name]} = {_call(low, n)}")
            if isinstance(n.target, torch._ops.OpOverload):
                library.append(str(n.target).removeprefix("aten."))
            bind(n)
    missing = sorted(s for s in low.sym_var if s not in bound_syms)
    if missing:
        raise ProblemError(f"sizes {', '.join(missing)} are not dimensions of any tensor forward sees.")
    body = "\n".join("        " + x for x in lines + launches)
    names = ", ".join(["self", *trace.forward_args])
    forward = f"    def forward({names}):\n{body}\n"
    text = "\n\n".join(kernels)
    helpers = "\n\n".join(helpers_used(text))
    return Built(helpers + ("\n\n" if helpers else "") + text, len(kernels), library, forward)


def bound_literals(
    trace: AtenTrace, other: AtenTrace | None, attributes: dict[str, tuple[int, int]] | None = None
) -> dict[tuple[str, int], str]:
    """Literals of ``trace`` that change at the other size, each bound to the input dimension
    or the integer attribute of the model (``self.max_len``) it equals at both sizes
    (``agents.coders.kit.resized``).

    Raises:
        ProblemError: The graph changes shape with the size, or a changing literal equals no
            input dimension or attribute.
    """
    if other is None:
        return {}
    candidates: dict[str, tuple[int, int]] = {}
    for x, y in zip(trace.placeholders, other.placeholders, strict=True):
        for sx, sy in zip(tensor_of(x).shape, tensor_of(y).shape, strict=True):
            if isinstance(sx, torch.SymInt) and isinstance(sx.node.expr, sympy.Symbol):
                hx, hy = hint(sx), hint(sy)
                if hx is not None and hy is not None:
                    candidates.setdefault(sx.node.expr.name, (hx, hy))
    for k, pair in (attributes or {}).items():
        candidates.setdefault(f"self.{k}", pair)
    return resized_literals(trace.gm.graph.nodes, other.gm.graph.nodes, candidates)


def trace_for_lowering(source: str) -> AtenTrace:
    return trace_aten(source, TRACE)
