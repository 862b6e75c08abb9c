"""Ceilings: measured on this CPU, modeled for a chip that is not here, measured on CUDA."""

from __future__ import annotations

import pytest

from tools.ceilings import (
    ceilings_for,
    measure_cpu,
    measure_cuda,
    measure_cuda_isolated,
    modeled_ceilings,
)
from tools.hardware import load_target


def test_cpu_ceilings_are_measured_and_positive():
    ceil = measure_cpu(reps=2)
    assert ceil.measured and ceil.label == "measured"
    assert ceil.copy_gbps > 0
    assert ceil.matmul_tflops["fp32"] > 0 and ceil.matmul_tflops["fp16"] > 0
    assert "median" in ceil.method and ceil.copy_bytes > 0
    assert ceil.tflops_for("float32") == ceil.matmul_tflops["fp32"]
    assert ceil.tflops_for("bfloat16") == ceil.matmul_tflops["fp16"]  # no bf16 run: fp16's


def test_an_absent_chip_gets_modeled_ceilings_from_its_spec():
    target = load_target("mi300x")
    ceil = ceilings_for(target)
    assert not ceil.measured and ceil.label == "modeled" and "modeled" in ceil.method
    assert ceil.target == "mi300x"
    assert ceil.copy_gbps == pytest.approx(0.9 * target.memory_bandwidth_gbps)
    assert ceil.matmul_tflops["fp16"] == pytest.approx(0.9 * target.peak_tflops["fp16"])
    assert ceil.datasheet_gbps == target.memory_bandwidth_gbps
    assert modeled_ceilings(target).matmul_tflops == ceil.matmul_tflops


@pytest.mark.gpu
def test_cuda_ceilings_are_measured_below_the_datasheet():
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        ceil = measure_cuda(reps=5)
        assert torch.backends.cuda.matmul.allow_tf32 is True, "the TF32 switch is restored"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
    assert ceil.measured and ceil.device == torch.cuda.get_device_name()
    assert 0 < ceil.copy_gbps and ceil.matmul_tflops["fp16"] > ceil.matmul_tflops["fp32"] > 0
    isolated = measure_cuda_isolated()
    assert isolated.measured and isolated.device == ceil.device
    target = load_target("h100")
    if "H100" in ceil.device:
        assert ceil.copy_gbps < target.memory_bandwidth_gbps
        assert ceil.matmul_tflops["fp32"] < target.peak_tflops["fp32"]


def test_measuring_a_gpu_that_is_not_here_fails_with_one_sentence():
    import torch

    from tools.errors import KevolveError

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    with pytest.raises(KevolveError, match="measuring the GPU's ceilings failed"):
        measure_cuda_isolated(timeout_s=120)
