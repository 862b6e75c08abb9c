"""The one formula table: log1p and expm1 keep their digits near zero in every generator.

The Triton formulas are evaluated in float32 with numpy standing in for ``tl`` (same
expression text, no kernel), against float64 references.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from agents.coders.generators.gemm.emit import step_code
from agents.coders.generators.rowfused.formulas import expression
from agents.coders.kit.chain import Step, step_expression
from agents.coders.kit.formulas import FORMULAS, formula

TL = SimpleNamespace(
    where=np.where, log=np.log, exp=np.exp, log2=np.log2, exp2=np.exp2, sqrt=np.sqrt, abs=np.abs
)
SMALL = np.array([1e-10, -3e-9, 2.5e-7, 1e-5, -4e-4, 0.03], dtype=np.float32)
REFERENCE = {"log1p": np.log1p, "expm1": np.expm1}


def _evaluate(text: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(eval(text, {"tl": TL, "float": float}, {"x": x}), dtype=np.float32)


def _writers(op: str) -> dict[str, str]:
    """The Triton text each generator writes for ``op`` applied to ``x``."""
    return {
        "table": formula(op, "triton").format("x"),
        "chain": step_expression(Step(var="v", op=op, args=("x",)), "triton"),
        "gemm": step_code(Step(var="v", op=op, args=("x",))),
        "rowfused": expression(SimpleNamespace(op=op, args=("x",))),  # type: ignore[arg-type]
    }


@pytest.mark.parametrize("op", ["log1p", "expm1"])
def test_every_generator_keeps_the_digits_near_zero(op: str) -> None:
    expected = REFERENCE[op](SMALL.astype(np.float64))
    for writer, text in _writers(op).items():
        got = _evaluate(text, SMALL).astype(np.float64)
        rel = np.abs(got - expected) / np.abs(expected)
        assert rel.max() < 1e-5, f"{writer} writes {op} as {text!r}: relative error {rel.max():.2g}"


def test_the_naive_forms_would_fail() -> None:
    """The check above detects the naive forms (they lose every digit near zero)."""
    naive = {"log1p": "tl.log(1.0 + x)", "expm1": "(tl.exp(x) - 1.0)"}
    for op, text in naive.items():
        got = _evaluate(text, SMALL[:1]).astype(np.float64)
        expected = REFERENCE[op](SMALL[:1].astype(np.float64))
        assert np.abs(got - expected).max() / abs(expected[0]) > 0.5


def test_every_cpp_formula_has_a_triton_one() -> None:
    assert all(f.triton for f in FORMULAS.values())
    assert formula("log1p", "cpp") == "std::log1p({0})"
    with pytest.raises(KeyError):
        formula("isnan", "cpp")
