"""Measured evaluations on a real GPU (marked gpu: skipped without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.evaluator import EvalOptions, evaluate
from tools.records import Candidate, Problem

FIXTURES = Path(__file__).parent / "evaluator_fixtures"


@pytest.fixture
def gpu_target():
    from tools.hardware import detect_local_gpu

    target = detect_local_gpu()
    if target is None:
        pytest.skip("the visible GPU is not in the hardware registry")
    return target


def _problem(rows: int = 4096, cols: int = 8192) -> Problem:
    src = (FIXTURES / "softmax_problem.py").read_text()
    return Problem(
        name="softmax", source=src.replace("ROWS, COLS = 64, 1000", f"ROWS, COLS = {rows}, {cols}")
    )


def _cand(name: str, language: str) -> Candidate:
    return Candidate(id=name, language=language, source=(FIXTURES / f"{name}.py").read_text())  # type: ignore[arg-type]


@pytest.mark.gpu
def test_triton_softmax_is_measured_on_the_gpu(gpu_target, tmp_path):
    r = evaluate(
        _problem(),
        _cand("triton_softmax", "triton"),
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


@pytest.mark.gpu
def test_modeled_registers_match_the_real_compile(gpu_target, tmp_path):
    """The interpreter + AOT path, run where the chip is, must read the registers the real
    JIT compile reports for the same kernel and launch."""
    opts = EvalOptions(work_dir=str(tmp_path), measure_compile=False, seeds=[0])
    problem = _problem(256, 8192)
    measured = evaluate(problem, _cand("triton_softmax", "triton"), gpu_target, opts)
    modeled = evaluate(
        problem,
        _cand("triton_softmax", "triton"),
        gpu_target,
        opts.model_copy(update={"mode": "interpret"}),
    )
    assert measured.accepted and modeled.accepted, (measured.error, modeled.error)
    assert modeled.measured_on == "modeled"
    assert modeled.diagnostics.registers_per_thread == measured.diagnostics.registers_per_thread
    assert modeled.diagnostics.spill_bytes == measured.diagnostics.spill_bytes
    assert modeled.diagnostics.shared_mem_bytes == measured.diagnostics.shared_mem_bytes
