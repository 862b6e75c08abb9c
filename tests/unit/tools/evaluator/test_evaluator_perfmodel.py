"""The roofline model: floors, occupancy limits, and never faster than the roofline."""

from __future__ import annotations

import pytest

from tests import targets
from tools.evaluator import perfmodel
from tools.evaluator.counting import OpRecord, OpTrace

# The roofline needs both peaks; launch overhead is the record's default (3 us).
PEAKS = {"peak_tflops": {"fp32": 67.0, "fp16": 989.4}}
H100 = targets.H100.model_copy(update=PEAKS)
MI300X = targets.MI300X.model_copy(update=PEAKS)


def test_floor_and_bound():
    assert perfmodel.floor_s(3350 * 10**6, 0, H100, "float32") == pytest.approx(1e-3)
    assert perfmodel.floor_s(0, 67 * 10**9, H100, "float32") == pytest.approx(1e-3)
    assert perfmodel.bound(10**9, 10, 1e-3, H100, "float32") == "memory"
    assert perfmodel.bound(10, 10**12, 1e-3, H100, "float32") == "compute"
    assert perfmodel.bound(10**9, 10, 5e-6, H100, "float32") == "latency"


def test_kernel_efficiency_limits():
    light = {"num_warps": 4, "grid": [132 * 16, 1, 1], "resources": {"registers": 32}}
    e = perfmodel.kernel_efficiency(light, H100)
    assert e.limiter == "warps" and e.blocks_per_cu == 16 and e.occupancy == pytest.approx(1.0)
    heavy = {"num_warps": 8, "grid": [4096, 1, 1], "resources": {"registers": 255}}
    h = perfmodel.kernel_efficiency(heavy, H100)
    assert h.limiter == "registers" and h.blocks_per_cu == 1
    smem = {"num_warps": 4, "grid": [4096], "resources": {"shared_bytes": 100 * 1024}}
    assert perfmodel.kernel_efficiency(smem, H100).limiter == "shared memory"
    tiny = perfmodel.kernel_efficiency({"num_warps": 4, "grid": [13]}, H100)
    assert tiny.wave_term == pytest.approx(13 / 132)
    amd = perfmodel.kernel_efficiency(
        {"num_warps": 4, "grid": [304 * 8], "resources": {"registers": 128}}, MI300X
    )
    assert amd.blocks_per_cu == 4 and amd.limiter == "registers"


def test_models_never_beat_the_roofline_and_eager_pays_per_op():
    nbytes = 2 * 4096 * 8192 * 4
    eager_trace = OpTrace(ops=[OpRecord(name="_softmax", bytes=nbytes, flops=4096 * 8192)])
    three_ops = OpTrace(ops=[OpRecord(name="x", bytes=nbytes, flops=0)] * 3)
    floor = perfmodel.floor_s(nbytes, 4096 * 8192, H100, "float32")
    eager = perfmodel.eager_s(eager_trace, H100, "float32")
    assert eager > floor
    assert perfmodel.eager_s(three_ops, H100, "float32") > 2.9 * eager - 1e-5
    compiled = perfmodel.compiled_s(three_ops, nbytes, 0, H100, "float32")
    assert floor <= compiled < perfmodel.eager_s(three_ops, H100, "float32")
    kernel = {
        "variant": "0",
        "kernel": "k",
        "num_warps": 8,
        "grid": [4096, 1, 1],
        "resources": {"registers": 50},
    }
    seconds, worst, notes = perfmodel.candidate_s(
        aten=OpTrace(),
        launches=[{"variant": "0", "tensor_arg_bytes": nbytes}],
        kernels=[kernel],
        bytes_moved=nbytes,
        flops=4096 * 8192,
        target=H100,
        dtype="float32",
    )
    assert seconds >= floor and worst is not None and notes
    # An under-reported launch (fewer bytes than the problem moves) still pays the floor.
    cheat, _, _ = perfmodel.candidate_s(
        aten=OpTrace(),
        launches=[{"variant": "0", "tensor_arg_bytes": 1}],
        kernels=[kernel],
        bytes_moved=nbytes,
        flops=0,
        target=H100,
        dtype="float32",
    )
    assert cheat >= floor
