"""The EvalResult record: one field per evaluation stage, units in the field names.

A failed stage is named in ``stage_failed`` with its error text in ``error``; fields of
stages that did not run stay ``None`` (not measured), never ``inf`` or a magic number.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field


class Stage(str, Enum):
    """Evaluation stages, cheapest first."""

    STATIC = "static"
    COMPILE = "compile"
    CORRECTNESS = "correctness"
    TIMING = "timing"
    RECHECK = "recheck"
    DIAGNOSTICS = "diagnostics"
    SANDBOX = "sandbox"
    """The sandbox itself failed: timeout, crash, killed for memory."""
    ENVIRONMENT = "environment"
    """The machine, not the candidate: the device ran out of memory (flag ``out_of_memory``).
    Not a wrong answer: the evaluation was retried alone, and still did not fit."""


Bound = Literal["memory", "compute", "latency", "occupancy", "unknown"]


class KernelTime(BaseModel):
    """One row of the ``torch.profiler`` breakdown of a single candidate forward call."""

    name: str
    """Kernel name (CUDA) or PyTorch op name (CPU); ``ModelNew.forward (outside PyTorch
    ops)`` is the call's own time outside any op (Python, extension code)."""
    device: Literal["cuda", "cpu"]
    """``cuda``: device time of GPU kernels; ``cpu``: self time of CPU ops."""
    calls: int
    total_us: float
    """Summed time of every call of this name in the profiled forward call, microseconds."""
    share: float
    """Fraction of the profiled forward call's summed time (0..1)."""


OccupancyLimiter = Literal["registers", "shared_mem", "warps", "blocks", ""]


class NcuKernel(BaseModel):
    """One kernel launch measured by Nsight Compute (``ncu --page raw`` metrics, parsed)."""

    name: str
    duration_us: float | None = None
    """``gpu__time_duration.sum`` (clocks locked to base by ncu), microseconds."""
    dram_read_bytes: int | None = None
    dram_write_bytes: int | None = None
    dram_gbps: float | None = None
    """(DRAM bytes read + written) / duration, GB/s (1e9 bytes per second)."""
    sm_throughput_pct: float | None = None
    """``sm__throughput``: compute pipelines, percent of peak sustained."""
    memory_throughput_pct: float | None = None
    """``gpu__compute_memory_throughput``: memory system, percent of peak sustained."""
    achieved_occupancy_pct: float | None = None
    """``sm__warps_active.avg.pct_of_peak_sustained_active``: achieved occupancy, percent."""
    registers_per_thread: int | None = None
    grid_size: int | None = None
    """Blocks in the grid (``launch__grid_size``)."""
    block_size: int | None = None
    """Threads per block (``launch__block_size``)."""
    occupancy_limits: dict[str, int] = Field(default_factory=dict)
    """Blocks per SM each resource allows (``launch__occupancy_limit_*``)."""
    limiter: OccupancyLimiter = ""
    """The resource with the smallest limit: what caps theoretical occupancy."""


class Diagnostics(BaseModel):
    """What the measurement means for this chip."""

    bytes_moved: int = 0
    """Fewest bytes the problem must move: every input read once, every output written once."""
    flops: int = 0
    """Floating-point operations counted for the problem (matmul-class ops exactly)."""
    achieved_gbps: float | None = None
    achieved_tflops: float | None = None
    roofline_fraction: float | None = None
    """Achieved fraction of the chip's roofline for this problem's bytes and FLOPs (0..1)."""
    bound: Bound = "unknown"
    kernel_launches: int = 0
    """Kernel launches recorded for one forward call of the candidate."""
    registers_per_thread: int | None = None
    """Registers (VGPRs on AMD) per thread from the target compile."""
    sgprs: int | None = None
    """Scalar registers per wavefront (AMD only)."""
    spill_bytes: int | None = None
    """Bytes spilled to local/scratch memory per thread from the target compile."""
    shared_mem_bytes: int | None = None
    """Shared memory (NVIDIA) or LDS (AMD) per block from the target compile."""
    occupancy: float | None = None
    """Modeled resident warps / maximum warps per SM or CU (0..1)."""
    compiled_for: str = ""
    """The target the resource numbers come from (``sm_90``, ``gfx942``, ``host``)."""
    kernels: list[dict[str, object]] = Field(default_factory=list)
    """Per-kernel details: name, grid, num_warps, registers, shared memory."""
    kernel_breakdown: list[KernelTime] = Field(default_factory=list)
    """``torch.profiler`` breakdown of one candidate forward call, largest first (top 10;
    measured evaluations only)."""
    ncu_kernels: list[NcuKernel] = Field(default_factory=list)
    """Nsight Compute records of one candidate forward call (``profile="ncu"``, CUDA only)."""
    ncu_reference_kernels: list[NcuKernel] = Field(default_factory=list)
    """The same for one call of the eager reference, for comparison."""
    notes: list[str] = Field(default_factory=list)


class EvalResult(BaseModel):
    """Everything one evaluation established about one candidate."""

    candidate_id: str
    target: str
    static_ok: bool = False
    compiled: bool = False
    correct: bool = False
    stage_failed: Stage | None = None
    error: str = ""
    """The failing stage's error text, kept whole (trimmed to a few KB)."""
    seeds_checked: int = 0
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    nonfinite_count: int = 0
    """Output elements that were NaN or infinite where the reference's were finite (the
    first failing call); ``max_abs_err``/``max_rel_err`` cover the elements finite in both."""
    peak_memory_bytes: int | None = None
    """Peak device memory of the evaluation: ``torch.cuda.max_memory_reserved`` on a GPU (what
    the caching allocator held, at least ``max_memory_allocated``),
    the peak bytes of live tensors on the CPU (an estimate); the problem's footprint for
    memory admission (``tools.evaluator.admission``)."""
    runtime_ms: float | None = None
    """Median runtime of one forward call, in milliseconds (modeled if ``measured_on`` says so)."""
    runtime_spread_ms: float | None = None
    """Interquartile range of the timed repetitions, in milliseconds."""
    ref_eager_ms: float | None = None
    ref_compile_ms: float | None = None
    speedup_vs_eager: float | None = None
    speedup_vs_compile: float | None = None
    measured_on: str = ""
    """Device name the times were measured on, or ``modeled``."""
    diagnostics: Diagnostics = Field(default_factory=Diagnostics)
    flags: list[str] = Field(default_factory=list)
    """Suspicions that keep a result from counting as a win (``reference_op_used``, ...)."""
    duration_s: float = 0.0
    """Wall-clock seconds the whole evaluation took."""

    @property
    def accepted(self) -> bool:
        """True when the candidate compiled, is correct, and carries no disqualifying flag."""
        return self.compiled and self.correct and self.stage_failed is None and not any(
            f in DISQUALIFYING_FLAGS for f in self.flags
        )

    @property
    def out_of_memory(self) -> bool:
        """True when the evaluation ran out of device memory (an environment failure)."""
        return "out_of_memory" in self.flags

    @property
    def reward(self) -> float:
        """Search reward: speedup vs eager for accepted candidates, 0 otherwise."""
        if not self.accepted or self.speedup_vs_eager is None:
            return 0.0
        return self.speedup_vs_eager


DISQUALIFYING_FLAGS = frozenset(
    {
        "reference_model_used",
        "speedup_beyond_roofline",
        "precision_lowered",
        "nondeterministic",
        "input_mutated",
        "output_aliases_input",
    }
)
"""Flags that make a correct-looking candidate unacceptable as a win."""
