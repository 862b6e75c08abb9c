"""Pooling kernels: interpreter correctness against the reference, and AOT compiles.

One subprocess runs every quick case under ``TRITON_INTERPRET=1`` (max and average pooling
1-D and 2-D with padding, stride, dilation, ``count_include_pad`` both ways and
``divisor_override``; global average pooling; fp32 and fp16; non-contiguous inputs).
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.pooling import test_pooling as _cases
from tests.unit.agents.coders.generators.pooling.test_pooling import CODER, pool_problem
from tests.unit.agents.coders.interpreter import CatchesBrokenDrafts
from tools.records import Problem

TOL = {"float32": {"atol": 1e-5, "rtol": 1e-5}, "float16": {"atol": 1e-3, "rtol": 1e-3}}

FORMS = {
    "max2d-pad": ("F.max_pool2d(x, 3, 2, 1)", "2, 3, 17, 19", "pass"),
    "max2d-dilation": ("self.p(x)", "2, 3, 30, 21", "self.p = nn.MaxPool2d(2, 2, 1, dilation=3)"),
    "max1d-dilation": ("self.p(x)", "2, 3, 40", "self.p = nn.MaxPool1d(4, 2, 2, dilation=3)"),
    "avg2d-no-pad-count": ("F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)", "2, 3, 17, 19",
                           "pass"),
    "avg2d-module": ("self.p(x)", "2, 3, 17, 19", "self.p = nn.AvgPool2d(3, padding=1)"),
    "avg2d-divisor": ("F.avg_pool2d(x, (3, 2), (1, 2), (1, 0), divisor_override=5)",
                      "3, 17, 19", "pass"),
    "avg1d": ("F.avg_pool1d(x, 4, 2, 1)", "2, 3, 40", "pass"),
    "gap-flatten": ("self.p(x).flatten(1)", "2, 3, 7, 7", "self.p = nn.AdaptiveAvgPool2d((1, 1))"),
    "gap1d": ("F.adaptive_avg_pool1d(x, 1)", "2, 3, 40", "pass"),
    "mean-hw": ("x.mean(dim=(2, 3))", "2, 3, 17, 19", "pass"),
}  # fmt: skip


def _case(case_id: str, problem: Problem, source: str, **extra: Any) -> dict[str, Any]:
    return fx.case(case_id, problem, source, **(TOL[problem.dtype] | extra))


def _quick_cases() -> list[dict[str, Any]]:
    import torch.nn.functional as F

    # An undecomposed adaptive_avg_pool1d (one averaged dim, no unsqueeze) renders its own way.
    gap1 = pool_problem("F.adaptive_avg_pool1d(x, 1)", "2, 3, 40", dtype="float16")
    spec = _cases.pre_dispatch_spec(lambda x: F.adaptive_avg_pool1d(x, 1), (2, 3, 40))
    spec = replace(spec, dtype="float16")
    params = CODER.seed_params(spec, fx.H100)[0]
    cases = [_case("gap1-one-dim-fp16", gap1, CODER.render(gap1, spec, fx.H100, params))]
    for i, (name, (expr, shape, init)) in enumerate(FORMS.items()):
        dtype = ("float32", "float16")[i % 2]
        target = (fx.H100, fx.MI300X)[(i // 2) % 2]
        problem = pool_problem(expr, shape, init, dtype=dtype)
        source = CODER.seed(problem, target)[0].source
        cases.append(_case(f"{name}-{dtype}-{target.name}", problem, source, noncontiguous=i < 4))
    return cases


def _broken_cases() -> list[dict[str, Any]]:
    """Counting the padding the reference excludes: the reference must reject it."""
    problem = pool_problem("F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)", "2, 3, 17, 19")
    right = _case("right-divisor", problem, CODER.seed(problem, fx.H100)[0].source)
    return [fx.broken("wrong-divisor", right, "COUNT_PAD=False", "COUNT_PAD=True")]


class TestInterpreter(CatchesBrokenDrafts):
    cases = staticmethod(_quick_cases)
    broken = staticmethod(_broken_cases)


@pytest.mark.slow
def test_pooling_compiles_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = []
    for name, dtype in (("max2d-dilation", "float16"), ("avg2d-no-pad-count", "float32"),
                        ("gap-flatten", "bfloat16")):  # fmt: skip
        expr, shape, init = FORMS[name]
        problem = pool_problem(expr, shape, init, dtype=dtype)
        for target, arch in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
            cases.append({"id": f"{name}-{arch}", "reference": problem.source, "dtype": dtype,
                          "candidate": CODER.seed(problem, target)[0].source, "targets": [arch]})  # fmt: skip
    results = fx.run_harness("compile", cases, tmp_path)
    for case_id, result in results.items():
        assert result["ok"], (case_id, result)
        if "hip" in case_id:
            assert result["kernels"][0]["vgpr_spill"] == 0


@pytest.mark.slow
def test_every_seed_and_random_configs_match_in_interpreter(tmp_path: Path) -> None:
    rng = random.Random(0)
    cases = []
    for name, (expr, shape, init) in FORMS.items():
        for dtype in ("float32", "float16"):
            problem = pool_problem(expr, shape, init, dtype=dtype)
            spec = CODER.spec_for(problem, fx.H100)
            for target in (fx.H100, fx.MI300X):
                for i, draft in enumerate(CODER.seed(problem, target)):
                    cases.append(_case(f"{name}-{dtype}-{target.name}-seed{i}", problem,
                                       draft.source, noncontiguous=i == 1))  # fmt: skip
                params = CODER.space(spec, target).random_config(rng)
                assert params is not None
                cases.append(_case(f"{name}-{dtype}-{target.name}-random", problem,
                                   CODER.render(problem, spec, target, params)))  # fmt: skip
    fx.run_all_ok("check", cases, tmp_path, interpret=True)
