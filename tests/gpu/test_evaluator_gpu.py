"""Measured evaluations on a real GPU (marked gpu: skipped without CUDA)."""

from __future__ import annotations

import pytest

from tests.support import SOFTMAX_PROBLEM, TRITON_SOFTMAX
from tools.evaluator import EvalOptions, evaluate
from tools.records import Candidate, Problem


def _problem(rows: int = 4096, cols: int = 8192) -> Problem:
    src = SOFTMAX_PROBLEM.read_text()
    assert "ROWS, COLS = 64, 1000" in src, "the softmax problem's size line changed; resize it here"
    return Problem(
        name="softmax", source=src.replace("ROWS, COLS = 64, 1000", f"ROWS, COLS = {rows}, {cols}")
    )


def _triton() -> Candidate:
    return Candidate(id="triton_softmax", language="triton", source=TRITON_SOFTMAX.read_text())


@pytest.mark.gpu
def test_triton_softmax_is_measured_on_the_gpu(gpu_target, tmp_path):
    r = evaluate(
        _problem(),
        _triton(),
        gpu_target,
        EvalOptions(work_dir=str(tmp_path)),
    )
    assert r.accepted, r.error
    assert r.measured_on != "modeled" and r.runtime_ms > 0 and r.ref_eager_ms > 0
    assert r.ref_compile_ms is not None and r.speedup_vs_compile is not None
    d = r.diagnostics
    assert d.kernel_launches == 1 and d.registers_per_thread and d.compiled_for == gpu_target.arch
    assert 0 < d.roofline_fraction <= 1 and d.bound == "memory"
    assert "speedup_beyond_roofline" not in r.flags
    top = d.kernel_breakdown[0]  # torch.profiler: the candidate's one kernel, device time
    assert top.device == "cuda" and "softmax_kernel" in top.name and top.calls == 1


@pytest.mark.gpu
def test_ncu_profile_gives_typed_records_or_one_note(gpu_target, tmp_path):
    from tools.evaluator.ncu import find_ncu

    opts = EvalOptions(work_dir=str(tmp_path), measure_compile=False, seeds=[0], profile="ncu")
    r = evaluate(_problem(), _triton(), gpu_target, opts)
    assert r.accepted, r.error  # profiling never fails an evaluation
    d = r.diagnostics
    notes = [n for n in d.notes if "ncu" in n]
    if find_ncu() is None:
        assert d.ncu_kernels == [] and len(notes) == 1 and "no `ncu`" in notes[0]
        return
    if d.ncu_kernels:
        k = next(k for k in d.ncu_kernels if "softmax_kernel" in k.name)
        assert k.duration_us and k.duration_us > 0 and k.dram_gbps and k.dram_gbps > 0
        assert k.registers_per_thread == d.registers_per_thread
        assert k.achieved_occupancy_pct is not None and k.limiter
        assert d.ncu_reference_kernels or any("reference" in n for n in notes)
    else:
        assert len(notes) == 1, notes  # e.g. ERR_NVGPUCTRPERM: one sentence, nothing failed


@pytest.mark.gpu
def test_modeled_registers_match_the_real_compile(gpu_target, tmp_path):
    """The interpreter + AOT path, run where the chip is, must read the registers the real
    JIT compile reports for the same kernel and launch."""
    opts = EvalOptions(work_dir=str(tmp_path), measure_compile=False, seeds=[0])
    problem = _problem(256, 8192)
    measured = evaluate(problem, _triton(), gpu_target, opts)
    modeled = evaluate(
        problem,
        _triton(),
        gpu_target,
        opts.model_copy(update={"mode": "interpret"}),
    )
    assert measured.accepted and modeled.accepted, (measured.error, modeled.error)
    assert modeled.measured_on == "modeled"
    assert modeled.diagnostics.registers_per_thread == measured.diagnostics.registers_per_thread
    assert modeled.diagnostics.spill_bytes == measured.diagnostics.spill_bytes
    assert modeled.diagnostics.shared_mem_bytes == measured.diagnostics.shared_mem_bytes
