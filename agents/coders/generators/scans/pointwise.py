"""Elementwise ATen ops as Triton expressions: the prologues and epilogues of fused kernels.

Every value is computed in fp32 (``kind`` ``f``) or is a predicate (``kind`` ``b``); the
formulas come from the pointwise chain IR (``agents.coders.kit.chain.FORMULAS``), so the scan
and gather kernels compute each op exactly as the fused pointwise kernel does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from agents.coders.kit.chain import Step, is_finite_constant, step_expression
from agents.coders.kit.render import py_literal
from tools.errors import ProblemError

aten = torch.ops.aten


@dataclass(frozen=True)
class Val:
    """A Triton value: a variable or literal, fp32 (``f``) or boolean (``b``)."""

    code: str
    kind: str = "f"


@dataclass
class Emitter:
    """Accumulates Triton assignment lines (``t0 = ...``) with fresh names."""

    prefix: str = "t"
    lines: list[str] = field(default_factory=list)

    def emit(self, expr: str, kind: str = "f") -> Val:
        """Assign ``expr`` to a fresh variable."""
        var = f"{self.prefix}{len(self.lines)}"
        self.lines.append(f"{var} = {expr}")
        return Val(var, kind)


def as_float(v: Val) -> str:
    """``v`` as an fp32 expression."""
    return v.code if v.kind == "f" else f"{v.code}.to(tl.float32)"


def as_bool(v: Val) -> str:
    """``v`` as a predicate (non-zero is true)."""
    return v.code if v.kind == "b" else f"({v.code} != 0.0)"


def constant(value: Any) -> Val:
    """A Python scalar as a Triton literal.

    Raises:
        ProblemError: The value is not a finite number or a bool.
    """
    if isinstance(value, bool):
        return Val("True" if value else "False", "b")
    if is_finite_constant(value):
        return Val(py_literal(float(value)))
    raise ProblemError(f"Constant {value!r} is not a finite number; cannot fuse it.")


_UNARY = {
    aten.relu.default: "relu",
    aten.sigmoid.default: "sigmoid",
    aten.tanh.default: "tanh",
    aten.exp.default: "exp",
    aten.log.default: "log",
    aten.sqrt.default: "sqrt",
    aten.rsqrt.default: "rsqrt",
    aten.abs.default: "abs",
    aten.neg.default: "neg",
    aten.sin.default: "sin",
    aten.cos.default: "cos",
    aten.erf.default: "erf",
    aten.reciprocal.default: "reciprocal",
    aten.silu.default: "silu",
    aten.mish.default: "mish",
    aten.hardsigmoid.default: "hardsigmoid",
    aten.hardswish.default: "hardswish",
}
_BINARY = {
    aten.mul.Tensor: "mul",
    aten.mul.Scalar: "mul",
    aten.div.Tensor: "div",
    aten.div.Scalar: "div",
    aten.maximum.default: "maximum",
    aten.minimum.default: "minimum",
}
_COMPARE = {
    aten.gt.Tensor: "gt",
    aten.gt.Scalar: "gt",
    aten.ge.Tensor: "ge",
    aten.ge.Scalar: "ge",
    aten.lt.Tensor: "lt",
    aten.lt.Scalar: "lt",
    aten.le.Tensor: "le",
    aten.le.Scalar: "le",
    aten.eq.Tensor: "eq",
    aten.eq.Scalar: "eq",
    aten.ne.Tensor: "ne",
    aten.ne.Scalar: "ne",
}
_CASTS = {torch.float16: "tl.float16", torch.bfloat16: "tl.bfloat16"}


def _step(em: Emitter, op: str, *args: Val | float) -> Val:
    parts: list[str | float] = [a if isinstance(a, float) else as_float(a) for a in args]
    kind = "b" if op in ("gt", "ge", "lt", "le", "eq", "ne") else "f"
    return em.emit(step_expression(Step(var="_", op=op, args=tuple(parts)), "triton"), kind)


def _scalar(value: Any) -> float:
    if not is_finite_constant(value):
        raise ProblemError(f"Argument {value!r} is not a finite number; cannot fuse it.")
    return float(value)


def _add_sub(op: str) -> Callable[[Emitter, list[Any], dict[str, Any]], Val]:
    def lower(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
        alpha = kw.get("alpha", a[2] if len(a) > 2 else 1)
        other = a[1]
        if alpha != 1:
            other = _step(em, "mul", other, _scalar(alpha))
        return _step(em, op, a[0], other)

    return lower


def _rsub(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    alpha = kw.get("alpha", a[2] if len(a) > 2 else 1)
    x = _step(em, "mul", a[0], _scalar(alpha)) if alpha != 1 else a[0]
    return _step(em, "sub", a[1], x)


def _clamp(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    x = a[0]
    lo = kw.get("min", a[1] if len(a) > 1 else None)
    hi = kw.get("max", a[2] if len(a) > 2 else None)
    if lo is not None:
        x = _step(em, "clamp_min", x, lo)
    if hi is not None:
        x = _step(em, "clamp_max", x, hi)
    return x


def _to_copy(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    dtype = kw.get("dtype")
    x: Val = a[0]
    if dtype is None or dtype == torch.float32:
        return x
    if dtype == torch.bool:
        return em.emit(as_bool(x), "b")
    if dtype in _CASTS:  # round to the narrower float, as PyTorch stores it
        return em.emit(f"{as_float(x)}.to({_CASTS[dtype]}).to(tl.float32)")
    if dtype in (torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8):
        return em.emit(f"{as_float(x)}.to(tl.int64).to(tl.float32)")
    raise ProblemError(f"A cast to {dtype} is not fused (fp64 and complex are unsupported).")


def _gelu(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    approximate = kw.get("approximate", a[1] if len(a) > 1 else "none")
    if approximate not in ("none", "tanh"):
        raise ProblemError(f"gelu approximate={approximate!r} is not fused.")
    return _step(em, "gelu" if approximate == "none" else "gelu_tanh", a[0])


def _elu(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    alpha = _scalar(a[1] if len(a) > 1 else kw.get("alpha", 1.0))
    scale = a[2] if len(a) > 2 else kw.get("scale", 1)
    input_scale = a[3] if len(a) > 3 else kw.get("input_scale", 1)
    if scale != 1 or input_scale != 1:
        raise ProblemError("elu with scale or input_scale (selu/celu) is not fused.")
    return _step(em, "elu", a[0], alpha)


def _where(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    cond, x, y = a
    return em.emit(f"tl.where({as_bool(cond)}, {as_float(x)}, {as_float(y)})")


def _logical(op: str) -> Callable[[Emitter, list[Any], dict[str, Any]], Val]:
    def lower(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
        if op == "not":
            return em.emit(f"({as_bool(a[0])} == 0)", "b")
        return em.emit(f"({as_bool(a[0])} {op} {as_bool(a[1])})", "b")

    return lower


def _unary(name: str) -> Callable[[Emitter, list[Any], dict[str, Any]], Val]:
    return lambda em, a, kw: _step(em, name, a[0])


def _binary(name: str) -> Callable[[Emitter, list[Any], dict[str, Any]], Val]:
    return lambda em, a, kw: _step(em, name, a[0], a[1])


def _params(name: str, *defaults: float) -> Callable[[Emitter, list[Any], dict[str, Any]], Val]:
    def lower(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
        values = [_scalar(a[i + 1] if len(a) > i + 1 else d) for i, d in enumerate(defaults)]
        return _step(em, name, a[0], *values)

    return lower


def _hardtanh(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    lo = _scalar(a[1] if len(a) > 1 else -1.0)
    hi = _scalar(a[2] if len(a) > 2 else 1.0)
    return _step(em, "clamp_max", _step(em, "clamp_min", a[0], lo), hi)


def _div_mode(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    if kw.get("rounding_mode", a[2] if len(a) > 2 else None) is not None:
        raise ProblemError("Division with rounding_mode is not fused.")
    return _step(em, "div", a[0], a[1])


def _pow(em: Emitter, a: list[Any], kw: dict[str, Any]) -> Val:
    return _step(em, "pow", a[0], _scalar(a[1]))


LOWERINGS: dict[Any, Callable[[Emitter, list[Any], dict[str, Any]], Val]] = {
    **{t: _unary(n) for t, n in _UNARY.items()},
    **{t: _binary(n) for t, n in _BINARY.items()},
    **{t: _binary(n) for t, n in _COMPARE.items()},
    aten.add.Tensor: _add_sub("add"),
    aten.add.Scalar: _add_sub("add"),
    aten.sub.Tensor: _add_sub("sub"),
    aten.sub.Scalar: _add_sub("sub"),
    aten.rsub.Scalar: _rsub,
    aten.rsub.Tensor: _rsub,
    aten.div.Tensor_mode: _div_mode,
    aten.pow.Tensor_Scalar: _pow,
    aten.clamp.default: _clamp,
    aten.clamp_min.default: lambda em, a, kw: _step(em, "clamp_min", a[0], a[1]),
    aten.clamp_max.default: lambda em, a, kw: _step(em, "clamp_max", a[0], a[1]),
    aten.hardtanh.default: _hardtanh,
    aten.leaky_relu.default: _params("leaky_relu", 0.01),
    aten.softplus.default: _params("softplus", 1.0, 20.0),
    aten.elu.default: _elu,
    aten.gelu.default: _gelu,
    aten.where.self: _where,
    aten._to_copy.default: _to_copy,
    aten.logical_not.default: _logical("not"),
    aten.bitwise_not.default: _logical("not"),
    aten.logical_and.default: _logical("&"),
    aten.logical_or.default: _logical("|"),
}
"""ATen overload -> lowering ``(emitter, args, kwargs) -> Val``; tensor args arrive as ``Val``."""

SCALAR_ARGS = {
    aten.leaky_relu.default,
    aten.softplus.default,
    aten.elu.default,
    aten.hardtanh.default,
    aten.gelu.default,
    aten._to_copy.default,
    aten.clamp.default,
    aten.div.Tensor_mode,
    aten.pow.Tensor_Scalar,
}
"""Ops whose non-first positional arguments are parameters, not operands."""


def is_pointwise(target: Any) -> bool:
    """True when the ATen overload has a Triton lowering."""
    return target in LOWERINGS


def lower(em: Emitter, target: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    """Emit one elementwise op; tensor operands are ``Val``, numbers are Python scalars.

    Raises:
        ProblemError: The op has no lowering or a parameter is unsupported.
    """
    fn = LOWERINGS.get(target)
    if fn is None:
        raise ProblemError(f"{target} is not an elementwise op the kernel fuses.")
    if target not in SCALAR_ARGS:
        args = [a if isinstance(a, Val) or a is None else constant(a) for a in args]
        kwargs = {
            k: (constant(v) if k in ("min", "max") and v is not None else v)
            for k, v in kwargs.items()
        }
    elif target in (aten.clamp.default,):
        args = [a if isinstance(a, Val) or a is None else constant(a) for a in args]
        kwargs = {k: constant(v) if v is not None else None for k, v in kwargs.items()}
    return fn(em, args, kwargs)
