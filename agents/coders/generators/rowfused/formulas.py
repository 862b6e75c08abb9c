"""Triton expressions of the IR's elementwise ops (fp32 math for floats)."""

from __future__ import annotations

from agents.coders.generators.rowfused.aten_ops import literal_text
from agents.coders.generators.rowfused.ir import Arg, Compute

FORMULAS: dict[str, str] = {
    "identity": "{0}",
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "div": "({0} / {1})",
    "neg": "(-{0})",
    "exp": "tl.exp({0})",
    "exp2": "tl.exp2({0})",
    "expm1": "(tl.exp({0}) - 1.0)",
    "log": "tl.log({0})",
    "log2": "tl.log2({0})",
    "log10": "(tl.log({0}) * 0.4342944819032518)",
    "log1p": "tl.log(1.0 + {0})",
    "sqrt": "tl.sqrt({0})",
    "rsqrt": "tl.rsqrt({0})",
    "abs": "tl.abs({0})",
    "sign": "tl.where({0} > 0, 1.0, tl.where({0} < 0, -1.0, {0} * 0.0))",
    "sigmoid": "tl.sigmoid({0})",
    "tanh": "_kv_tanh({0})",
    "relu": "tl.where({0} < 0, 0.0, {0})",
    "erf": "tl.erf({0})",
    "sin": "tl.sin({0})",
    "cos": "tl.cos({0})",
    "reciprocal": "(1.0 / {0})",
    "floor": "tl.floor({0})",
    "ceil": "tl.ceil({0})",
    "trunc": "tl.where({0} < 0, tl.ceil({0}), tl.floor({0}))",
    "square": "({0} * {0})",
    "not": "({0} == 0)",
    "isnan": "({0} != {0})",
    "isinf": '(tl.abs({0}) == float("inf"))',
    "isfinite": '(tl.abs({0}) < float("inf"))',
    "maximum": "tl.maximum({0}, {1})",
    "minimum": "tl.minimum({0}, {1})",
    "eq": "({0} == {1})",
    "ne": "({0} != {1})",
    "lt": "({0} < {1})",
    "le": "({0} <= {1})",
    "gt": "({0} > {1})",
    "ge": "({0} >= {1})",
    "and": "({0} & {1})",
    "or": "({0} | {1})",
    "xor": "({0} ^ {1})",
    "where": "tl.where({0}, {1}, {2})",
    "clamp_min": "tl.where({0} < {1}, {1}, {0})",
    "clamp_max": "tl.where({0} > {1}, {1}, {0})",
    "pow_tt": "tl.exp2({1} * tl.log2({0}))",
    "div_floor": "tl.floor({0} / {1})",
    "div_trunc": "_kv_trunc({0} / {1})",
    "cast_f": "{0}.to(tl.float32)",
    "cast_i": "{0}.to(tl.int64)",
    "cast_b": "({0} != 0)",
}
"""``{k}`` is the k-th argument (a value name or a literal)."""

HELPERS: dict[str, str] = {
    "_kv_tanh": '''@triton.jit
def _kv_tanh(x):
    """tanh from exp, stable for large |x|: sign(x) * (1 - e^-2|x|) / (1 + e^-2|x|)."""
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0.0, -t, t)
''',
    "_kv_trunc": '''@triton.jit
def _kv_trunc(x):
    """Round toward zero."""
    return tl.where(x < 0, tl.ceil(x), tl.floor(x))
''',
    "_kv_mul": '''@triton.jit
def _kv_mul(a, b):
    """Combine function of a product reduction."""
    return a * b
''',
}
"""Jitted helpers, emitted only when a kernel calls them."""


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
    return FORMULAS[op.op].format(*args)


def helpers_used(text: str) -> list[str]:
    """Helper definitions a kernel text calls, in a fixed order."""
    return [src for name, src in HELPERS.items() if f"{name}(" in text or f", {name})" in text]
