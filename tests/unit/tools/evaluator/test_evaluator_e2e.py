"""End-to-end evaluations through the sandbox (subprocesses: marked slow, kept few)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support import ADVERSARIAL_FIXTURES, EVALUATOR_FIXTURES, SOFTMAX_PROBLEM, TRITON_SOFTMAX
from tests.targets import CPU, H100, MI300X
from tools.evaluator import EvalOptions, evaluate
from tools.records import Candidate, Problem
from tools.records.eval_result import Stage

FIXTURES = EVALUATOR_FIXTURES
ADVERSARIAL = ADVERSARIAL_FIXTURES



@pytest.fixture
def problem() -> Problem:
    return Problem(name="softmax", source=SOFTMAX_PROBLEM.read_text())


def _candidate(path: Path, language: str = "pytorch") -> Candidate:
    return Candidate(id=path.stem, language=language, source=path.read_text())  # type: ignore[arg-type]


def _options(tmp_path: Path, **kw) -> EvalOptions:
    base = {"work_dir": str(tmp_path), "measure_compile": False, "rep_ms": 20.0, "warmup_ms": 5.0}
    return EvalOptions(**{**base, **kw})


@pytest.mark.slow
def test_honest_pytorch_candidate_on_cpu_is_accepted(problem, tmp_path):
    r = evaluate(problem, _candidate(FIXTURES / "pytorch_softmax.py"), CPU, _options(tmp_path))
    assert r.accepted, r.error
    assert r.seeds_checked == 3 and r.max_abs_err is not None and r.max_abs_err < 1e-5
    assert r.runtime_ms > 0 and r.ref_eager_ms > 0
    assert r.speedup_vs_eager == pytest.approx(r.ref_eager_ms / r.runtime_ms)
    assert r.measured_on.endswith("cores)") and r.measured_on != "modeled"
    assert r.diagnostics.bytes_moved == 2 * 64 * 1000 * 4 and r.diagnostics.kernel_launches >= 3
    assert not list(tmp_path.glob("cand-*")), "work dir left behind"


@pytest.mark.slow
@pytest.mark.parametrize("target", [H100, MI300X], ids=["sm_90", "gfx942"])
def test_triton_softmax_is_checked_in_the_interpreter_and_modeled(problem, tmp_path, target):
    opts = _options(tmp_path, mode="interpret")  # also on a machine that has the chip
    r = evaluate(problem, _candidate(TRITON_SOFTMAX, "triton"), target, opts)
    assert r.accepted, r.error
    assert r.measured_on == "modeled"
    d = r.diagnostics
    assert d.compiled_for == target.arch and d.kernel_launches == 1
    assert d.registers_per_thread and d.registers_per_thread > 0
    assert d.shared_mem_bytes is not None and d.spill_bytes == 0
    assert d.kernels[0]["name"] == "softmax_kernel" and d.kernels[0]["grid"] == [64, 1, 1]
    if target.vendor == "amd":
        assert d.sgprs and d.kernels[0]["vgprs"] > 0
    assert r.runtime_ms > 0 and r.speedup_vs_eager > 0 and 0 < d.roofline_fraction <= 1
    assert any("modeled, not measured" in n for n in d.notes)


@pytest.mark.slow
def test_infinite_loop_times_out_and_the_orchestrator_survives(problem, tmp_path):
    start = time.monotonic()
    r = evaluate(
        problem, _candidate(ADVERSARIAL / "infinite_loop.py"), CPU, _options(tmp_path, timeout_s=12)
    )
    assert r.stage_failed == Stage.SANDBOX
    assert r.error == "timed out after 12 s in stage compile"
    assert r.static_ok and not r.compiled and not r.accepted
    assert time.monotonic() - start < 30


@pytest.mark.slow
def test_segfault_is_contained(problem, tmp_path):
    r = evaluate(problem, _candidate(ADVERSARIAL / "segfault.py"), CPU, _options(tmp_path))
    assert r.stage_failed == Stage.COMPILE and not r.accepted
    assert "SIGSEGV" in r.error and "Segmentation fault" in r.error  # faulthandler's stack


@pytest.mark.slow
def test_cuda_candidate_without_the_chip_fails_compile_clearly(problem, tmp_path):
    cand = Candidate(id="cu", language="cuda", source=(FIXTURES / "pytorch_softmax.py").read_text())
    r = evaluate(problem, cand, H100, _options(tmp_path, mode="interpret"))
    assert r.stage_failed == Stage.COMPILE
    assert r.error.startswith("cannot compile cuda for h100 on this machine")


@pytest.mark.slow
def test_cpp_candidate_builds_through_load_inline_and_is_accepted(problem, tmp_path):
    from tools.evaluator.fsisolation import probe

    cand = _candidate(FIXTURES / "cpp_softmax.py", "cpp")
    opts = _options(tmp_path / "work", cache_dir=str(tmp_path / "cache"), keep_work_dir=True)
    r = evaluate(problem, cand, CPU, opts)
    assert r.accepted, r.error
    assert r.max_abs_err < 1e-6 and r.runtime_ms > 0
    # Under Landlock g++ builds into the candidate's own cache; without it, the shared one.
    cache = next((tmp_path / "work").glob("cand-*")) / "cache" if probe()[0] else tmp_path / "cache"
    assert list((cache / "torch_extensions").rglob("kevolve_*.so"))
    assert r.diagnostics.kernel_breakdown[0].name == "ModelNew.forward (outside PyTorch ops)"
