"""Ceilings: measured on this CPU, modeled for a chip that is not here (CUDA: tests/gpu)."""

from __future__ import annotations

import pytest

from tools.ceilings import (
    ceilings_for,
    measure_cpu,
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


def test_measuring_a_gpu_that_is_not_here_fails_with_one_sentence():
    import torch

    from tools.errors import KevolveError

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    with pytest.raises(KevolveError, match="measuring the GPU's ceilings failed"):
        measure_cuda_isolated(timeout_s=120)
