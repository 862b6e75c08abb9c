"""Output comparison, input mutation, aliasing and determinism checks."""

from __future__ import annotations

import pytest
import torch

from tools.evaluator.correctness import aliases, bitwise_equal, compare_outputs, mutated_inputs
from tools.evaluator.tolerances import TOLERANCES, is_lower_precision, tolerance_for


def test_close_outputs_pass_with_errors_reported():
    ref = torch.randn(8, 16)
    c = compare_outputs(ref, ref + 1e-6)
    assert c.ok and 0 < c.max_abs_err < 2e-6 and c.max_rel_err > 0


def test_wrong_values_fail_with_location_and_errors():
    ref = torch.randn(8, 16)
    new = ref.clone()
    new[2, 3] += 1.0
    c = compare_outputs(ref, new)
    assert not c.ok
    assert "1 of 128" in c.message and "(2, 3)" in c.message
    assert c.max_abs_err == pytest.approx(1.0, rel=1e-5)


def test_shape_dtype_and_structure_mismatches():
    ref = torch.randn(4, 4)
    assert "shape" in compare_outputs(ref, torch.randn(16)).message
    assert "dtype" in compare_outputs(ref, ref.to(torch.float64)).message
    assert "structure" in compare_outputs((ref, ref), ref).message


def test_lower_precision_is_flagged_and_fails_unless_allowed():
    ref = torch.randn(4, 4)
    c = compare_outputs(ref, ref.half())
    assert not c.ok and c.flags == ["precision_lowered"]
    allowed = compare_outputs(ref, ref.half(), allow_lower_precision=True)
    assert allowed.ok and allowed.flags == ["precision_lowered"]


def test_nonfinite_handling():
    ref = torch.tensor([1.0, float("nan"), float("inf")])
    assert compare_outputs(ref, ref.clone()).ok
    bad = compare_outputs(torch.tensor([1.0, 2.0]), torch.tensor([1.0, float("nan")]))
    assert not bad.ok and "non-finite" in bad.message


def test_tuple_outputs_compare_each_element():
    a, b = torch.randn(3), torch.randn(5)
    assert compare_outputs((a, b), (a.clone(), b.clone())).ok
    c = compare_outputs((a, b), (a.clone(), b + 1))
    assert not c.ok and c.message.startswith("output[1]")


def test_mutation_aliasing_and_bitwise_equality():
    x = torch.randn(10)
    pristine = x.clone()
    assert mutated_inputs([x], [pristine]) == []
    x[0] += 1
    assert mutated_inputs([x], [pristine]) == [0]
    assert aliases(x[2:5], [x]) and not aliases(x.clone(), [x])
    nan = torch.tensor([float("nan"), 1.0])
    assert bitwise_equal(nan, nan.clone())
    assert not bitwise_equal(nan, torch.tensor([float("nan"), 1.0 + 1e-7]))


def test_tolerances_have_reasons_and_precision_ranks():
    for dtype, tol in TOLERANCES.items():
        assert tol.reason and tol.atol >= 0 and tol.rtol >= 0, dtype
    assert tolerance_for(torch.float32).atol == 1e-4
    assert tolerance_for(torch.int64).atol == 0.0
    assert is_lower_precision(torch.bfloat16, torch.float32)
    assert not is_lower_precision(torch.float32, torch.float32)
    assert not is_lower_precision(torch.float64, torch.float32)


def test_absolute_tolerance_follows_the_output_scale():
    torch.manual_seed(0)
    ref = torch.softmax(torch.randn(64, 1000), dim=-1)
    # A softmax scaled by 1.001 passed a fixed atol=1e-4 (elements are ~1e-3); now it fails.
    scaled = compare_outputs(ref, ref * 1.001)
    assert not scaled.ok and "output RMS" in scaled.message
    # An honest fp32 reformulation (different summation order) still passes.
    x = torch.randn(64, 1000)
    honest = torch.exp(x - x.max(-1, keepdim=True).values)
    honest = honest / honest.double().sum(-1, keepdim=True).float()
    assert compare_outputs(torch.softmax(x, dim=-1), honest).ok
    # Large outputs (a K=4096 matmul) get a proportionally larger absolute tolerance.
    a, b = torch.randn(32, 4096), torch.randn(4096, 32)
    assert compare_outputs(a @ b, (a.double() @ b.double()).float()).ok
    assert not compare_outputs(a @ b, (a.bfloat16() @ b.bfloat16()).float()).ok


def test_perturb_parameters_copies_values_in_registration_order():
    from tools.evaluator.loader import perturb_parameters

    torch.manual_seed(0)
    ref, new = torch.nn.LayerNorm(8), torch.nn.LayerNorm(8)
    assert perturb_parameters(ref, new, seed=3) is None
    assert not torch.equal(ref.weight, torch.ones(8)) and not torch.equal(ref.bias, torch.zeros(8))
    assert torch.equal(ref.weight, new.weight) and torch.equal(ref.bias, new.bias)
    bn = torch.nn.BatchNorm1d(4)
    perturb_parameters(bn, torch.nn.BatchNorm1d(4), seed=1)
    assert bool((bn.running_var > 0).all()) and not torch.equal(bn.running_mean, torch.zeros(4))
    mismatch = perturb_parameters(torch.nn.LayerNorm(8), torch.nn.Linear(8, 8), seed=0)
    assert mismatch and "KernelBench" in mismatch
    bare = torch.nn.LayerNorm(8)
    assert "no parameters" in perturb_parameters(bare, torch.nn.Identity(), seed=0)
    assert not torch.equal(bare.weight, torch.ones(8))
