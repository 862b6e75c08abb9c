"""fast_p, geomean, ceiling fractions and the summary, on synthetic numbers."""

from __future__ import annotations

import math

import pytest

from kevolve.bench_stats import ProblemRow, fast_p, fill_row, geomean, summarize, with_fraction
from tests.records import passed
from tests.targets import ceilings
from tools.records import Candidate, EvalResult
from tools.records.eval_result import Diagnostics

CEIL = ceilings(1000.0, fp32=50.0, fp16=500.0)


def row(
    name: str, *, correct=True, eager=None, compile_=None, status="done", kind="memory", **kw
) -> ProblemRow:
    return ProblemRow(
        name=name,
        file=f"{name}.py",
        family="pointwise",
        kind=kind,
        status=status,
        correct=correct,
        speedup_vs_eager=eager,
        speedup_vs_compile=compile_,
        **kw,
    )


ROWS = [
    row("a", eager=2.0, compile_=1.5),
    row("b", eager=1.0, compile_=0.8, is_reference=True),
    row("c", eager=4.0, compile_=0.5),
    row("d", correct=False, eager=None, compile_=None),
    row("e", correct=False, status="failed"),
    row("f", status="running", eager=9.0, compile_=9.0),
]


def test_fast_p_counts_correct_and_faster_over_finished_problems():
    # Five finished problems (the running one is left out).
    assert fast_p(ROWS, 0.0, "eager") == pytest.approx(3 / 5)
    assert fast_p(ROWS, 1.0, "eager") == pytest.approx(2 / 5)  # the reference's 1.0 is not > 1
    assert fast_p(ROWS, 1.0, "compile") == pytest.approx(1 / 5)
    assert fast_p(ROWS, 3.0, "eager") == pytest.approx(1 / 5)
    assert fast_p([], 0.0, "eager") == 0.0
    assert fast_p([row("x", eager=None, compile_=None)], 0.0, "compile") == 1.0


def test_geomean_of_positive_values_only():
    assert geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert geomean([1.0, None, 4.0]) == pytest.approx(2.0)
    assert geomean([None, 0.0]) is None


def test_summary_counts_and_goals():
    s = summarize(ROWS, CEIL)
    assert (s["problems"], s["finished"], s["failed"], s["correct"]) == (6, 5, 1, 3)
    assert s["returned_reference"] == 1
    assert s["geomean_speedup_vs_eager"] == pytest.approx(2.0)  # (2 * 1 * 4) ** (1/3)
    assert s["geomean_speedup_vs_compile"] == pytest.approx(math.pow(1.5 * 0.8 * 0.5, 1 / 3))
    assert s["fast_1_vs_compile"] == pytest.approx(1 / 5)
    assert s["goals"]["all_correct"] is False
    assert s["goals"]["never_slower_than_reference"] is True
    assert s["goals"]["geomean_vs_compile_at_1_3x"] is False
    assert s["modeled"] is False


def test_fraction_uses_copy_bandwidth_or_the_dtype_matmul_rate():
    mem = with_fraction(row("m", achieved_gbps=900.0), CEIL)
    assert mem.ceiling == "copy_gbps" and mem.fraction_of_ceiling == pytest.approx(0.9)
    comp = with_fraction(row("c", kind="compute", dtype="float16", achieved_tflops=250.0), CEIL)
    assert comp.ceiling == "matmul_fp16" and comp.fraction_of_ceiling == pytest.approx(0.5)
    fp32 = with_fraction(row("c", kind="compute", dtype="float32", achieved_tflops=25.0), CEIL)
    assert fp32.fraction_of_ceiling == pytest.approx(0.5)
    s = summarize([mem, comp], CEIL)
    assert (
        s["memory_bound"]["at_or_above_goal"] == 1 and s["goals"]["memory_bound_at_90pct"] == "1/1"
    )
    assert s["compute_bound"]["median_fraction"] == pytest.approx(0.5)


def _cand(cid: str, language: str) -> Candidate:
    return Candidate(id=cid, language=language, source="class ModelNew: pass")


def _res(cid: str, **kw) -> EvalResult:
    return passed(
        cid, "h100", **{"measured_on": "NVIDIA H100", "ref_eager_ms": 2.0, "ref_compile_ms": 1.0, **kw}
    )


def test_fill_row_for_a_kernel_and_for_the_reference():
    cands = {"g00-00": _cand("g00-00", "pytorch"), "g00-01": _cand("g00-01", "triton")}
    diag = Diagnostics(
        bytes_moved=10**9, flops=0, bound="memory", registers_per_thread=40, compiled_for="sm_90"
    )
    results = {
        "g00-00": _res("g00-00", runtime_ms=2.0, speedup_vs_eager=1.0, speedup_vs_compile=0.5),
        "g00-01": _res(
            "g00-01", runtime_ms=0.5, speedup_vs_eager=4.0, speedup_vs_compile=2.0, diagnostics=diag
        ),
    }
    base = row("k", correct=False)
    kernel = fill_row(base, cands, results, "g00-01", False, CEIL)
    assert kernel.correct and not kernel.is_reference and kernel.language == "triton"
    assert kernel.ours_ms == 0.5 and kernel.speedup_vs_compile == 2.0
    assert kernel.achieved_gbps == pytest.approx(2000.0)  # 1 GB in 0.5 ms
    assert kernel.fraction_of_ceiling == pytest.approx(2.0)
    assert kernel.triton.candidates == 1 and kernel.triton.with_resources == 1
    ref = fill_row(base, cands, results, "g00-00", True, CEIL)
    assert ref.is_reference and ref.speedup_vs_eager == 1.0
    assert ref.ours_ms == 2.0 and ref.speedup_vs_compile == pytest.approx(0.5)
    nothing = fill_row(base, cands, {}, None, False, CEIL)
    assert not nothing.correct and nothing.error
