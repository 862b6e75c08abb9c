"""Targets and machine ceilings with fixed numbers for the tests (not read from
``hardware_docs`` nor measured).

The evaluator reads a target's bandwidth, peaks and Triton backend, the bench a machine's
ceilings; these records keep those numbers pinned so a change to a shipped spec file or to
the machine does not move a test.
"""

from __future__ import annotations

from tools.ceilings import Ceilings
from tools.records import Target
from tools.records.target import TritonTarget

CPU = Target(
    name="cpu", display_name="host CPU", vendor="x86", kind="cpu", arch="x86_64",
    compute_units=2, memory_bandwidth_gbps=50, languages=["cpp"],
)  # fmt: skip
H100 = Target(
    name="h100",
    display_name="H100",
    vendor="nvidia",
    kind="gpu",
    arch="sm_90",
    warp_size=32,
    compute_units=132,
    shared_mem_per_block_kib=227,
    registers_per_cu=65536,
    memory_bandwidth_gbps=3350,
    peak_tflops={"fp32": 67.0},
    languages=["triton", "cuda"],
    triton_target=TritonTarget(backend="cuda", arch=90, warp_size=32),
    torch_device_names=["H100"],
)
MI300X = H100.model_copy(
    update={
        "name": "mi300x",
        "vendor": "amd",
        "arch": "gfx942",
        "warp_size": 64,
        "compute_units": 304,
        "shared_mem_per_block_kib": 64,
        "memory_bandwidth_gbps": 5300,
        "languages": ["triton", "hip"],
        "triton_target": TritonTarget(backend="hip", arch="gfx942", warp_size=64),
        "torch_device_names": ["MI300X"],
    }
)


def ceilings(copy_gbps: float, **matmul_tflops: float) -> Ceilings:
    """Ceilings of a made-up machine, as if measured: ``copy_gbps`` GB/s of copy bandwidth
    and a matmul peak per dtype in TFLOP/s (``fp32=50.0, fp16=500.0``)."""
    return Ceilings(
        measured=True,
        device="fake",
        method="synthetic",
        copy_gbps=copy_gbps,
        matmul_tflops=matmul_tflops,
    )
