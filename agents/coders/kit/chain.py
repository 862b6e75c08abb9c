"""A language-neutral pointwise chain: the IR the fused templates are generated from.

A chain reads some tensors (forward inputs and the model's parameters or buffers), applies
elementwise steps and yields one tensor. Each operand is read at the output's flat index:
``full`` operands have the output's shape, ``bcast`` ones are indexed ``(i // inner) % size``
(a contiguous range of the output's dims), ``scalar`` ones hold one element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from agents.coders.kit.render import cpp_literal, py_literal

OperandKind = Literal["full", "bcast", "scalar"]
Arg = str | float | None
"""A step argument: a value name (operand or earlier step), a float constant, or ``None``."""


@dataclass(frozen=True)
class Operand:
    """A tensor the chain reads."""

    name: str
    """Kernel-side name (``in0``...)."""
    expr: str
    """Python expression inside ``forward`` that yields it (``x``, ``self.bias``)."""
    kind: OperandKind = "full"


@dataclass(frozen=True)
class Step:
    """One elementwise operation ``var = op(*args)``."""

    var: str
    op: str
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Chain:
    """A traced pointwise chain."""

    operands: tuple[Operand, ...]
    steps: tuple[Step, ...]
    result: str
    forward_args: tuple[str, ...] = field(default=("x",))
    summary: str = ""
    """Human-readable op list, e.g. ``mul -> add -> relu -> sigmoid -> sub``."""


# One entry per op: (Triton expression, C++ expression); {0}, {1}, {2} are the arguments.
_TANH_TL = "_kv_tanh({0})"
FORMULAS: dict[str, tuple[str, str]] = {
    "identity": ("{0}", "{0}"),
    "add": ("({0} + {1})", "({0} + {1})"),
    "sub": ("({0} - {1})", "({0} - {1})"),
    "mul": ("({0} * {1})", "({0} * {1})"),
    "div": ("({0} / {1})", "({0} / {1})"),
    "neg": ("(-{0})", "(-{0})"),
    "relu": ("tl.where({0} < 0.0, 0.0, {0})", "({0} < 0.0f ? 0.0f : {0})"),
    "sigmoid": ("tl.sigmoid({0})", "(1.0f / (1.0f + kv_expf(-{0})))"),
    "tanh": (_TANH_TL, "std::tanh({0})"),
    "exp": ("tl.exp({0})", "std::exp({0})"),
    "log": ("tl.log({0})", "std::log({0})"),
    # Kahan's forms: exact near zero, where log(1 + x) and exp(x) - 1 lose every digit
    "log1p": (
        "tl.where((1.0 + {0}) == 1.0, {0}, tl.log(1.0 + {0}) * ({0} / ((1.0 + {0}) - 1.0)))",
        "std::log1p({0})",
    ),
    "expm1": (
        (
            "tl.where(tl.exp({0}) == 1.0, {0}, tl.where(tl.exp({0}) - 1.0 == -1.0, -1.0,"
            " (tl.exp({0}) - 1.0) * {0} / tl.log(tl.exp({0}))))"
        ),
        "std::expm1({0})",
    ),
    "sqrt": ("tl.sqrt({0})", "std::sqrt({0})"),
    "rsqrt": ("tl.rsqrt({0})", "(1.0f / std::sqrt({0}))"),
    "abs": ("tl.abs({0})", "std::fabs({0})"),
    "sin": ("tl.sin({0})", "std::sin({0})"),
    "cos": ("tl.cos({0})", "std::cos({0})"),
    "erf": ("tl.erf({0})", "std::erf({0})"),
    "reciprocal": ("(1.0 / {0})", "(1.0f / {0})"),
    "square": ("({0} * {0})", "({0} * {0})"),
    "gelu": (
        "(0.5 * {0} * (1.0 + tl.erf({0} * 0.7071067811865476)))",
        "(0.5f * {0} * (1.0f + std::erf({0} * 0.70710678118654752f)))",
    ),
    "gelu_tanh": (
        "(0.5 * {0} * (1.0 + _kv_tanh(0.7978845608028654 * ({0} + 0.044715 * {0} * {0} * {0}))))",
        (
            "(0.5f * {0} * (1.0f + std::tanh(0.79788456080286536f"
            " * ({0} + 0.044715f * {0} * {0} * {0}))))"
        ),
    ),
    "silu": ("({0} * tl.sigmoid({0}))", "({0} / (1.0f + kv_expf(-{0})))"),
    "leaky_relu": ("tl.where({0} < 0.0, {0} * {1}, {0})", "({0} < 0.0f ? {0} * {1} : {0})"),
    "elu": (
        "tl.where({0} > 0.0, {0}, {1} * (tl.exp({0}) - 1.0))",
        "({0} > 0.0f ? {0} : {1} * (std::exp({0}) - 1.0f))",
    ),
    "softplus": (
        "tl.where({0} * {1} > {2}, {0}, tl.log(1.0 + tl.exp({0} * {1})) / {1})",
        "({0} * {1} > {2} ? {0} : std::log1p(std::exp({0} * {1})) / {1})",
    ),
    "mish": (
        "({0} * _kv_tanh(tl.where({0} > 20.0, {0}, tl.log(1.0 + tl.exp({0})))))",
        "({0} * std::tanh({0} > 20.0f ? {0} : std::log1p(std::exp({0}))))",
    ),
    "hardsigmoid": (
        "tl.minimum(tl.maximum({0} / 6.0 + 0.5, 0.0), 1.0)",
        "std::fmin(std::fmax({0} / 6.0f + 0.5f, 0.0f), 1.0f)",
    ),
    "hardswish": (
        "({0} * tl.minimum(tl.maximum({0} + 3.0, 0.0), 6.0) / 6.0)",
        "({0} * std::fmin(std::fmax({0} + 3.0f, 0.0f), 6.0f) / 6.0f)",
    ),
    "clamp_min": ("tl.where({0} < {1}, {1}, {0})", "({0} < {1} ? {1} : {0})"),
    "clamp_max": ("tl.where({0} > {1}, {1}, {0})", "({0} > {1} ? {1} : {0})"),
    "maximum": ("tl.maximum({0}, {1})", "std::fmax({0}, {1})"),
    "minimum": ("tl.minimum({0}, {1})", "std::fmin({0}, {1})"),
    "where": ("tl.where({0}, {1}, {2})", "({0} ? {1} : {2})"),
    "gt": ("({0} > {1})", "({0} > {1})"),
    "ge": ("({0} >= {1})", "({0} >= {1})"),
    "lt": ("({0} < {1})", "({0} < {1})"),
    "le": ("({0} <= {1})", "({0} <= {1})"),
    "eq": ("({0} == {1})", "({0} == {1})"),
    "ne": ("({0} != {1})", "({0} != {1})"),
    "pow": ("tl.exp2({1} * tl.log2({0}))", "std::pow({0}, {1})"),
}
BOOLEAN_OPS = frozenset({"gt", "ge", "lt", "le", "eq", "ne"})


def _int_power(base: str, n: int, one: str) -> str:
    if n == 0:
        return one
    product = " * ".join([base] * abs(n))
    return f"({product})" if n > 0 else f"({one} / ({product}))"


def step_expression(step: Step, language: Literal["triton", "cpp"]) -> str:
    """The expression computing one step, in Triton (``tl``) or C++ syntax."""
    literal = py_literal if language == "triton" else cpp_literal
    one = "1.0" if language == "triton" else "1.0f"
    args = [a if isinstance(a, str) else literal(a) for a in step.args if a is not None]
    if step.op == "pow":
        exponent = step.args[1]
        if isinstance(exponent, float) and exponent.is_integer() and abs(exponent) <= 8:
            return _int_power(args[0], int(exponent), one)
        if exponent == 0.5:
            return FORMULAS["sqrt"][language == "cpp"].format(args[0])
        if exponent == -0.5:
            return FORMULAS["rsqrt"][language == "cpp"].format(args[0])
    return FORMULAS[step.op][language == "cpp"].format(*args)


def chain_lines(chain: Chain, language: Literal["triton", "cpp"]) -> list[str]:
    """One assignment per step (``v0 = ...`` in Triton, ``const auto v0 = ...;`` in C++)."""
    lines = []
    for step in chain.steps:
        expr = step_expression(step, language)
        lines.append(
            f"{step.var} = {expr}" if language == "triton" else f"const auto {step.var} = {expr};"
        )
    return lines


def named_chain(op: str, params: dict[str, object], forward_args: tuple[str, ...]) -> Chain:
    """The one-step chain of a named pointwise op (``gelu``, ``silu``, ``relu``)."""
    name = forward_args[0] if forward_args else "x"
    kernel_op = op
    if op == "gelu" and params.get("approximate", "none") == "tanh":
        kernel_op = "gelu_tanh"
    operand = Operand(name="in0", expr=name, kind="full")
    return Chain(
        operands=(operand,),
        steps=(Step(var="v0", op=kernel_op, args=("in0",)),),
        result="v0",
        forward_args=(name,),
        summary=kernel_op,
    )


def is_finite_constant(value: object) -> bool:
    """True for a finite Python int/float (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
