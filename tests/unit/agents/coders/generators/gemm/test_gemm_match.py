"""GEMM generator: tracing to ATen, matching product + epilogue, and one-sentence rejections.

Every accepted reference is checked with the plan oracle (``fixtures.evaluate_plan``):
the plan, executed with plain PyTorch in float64, equals the reference ``Model`` on random
inputs -- so the traced epilogue (operands, broadcast patterns, steps, views) is right
before any kernel runs.
"""

from __future__ import annotations

import pytest
import torch

from agents.coders.generators.gemm import analyze_gemm
from agents.coders.generators.gemm.trace import trace_aten
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.gemm import fixtures as g
from tools.errors import ProblemError

ACCEPTED = {
    "linear_epilogue": (g.LINEAR_EPILOGUE, (18, 24, 40)),
    "mm_activations": (g.MM_ACTIVATIONS, (37, 45, 70)),
    "more_activations": (g.MORE_ACTIVATIONS, (21, 29, 33)),
    "baddbmm": (g.BADDBMM, (19, 21, 33)),
    "einsum": (g.EINSUM, (17, 20, 24)),
    "matvec": (g.MATVEC, (50, 1, 300)),
    "vecmat": (g.VECMAT, (1, 40, 200)),
    "thin3": (g.THIN3, (45, 3, 130)),
    "skinny": (g.SKINNY, (20, 24, 1500)),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_plain_plan_equals_reference(name: str) -> None:
    source, (m, n, k) = ACCEPTED[name]
    spec = analyze_gemm(g.problem(source, name))
    plan = spec.plans["none"]
    assert (plan.m, plan.n, plan.k) == (m, n, k)
    for seed in (0, 1):
        model, inputs = g.reference_and_inputs(source, seed)
        with torch.no_grad():
            want = model(*inputs)
            got = g.evaluate_plan(plan, model, dict(zip(spec.forward_args, inputs, strict=True)))
        assert got.shape == want.shape
        assert g.max_rel_error(got, want) < 1e-12


def test_linear_epilogue_is_read_into_operands_and_steps() -> None:
    spec = analyze_gemm(g.problem(g.LINEAR_EPILOGUE))
    plan = spec.plans["none"]
    assert plan.kind == "mm" and plan.batch == 1 and plan.out_shape == (2, 9, 24)
    assert plan.a.source.render() == "_kv_reshape(x, ((0, 2), (2, 3)))" and plan.a.prologue == (("mul", 2.0),)
    assert plan.b.source.render() == "self.linear.weight.t()" and plan.b.source.stable
    kinds = {o.source.base: o.keep for o in plan.operands}
    assert kinds == {
        "self.linear.bias": (False, False, True),
        "self.scale": (False, False, True),
        "res": (False, True, True),
    }
    assert [s.op for s in plan.steps] == [
        "add",
        "gelu_tanh",
        "mul",
        "add",
        "clamp_min",
        "clamp_max",
    ]
    assert spec.forward_args == ("x", "res")


def test_broadcast_patterns_per_row_per_batch_and_scalar() -> None:
    plan = analyze_gemm(g.problem(g.MM_ACTIVATIONS)).plans["none"]
    keeps = {o.source.base: (o.keep, o.promotes) for o in plan.operands}
    assert keeps["self.rowscale"] == ((False, True, False), True)
    assert keeps["self.s"] == ((False, False, False), False)  # 0-dim: no dtype promotion
    batched = analyze_gemm(g.problem(g.BADDBMM)).plans["none"]
    assert batched.kind == "bmm" and batched.batch == 3
    assert {o.source.base: o.keep for o in batched.operands}["self.shift"] == (True, False, False)


def test_vector_products_become_thin_matrices() -> None:
    mv = analyze_gemm(g.problem(g.MATVEC)).plans["none"]
    assert mv.kind == "mv" and mv.b.source.render() == "v.unsqueeze(1)" and mv.thin == 1
    vm = analyze_gemm(g.problem(g.VECMAT)).plans["none"]
    assert (vm.m, vm.n) == (1, 40) and vm.out_shape == (40,)


@pytest.mark.parametrize("case", sorted(g.REJECTED))
def test_unsupported_graphs_are_rejected_with_one_sentence(case: str) -> None:
    source = g.REJECTION_SOURCE.format(expr=g.REJECTED[case])
    fx.assert_refused(analyze_gemm, g.problem(source, case.replace(" ", "_")))


def test_rejection_messages_name_the_cause() -> None:
    def reason(expr: str) -> str:
        with pytest.raises(ProblemError) as info:
            analyze_gemm(g.problem(g.REJECTION_SOURCE.format(expr=expr), expr[:20]))
        return str(info.value)

    assert "nonlinearity (relu)" in reason(g.REJECTED["relu between two linears"])
    assert "reductions before the matmul" in reason(g.REJECTED["reduction before the matmul"])
    assert "no matrix product" in reason(g.REJECTED["pure pointwise"])
    assert "not affine" in reason(g.REJECTED["non-affine before a sum"])


def test_trace_names_placeholders_after_forward_and_parameters() -> None:
    traced = trace_aten(g.LINEAR_EPILOGUE)
    assert sorted(traced.exprs.values()) == sorted(
        ["self.linear.weight", "self.linear.bias", "self.scale", "x", "res"]
    )
    assert len(traced.params) == 3 and traced.forward_args == ("x", "res")


def test_trace_failure_is_a_problem_error() -> None:
    broken = g.MATVEC.replace("return torch.relu(A @ v) + 1.0", "return undefined_name(A)")
    with pytest.raises(ProblemError, match="does not trace"):
        analyze_gemm(g.problem(broken, "broken"))
