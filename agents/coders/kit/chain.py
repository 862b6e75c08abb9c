"""A language-neutral pointwise chain: the IR the fused templates are generated from.

Its steps are written from the one formula table, :mod:`agents.coders.kit.formulas`.

A chain reads some tensors (forward inputs and the model's parameters or buffers), applies
elementwise steps and yields one tensor. Each operand is read at the output's flat index:
``full`` operands have the output's shape, ``bcast`` ones are indexed ``(i // inner) % size``
(a contiguous range of the output's dims), ``scalar`` ones hold one element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from agents.coders.kit.formulas import BOOLEAN_OPS, FORMULAS, formula
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
            return formula("sqrt", language).format(args[0])
        if exponent == -0.5:
            return formula("rsqrt", language).format(args[0])
    return formula(step.op, language).format(*args)


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


__all__ = [
    "BOOLEAN_OPS",
    "FORMULAS",
    "Arg",
    "Chain",
    "Operand",
    "OperandKind",
    "Step",
    "chain_lines",
    "is_finite_constant",
    "named_chain",
    "step_expression",
]
