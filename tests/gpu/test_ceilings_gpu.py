"""Ceilings measured on the local CUDA device, below the datasheet's numbers."""

from __future__ import annotations

import pytest

from tools.ceilings import measure_cuda, measure_cuda_isolated
from tools.hardware import load_target


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
