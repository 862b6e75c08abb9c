"""The Target record: one chip from the hardware registry (``hardware_docs/<chip>/spec.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PEAK_KEYS = {
    "float32": "fp32",
    "float16": "fp16",
    "bfloat16": "bf16",
    "float64": "fp64",
    "float8_e4m3fn": "fp8",
    "int8": "int8",
}
"""Torch dtype names -> the keys of a chip's ``peak_tflops`` (and of measured ceilings)."""


def peak_key(dtype: str) -> str:
    """The ``peak_tflops`` key of a torch dtype name (``float16`` -> ``fp16``); a key such as
    ``fp16`` is returned as it is."""
    return PEAK_KEYS.get(dtype, dtype)


class TritonTarget(BaseModel):
    """Arguments for ``triton.backends.compiler.GPUTarget(backend, arch, warp_size)``."""

    model_config = ConfigDict(frozen=True)

    backend: Literal["cuda", "hip"]
    arch: int | str
    """``90`` for sm_90, ``"gfx942"`` for MI300X."""
    warp_size: int


class Target(BaseModel):
    """A chip's facts, as data. Rates are datasheet figures unless a field says measured."""

    model_config = ConfigDict(frozen=True)

    name: str
    """Registry key, the folder name under ``hardware_docs/`` (``h100``, ``mi300x``, ``cpu``)."""
    display_name: str
    vendor: str
    """``nvidia``, ``amd``, ``intel`` or the CPU vendor string."""
    kind: Literal["gpu", "cpu"]
    arch: str
    """``sm_90``, ``gfx942``, ``x86_64-avx512``."""
    aliases: list[str] = Field(default_factory=list)
    warp_size: int = 1
    """Threads per warp (32) or wavefront (64); 1 for a CPU."""
    compute_units: int
    """SMs, CUs, or CPU cores available to kevolve."""
    shared_mem_per_block_kib: float = 0.0
    """Shared memory (NVIDIA) or LDS (AMD) one block may use, in KiB."""
    registers_per_cu: int = 0
    """32-bit registers per SM/CU (VGPRs per SIMD x SIMDs on AMD)."""
    max_registers_per_thread: int = 0
    l2_cache_mib: float = 0.0
    memory_gib: float = 0.0
    memory_bandwidth_gbps: float
    """Peak DRAM/HBM bandwidth in GB/s (1e9 bytes per second)."""
    peak_tflops: dict[str, float] = Field(default_factory=dict)
    """Dense peak per dtype key (``fp32``, ``tf32``, ``fp16``, ``bf16``, ``fp64``), TFLOP/s."""
    languages: list[str] = Field(default_factory=list)
    """Kernel languages this chip accepts: triton, cuda, hip, cpp."""
    triton_target: TritonTarget | None = None
    """Ahead-of-time Triton compile target; ``None`` for CPUs."""
    isa_features: list[str] = Field(default_factory=list)
    """CPU ISA features (avx2, avx512f, ...) detected at run time; empty for GPUs."""
    torch_device_names: list[str] = Field(default_factory=list)
    """Substrings of ``torch.cuda.get_device_name()`` that identify this chip when present."""
    launch_overhead_us: float = 3.0
    """Per-kernel launch latency used by the performance model, in microseconds."""
