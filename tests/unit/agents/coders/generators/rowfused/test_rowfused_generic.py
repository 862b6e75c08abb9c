"""Shape-generic row-fused modules: generated at one shape, correct at another.

A draft generated for a reference with declared sizes at 37 x 1000 is checked in the Triton
interpreter (``tests/unit/agents/coders/harness.py``, mode ``check``) against the same reference at 21 x 503, as
the evaluator's irregular-shape check does. The text rewrite itself is tested directly.
"""

from __future__ import annotations

from typing import Any

import pytest

from agents.coders.generators.rowfused import RowFusedCoder
from agents.coders.generators.rowfused.generic import generalise
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.rowfused import fixtures as rf
from tests.unit.agents.coders.interpreter import InterpreterChecks
from tools.errors import ProblemError

CODER = RowFusedCoder()
GENERATED_AT = (37, 1000)
CHECKED_AT = (21, 503)


def _case(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    problem = rf.sized_problem(name, *GENERATED_AT)
    if params is None:
        source = CODER.seed(problem, fx.H100)[0].source
    else:
        source = CODER.render(problem, CODER.analyze(problem), fx.H100, params)
    return {
        "id": name + ("" if params is None else "-" + params["variant"]),
        "reference": rf.sized_source(name, *CHECKED_AT),
        "candidate": source,
        "seeds": [0],
        "dtype": "float32",
        "check_dtype": not name.startswith("arg"),
        "atol": 1e-4,
        "rtol": 1e-4,
    }


PATTERNS = [
    "softmax",
    "rms_norm",
    "layer_norm",
    "mse",
    "kl_div",
    "var",
    "argmax",
    "group_norm",
    "sum_mid",
]


def _cases() -> list[dict[str, Any]]:
    return [_case(n) for n in PATTERNS] + [_case("layer_norm", rf.config("looped", 2, 64))]


class TestDraftIsCorrectAtAnotherShape(InterpreterChecks):
    cases = staticmethod(_cases)


def test_no_traced_size_is_left_in_the_module() -> None:
    source = _case("layer_norm")["candidate"]
    generated = source[source.index("def _kv_rowfused_kernel") : source.index("# ---- the model")]
    code = [line.split("#")[0] for line in generated.splitlines() if "'" not in line]
    assert not any("1000" in line or "37" in line for line in code), generated
    assert "N=p2.shape[1]" in generated and "next_power_of_2" in generated


def test_generalise_rewrites_size_numbers_and_declines_unknown_ones() -> None:
    def text(n: int, k: float) -> str:
        return f"def _kv_rowfused(p0):\n    return p0.sum() / {float(n)!r} + {k!r}\n"

    shapes = [[(4, 10)], [(5, 8)], [(4, 6)]]
    geos = [(4, 10, 1), (5, 8, 1), (4, 6, 1)]
    out = generalise([text(40, 0.5), text(40, 0.5), text(24, 0.5)], shapes, geos)
    assert "/ (p0.shape[0] * p0.shape[1]) + 0.5" in out and "40" not in out
    with pytest.raises(ProblemError, match="shape-generic"):
        generalise([text(40, 0.5), text(41, 0.5), text(24, 0.5)], shapes, geos)
    with pytest.raises(ProblemError, match="generic"):
        generalise([text(40, 0.5), text(40, 0.5), "x = 1\n"], shapes, geos)


GROUP_NORM = '''import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, num_features: int, num_groups: int):
        super().__init__()
        self.gn = nn.GroupNorm(num_groups=num_groups, num_channels=num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(x)


batch_size = 4
features = 8
num_groups = 8
dim1 = 16
dim2 = 24


def get_inputs():
    return [torch.rand(batch_size, features, dim1, dim2)]


def get_init_inputs():
    return [features, num_groups]
'''


def test_a_size_tied_to_a_fixed_constant_keeps_its_value_in_the_extra_traces() -> None:
    # KernelBench names its sizes without their ties: `features` must stay divisible by the
    # group count, which no resize moves; the extra traces keep it and move the rest.
    from agents.coders.generators.rowfused.generic import resized_problems
    from tools.problems.fit import validate_source
    from tools.records import Problem

    resized = resized_problems(Problem(name="group_norm", source=GROUP_NORM))
    assert resized is not None and len(resized) == 2
    for other in resized:
        assert validate_source(other.source) == ""
        assert "features = 8\n" in other.source
        assert "dim1 = 16\n" not in other.source
