"""Triton expressions of the IR's elementwise ops, from the kit's one formula table."""

from __future__ import annotations

from agents.coders.generators.rowfused.aten_ops import literal_text
from agents.coders.generators.rowfused.ir import Arg, Compute
from agents.coders.kit.formulas import formula


def _text(a: Arg) -> str:
    return a if isinstance(a, str) else literal_text(a)


def _int_power(base: str, n: int) -> str:
    if n == 0:
        return f"({base} * 0.0 + 1.0)"
    product = " * ".join([base] * abs(n))
    return f"({product})" if n > 0 else f"(1.0 / ({product}))"


def expression(op: Compute) -> str:
    """The Triton expression computing one step."""
    args = [_text(a) for a in op.args]
    if op.op == "pow":
        exponent = op.args[1]
        assert isinstance(exponent, (int, float))
        e = float(exponent)
        if e.is_integer() and abs(e) <= 8:
            return _int_power(args[0], int(e))
        if e == 0.5:
            return f"tl.sqrt({args[0]})"
        if e == -0.5:
            return f"tl.rsqrt({args[0]})"
        magnitude = f"tl.exp2({e!r} * tl.log2(tl.abs({args[0]})))"
        if e.is_integer() and int(e) % 2:
            return f"tl.where({args[0]} < 0, -{magnitude}, {magnitude})"
        if e.is_integer():
            return magnitude
        return f"tl.exp2({e!r} * tl.log2({args[0]}))"
    return formula("pow" if op.op == "pow_tt" else op.op, "triton").format(*args)

