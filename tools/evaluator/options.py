"""Options for one sandboxed evaluation (plain data, sent to the worker as JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

EvalMode = Literal["auto", "measure", "interpret"]
"""``measure``: run and time on the target chip, which is on this machine. ``interpret``:
check correctness on CPU (Triton's interpreter) and model performance. ``auto`` picks
``measure`` when the target is present, else ``interpret``."""

ProfileMode = Literal["none", "ncu"]
"""Extra profiling: ``ncu`` adds a Nsight Compute pass over one forward call (CUDA only)."""


class EvalOptions(BaseModel):
    """How hard to check and how long to time. Defaults are the documented defaults."""

    timeout_s: float = 300.0
    """Wall-clock limit for the whole sandboxed evaluation of one candidate."""
    memory_limit_mib: int = 16384
    """Address space the candidate may add, in MiB, on top of what the worker maps once torch
    and Triton are imported (CPU-only evaluations; not applied when a GPU is used)."""
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    """Fresh random seeds for correctness; inputs are drawn anew for each."""
    warmup_ms: float = 25.0
    rep_ms: float = 200.0
    """Time budget for timed repetitions (as ``triton.testing.do_bench``), milliseconds."""
    min_reps: int = 10
    max_reps: int = 10000
    """Upper bound on timed repetitions, whatever ``rep_ms`` allows."""
    timed_checks: int = 90
    """Timed candidate calls whose outputs are compared with the reference, spread over the
    timing rounds and picked at random (fewer when fewer calls are timed; 0: none). A kernel
    wrong on a fraction p of its calls escapes with probability (1 - p) ** timed_checks."""
    input_sets: int = 4
    """Cloned input sets rotated between timed repetitions (fewer when inputs are large)."""
    l2_flush_mib: int = 256
    """Size of the buffer written between GPU repetitions to flush the L2 cache, MiB."""
    measure_compile: bool = True
    """Also time the reference under ``torch.compile`` in the same process."""
    reuse_reference_compile: bool = True
    """Compile and time the reference under ``torch.compile`` in the first measured
    evaluation of a problem (per target and device, in this process) only; later ones skip
    the compile and report its time scaled by their own eager time (a note says so). The
    candidate and eager reference are still timed, interleaved, in every evaluation."""
    allow_reference_ops: bool = True
    """Default policy: PyTorch ops are allowed in ModelNew (never the reference Model itself)."""
    allow_lower_precision: bool = False
    mode: EvalMode = "auto"
    """Force measuring or modeling; ``auto`` decides from whether the target is present."""
    work_dir: str = ""
    """Parent directory for the per-candidate temp dirs (empty: ``kevolve-eval`` in the system
    temp dir)."""
    cache_dir: str = ""
    """Shared compile caches (torch extensions, Triton, inductor); empty: inside work_dir.
    Used only without file-system isolation: with it, each candidate compiles into a cache
    inside its own directory (a shared writable cache would let one candidate plant a
    compiled kernel, or a slow ``torch.compile`` reference, for the next)."""
    timing_lock: str = ""
    """Path of the machine-wide device lock (``tools.evaluator.devlock``): timing holds it
    exclusively, every other device work of a worker holds it shared (empty:
    ``kevolve-timing.lock`` in the system temp dir, shared by every evaluation here)."""
    isolate_network: bool = True
    """Run the worker in a new network namespace when this machine allows one (``unshare``
    or ``bwrap``; see ``tools.evaluator.sandbox.protections``); without one it runs anyway."""
    isolate_filesystem: bool = True
    """Confine the worker with Landlock before the candidate is imported, when this machine
    allows it (see ``tools.evaluator.fsisolation``): read-only system and Python paths,
    read-write only its own directory. Without Landlock it runs anyway (a note says so)."""
    profile: ProfileMode = "none"
    """``ncu``: also run Nsight Compute over one forward call of the candidate and of the
    eager reference (measured CUDA evaluations only; ``Diagnostics.ncu_kernels``)."""
    keep_work_dir: bool = False
    """Keep the per-candidate temp dir (request, sources, logs) for debugging."""
    admission_ledger: str = ""
    """Path of the machine-wide memory admission ledger (``tools.evaluator.admission``):
    evaluations run side by side only as far as their measured footprints fit in the
    device's free memory (empty: ``kevolve-memory.json`` in the system temp dir)."""
    admit_by_memory: bool = True
    """Wait for room in device memory before starting the worker; an out-of-memory is
    retried alone. Off: start at once, as many side by side as the caller runs."""
    simulated_memory_limit_bytes: int = 0
    """Testing: the worker raises ``torch.OutOfMemoryError`` once the tensors its compile,
    correctness and recheck stages hold pass this many bytes, as a device of that size
    would (0: off). Lets out-of-memory handling be tested without a GPU."""

    @classmethod
    def in_data_dir(
        cls,
        data_dir: Path,
        *,
        timeout_s: float,
        seeds: list[int],
        rep_ms: float,
        allow_lower_precision: bool = False,
        profile: ProfileMode = "none",
    ) -> EvalOptions:
        """Options whose work dir, compile caches and timing lock live under ``data_dir``."""
        return cls(
            timeout_s=timeout_s,
            seeds=seeds,
            rep_ms=rep_ms,
            allow_lower_precision=allow_lower_precision,
            profile=profile,
            work_dir=str(data_dir / "work"),
            cache_dir=str(data_dir / "cache"),
            timing_lock=str(data_dir / "timing.lock"),
        )
