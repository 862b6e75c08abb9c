"""GEMM rewrites: each is exact up to float reassociation, proven on random inputs.

Two levels: the plan oracle (the rewritten plan in float64 PyTorch equals the reference
``Model``; fast, in-process) and the rendered kernels themselves under the Triton
interpreter (one subprocess; the rewrite's precomputed weights are built by the module's
own kernels).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from agents.coders.generators.gemm import GemmCoder, analyze_gemm
from agents.coders.generators.gemm.space import gemm_space
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.gemm import fixtures as g
from tools.errors import ProblemError

CODER = GemmCoder()

SUM_VARIANTS = {
    "mean_3d": g.LINEAR_SUM,
    "sum_keepdim": g.LINEAR_SUM_KEEPDIM,
    "sum_no_bias_scaled_weight": g.LINEAR_SUM_KEEPDIM.replace(
        "nn.Linear(k, n)", "nn.Linear(k, n, bias=False)"
    ).replace("self.linear(x)", "x @ (self.linear.weight * 3.0).t()"),
    "sum_per_column_param_and_scalar": g.LINEAR_SUM_KEEPDIM.replace(
        "torch.sum(self.linear(x), dim=1, keepdim=True)",
        "torch.sum(2.0 * (self.linear(x) - self.linear.bias) + 0.5, dim=-1, keepdim=True)",
    ),
}


def _check(source: str, rewrite: str, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    spec = analyze_gemm(g.problem(source, rewrite))
    plan = spec.plans[rewrite]
    for seed in seeds:
        model, inputs = g.reference_and_inputs(source, seed)
        with torch.no_grad():
            want = model(*inputs)
            got = g.evaluate_plan(plan, model, dict(zip(spec.forward_args, inputs, strict=True)))
        assert got.shape == want.shape
        assert g.max_rel_error(got, want) < 1e-10, (rewrite, seed)


# ---- (a) sum over output features -> matrix-vector with summed weights --------------------
@pytest.mark.parametrize("name", sorted(SUM_VARIANTS))
def test_sum_to_gemv_is_exact_on_random_inputs(name: str) -> None:
    _check(SUM_VARIANTS[name], "sum_to_gemv")


def test_sum_to_gemv_reads_summed_weights_and_is_gemv_only() -> None:
    spec = analyze_gemm(g.problem(g.LINEAR_SUM))
    assert list(spec.plans) == ["sum_to_gemv"]
    plan = spec.plans["sum_to_gemv"]
    assert plan.n == 1 and plan.thin_only and plan.flops == 2 * 30 * 70
    assert [p.kind for p in plan.precompute] == ["rowsum", "rowsum", "rowsum"]
    assert plan.precompute[0].sources[0].render() == "self.linear.weight.t()"
    space = gemm_space(spec, fx.H100)
    assert set(space.variants) == {"gemv"}


# ---- (b) constant scalings folded into the epilogue ----------------------------------------
def test_fold_scale_is_exact_and_moves_the_prologue() -> None:
    _check(g.LINEAR_EPILOGUE, "fold_scale")
    spec = analyze_gemm(g.problem(g.LINEAR_EPILOGUE))
    none, folded = spec.plans["none"], spec.plans["fold_scale"]
    assert none.a.prologue == (("mul", 2.0),) and folded.a.prologue == ()
    assert folded.steps[0].op == "mul" and folded.steps[0].args == ("acc", 2.0)


def test_fold_scale_merges_leading_constant_scalings() -> None:
    source = g.SKINNY.replace(
        'F.gelu(torch.matmul(A, B), approximate="tanh")',
        "torch.relu(torch.matmul(A * 0.5, B / 4.0) * 3.0 / 2.0)",
    )
    _check(source, "fold_scale")
    plan = analyze_gemm(g.problem(source, "fold")).plans["fold_scale"]
    assert [s.op for s in plan.steps] == ["mul", "relu"]
    assert plan.steps[0].args[1] == pytest.approx(0.5 / 4.0 * 3.0 / 2.0)


def test_fold_scale_is_not_offered_when_there_is_nothing_to_fold() -> None:
    assert list(analyze_gemm(g.problem(g.SKINNY)).plans) == ["none"]


# ---- (c) back-to-back linears merged when that reduces FLOPs --------------------------------
def test_merge_linears_is_exact_on_random_inputs() -> None:
    _check(g.TWO_LINEARS, "merge_linears")
    no_bias = g.TWO_LINEARS.replace("nn.Linear(20, 96)", "nn.Linear(20, 96, bias=False)")
    _check(no_bias, "merge_linears")


def test_merge_linears_condition() -> None:
    plan = analyze_gemm(g.problem(g.TWO_LINEARS)).plans["merge_linears"]
    m, k, h, n = 34, 20, 96, 24
    assert (plan.m, plan.k, plan.n) == (m, k, n)
    assert plan.flops == 2 * m * k * n < 2 * m * h * (k + n)  # cached weights: K*N < H*(K+N)
    with pytest.raises(ProblemError, match=r"K\*N < H\*\(K\+N\)"):
        analyze_gemm(g.problem(g.TWO_LINEARS_WIDE_K, "wide_k"))


def test_merge_linears_condition_counts_the_merge_when_weights_are_inputs() -> None:
    source = (
        g._HEAD
        + """class Model(nn.Module):
    def forward(self, x, w1, w2):
        return (x @ w1) @ w2


def get_inputs():
    return [torch.randn({m}, 8), torch.randn(8, 64), torch.randn(64, 8)]


def get_init_inputs():
    return []
"""
    )
    # Uncached: M*K*N + K*H*N + H*N < M*H*(K+N) holds for M=64, not for M=2.
    plan = analyze_gemm(g.problem(source.format(m=64), "inputs64")).plans["merge_linears"]
    assert not plan.b.source.stable
    _check(source.format(m=64), "merge_linears")
    with pytest.raises(ProblemError, match=r"M\*K\*N"):
        analyze_gemm(g.problem(source.format(m=2), "inputs2"))


# ---- the rendered kernels, interpreter --------------------------------------------------------
def _render(source: str, params: dict[str, Any], dtype: str = "float32") -> str:
    problem = g.problem(source, "rw", dtype)
    spec = CODER.spec_for(problem, fx.H100)
    base = CODER.seed(problem, fx.H100)[0].params
    full = {**base, **params}
    assert CODER.space(spec, fx.H100).is_legal(full), full
    return CODER.render(problem, spec, fx.H100, full)


@pytest.fixture(scope="module")
def kernel_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tol = {"atol": 1e-3, "rtol": 1e-4}
    half = {"dtype": "float16", "atol": 2e-2, "rtol": 2e-2}
    cases = {
        "fold_scale": (g.LINEAR_EPILOGUE, {"rewrite": "fold_scale"}, tol),
        "none_with_prologue": (g.LINEAR_EPILOGUE, {"rewrite": "none"}, tol),
        "sum_to_gemv": (g.LINEAR_SUM, {"SPLIT_K": 1}, tol),
        "sum_to_gemv_split": (g.LINEAR_SUM_KEEPDIM, {"SPLIT_K": 2, "BLOCK_K": 32}, tol),
        "merge_linears": (g.TWO_LINEARS, {}, tol),
        "merge_linears_fp16": (g.TWO_LINEARS, {}, half),
    }
    specs = []
    for case_id, (source, params, extra) in cases.items():
        candidate = _render(source, params, extra.get("dtype", "float32"))
        specs.append(
            {"id": case_id, "reference": source, "candidate": candidate, "seeds": [0, 1], **extra}
        )
    return fx.run_harness("check", specs, tmp_path_factory.mktemp("gemm_rw"), interpret=True)


@pytest.mark.parametrize(
    "case_id",
    [
        "fold_scale",
        "none_with_prologue",
        "sum_to_gemv",
        "sum_to_gemv_split",
        "merge_linears",
        "merge_linears_fp16",
    ],
)
def test_rewritten_kernels_match_reference_in_interpreter(
    kernel_results: dict[str, dict[str, Any]], case_id: str
) -> None:
    assert kernel_results[case_id]["ok"], kernel_results[case_id]


def test_precomputed_weights_are_cached_on_parameter_versions() -> None:
    source = _render(g.LINEAR_SUM, {})
    assert "_kv_cached(self, '_kv_p0', (self.linear.weight,), _kv_rowsum" in source
    assert "t._version" in source and "t.data_ptr()" in source
    merged = _render(g.TWO_LINEARS, {})
    assert (
        "_kv_cached(self, '_kv_p0', (self.l1.weight, self.l2.weight), _kv_matmul_plain,"
        " self.l1.weight.t(), self.l2.weight.t())" in merged
    )
