"""The one table of elementwise formulas, in Triton and in C++, every generator writes from.

Each op maps to a :class:`Formula`: a Triton expression (``tl``, fp32 math) and, where the
C++ generator handles the op, a C++ ``float`` expression; ``{0}``, ``{1}``, ``{2}`` are the
arguments (value names or literals). ``log1p`` and ``expm1`` use Kahan's forms in Triton
(exact near zero, where ``log(1 + x)`` and ``exp(x) - 1`` lose every digit) and the
library functions in C++.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Formula:
    """One elementwise op in each language."""

    triton: str
    cpp: str | None = None
    """``None``: the C++ generator does not emit this op."""


_F = Formula
FORMULAS: dict[str, Formula] = {
    "identity": _F("{0}", "{0}"),
    "add": _F("({0} + {1})", "({0} + {1})"),
    "sub": _F("({0} - {1})", "({0} - {1})"),
    "mul": _F("({0} * {1})", "({0} * {1})"),
    "div": _F("({0} / {1})", "({0} / {1})"),
    "neg": _F("(-{0})", "(-{0})"),
    "relu": _F("tl.where({0} < 0.0, 0.0, {0})", "({0} < 0.0f ? 0.0f : {0})"),
    "sigmoid": _F("tl.sigmoid({0})", "(1.0f / (1.0f + kv_expf(-{0})))"),
    "tanh": _F("_kv_tanh({0})", "std::tanh({0})"),
    "exp": _F("tl.exp({0})", "std::exp({0})"),
    "exp2": _F("tl.exp2({0})"),
    "log": _F("tl.log({0})", "std::log({0})"),
    "log2": _F("tl.log2({0})"),
    "log10": _F("(tl.log({0}) * 0.4342944819032518)"),
    # Kahan's forms: exact near zero, where log(1 + x) and exp(x) - 1 lose every digit
    "log1p": _F(
        "tl.where((1.0 + {0}) == 1.0, {0}, tl.log(1.0 + {0}) * ({0} / ((1.0 + {0}) - 1.0)))",
        "std::log1p({0})",
    ),
    "expm1": _F(
        "tl.where(tl.exp({0}) == 1.0, {0}, tl.where(tl.exp({0}) - 1.0 == -1.0, -1.0,"
        " (tl.exp({0}) - 1.0) * {0} / tl.log(tl.exp({0}))))",
        "std::expm1({0})",
    ),
    "sqrt": _F("tl.sqrt({0})", "std::sqrt({0})"),
    "rsqrt": _F("tl.rsqrt({0})", "(1.0f / std::sqrt({0}))"),
    "abs": _F("tl.abs({0})", "std::fabs({0})"),
    "sign": _F("tl.where({0} > 0, 1.0, tl.where({0} < 0, -1.0, {0} * 0.0))"),
    "sin": _F("tl.sin({0})", "std::sin({0})"),
    "cos": _F("tl.cos({0})", "std::cos({0})"),
    "erf": _F("tl.erf({0})", "std::erf({0})"),
    "reciprocal": _F("(1.0 / {0})", "(1.0f / {0})"),
    "square": _F("({0} * {0})", "({0} * {0})"),
    "floor": _F("tl.floor({0})"),
    "ceil": _F("tl.ceil({0})"),
    "trunc": _F("tl.where({0} < 0, tl.ceil({0}), tl.floor({0}))"),
    "gelu": _F(
        "(0.5 * {0} * (1.0 + tl.erf({0} * 0.7071067811865476)))",
        "(0.5f * {0} * (1.0f + std::erf({0} * 0.70710678118654752f)))",
    ),
    "gelu_tanh": _F(
        "(0.5 * {0} * (1.0 + _kv_tanh(0.7978845608028654 * ({0} + 0.044715 * {0} * {0} * {0}))))",
        "(0.5f * {0} * (1.0f + std::tanh(0.79788456080286536f"
        " * ({0} + 0.044715f * {0} * {0} * {0}))))",
    ),
    "silu": _F("({0} * tl.sigmoid({0}))", "({0} / (1.0f + kv_expf(-{0})))"),
    "leaky_relu": _F("tl.where({0} < 0.0, {0} * {1}, {0})", "({0} < 0.0f ? {0} * {1} : {0})"),
    "elu": _F(
        "tl.where({0} > 0.0, {0}, {1} * (tl.exp({0}) - 1.0))",
        "({0} > 0.0f ? {0} : {1} * (std::exp({0}) - 1.0f))",
    ),
    "softplus": _F(
        "tl.where({0} * {1} > {2}, {0}, tl.log(1.0 + tl.exp({0} * {1})) / {1})",
        "({0} * {1} > {2} ? {0} : std::log1p(std::exp({0} * {1})) / {1})",
    ),
    "mish": _F(
        "({0} * _kv_tanh(tl.where({0} > 20.0, {0}, tl.log(1.0 + tl.exp({0})))))",
        "({0} * std::tanh({0} > 20.0f ? {0} : std::log1p(std::exp({0}))))",
    ),
    "hardsigmoid": _F(
        "tl.minimum(tl.maximum({0} / 6.0 + 0.5, 0.0), 1.0)",
        "std::fmin(std::fmax({0} / 6.0f + 0.5f, 0.0f), 1.0f)",
    ),
    "hardswish": _F(
        "({0} * tl.minimum(tl.maximum({0} + 3.0, 0.0), 6.0) / 6.0)",
        "({0} * std::fmin(std::fmax({0} + 3.0f, 0.0f), 6.0f) / 6.0f)",
    ),
    "clamp_min": _F("tl.where({0} < {1}, {1}, {0})", "({0} < {1} ? {1} : {0})"),
    "clamp_max": _F("tl.where({0} > {1}, {1}, {0})", "({0} > {1} ? {1} : {0})"),
    "maximum": _F("tl.maximum({0}, {1})", "std::fmax({0}, {1})"),
    "minimum": _F("tl.minimum({0}, {1})", "std::fmin({0}, {1})"),
    "where": _F("tl.where({0}, {1}, {2})", "({0} ? {1} : {2})"),
    "gt": _F("({0} > {1})", "({0} > {1})"),
    "ge": _F("({0} >= {1})", "({0} >= {1})"),
    "lt": _F("({0} < {1})", "({0} < {1})"),
    "le": _F("({0} <= {1})", "({0} <= {1})"),
    "eq": _F("({0} == {1})", "({0} == {1})"),
    "ne": _F("({0} != {1})", "({0} != {1})"),
    "not": _F("({0} == 0)"),
    "isnan": _F("({0} != {0})"),
    "isinf": _F('(tl.abs({0}) == float("inf"))'),
    "isfinite": _F('(tl.abs({0}) < float("inf"))'),
    "and": _F("({0} & {1})"),
    "or": _F("({0} | {1})"),
    "xor": _F("({0} ^ {1})"),
    "pow": _F("tl.exp2({1} * tl.log2({0}))", "std::pow({0}, {1})"),
    "div_floor": _F("tl.floor({0} / {1})"),
    # Python's (and torch.remainder's) sign rule: the result takes the divisor's sign
    "remainder": _F(
        "tl.where((({0} % {1}) != 0) & ((({0} % {1}) < 0) != ({1} < 0)),"
        " ({0} % {1}) + {1}, {0} % {1})"
    ),
    "div_trunc": _F("_kv_trunc({0} / {1})"),
    "cast_f": _F("{0}.to(tl.float32)"),
    "cast_i": _F("{0}.to(tl.int64)"),
    "cast_b": _F("({0} != 0)"),
}
BOOLEAN_OPS = frozenset({"gt", "ge", "lt", "le", "eq", "ne"})
UNARY_ACTIVATIONS = (
    "relu",
    "sigmoid",
    "tanh",
    "exp",
    "log1p",
    "expm1",
    "log",
    "sqrt",
    "rsqrt",
    "abs",
    "neg",
    "sin",
    "cos",
    "erf",
    "reciprocal",
    "silu",
    "mish",
    "hardsigmoid",
    "hardswish",
)
"""One-argument ops with a formula in both languages that the chain readers take as they are
(``torch.sigmoid``, ``aten.sigmoid``)."""

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
"""Jitted Triton helpers the formulas call, emitted only when a kernel calls them."""


def formula(op: str, language: str) -> str:
    """The format string of ``op`` in ``language`` (``triton`` or ``cpp``).

    Raises:
        KeyError: No formula of ``op`` in that language.
    """
    text = FORMULAS[op].triton if language == "triton" else FORMULAS[op].cpp
    if text is None:
        raise KeyError(f"{op} has no {language} formula")
    return text


def helpers_used(text: str) -> list[str]:
    """Helper definitions a kernel text calls, in a fixed order."""
    return [src for name, src in HELPERS.items() if f"{name}(" in text or f", {name})" in text]
