"""Exploit 15: a runtime below the roofline floor is flagged and not counted as a win."""

from __future__ import annotations

from types import SimpleNamespace

from tools.evaluator import diagnose
from tools.evaluator.counting import OpTrace
from tools.records import Target
from tools.records.eval_result import EvalResult

GPU = Target(
    name="fake-gpu",
    display_name="fake GPU",
    vendor="nvidia",
    kind="gpu",
    arch="sm_90",
    compute_units=132,
    memory_bandwidth_gbps=1000.0,
)


def _worker(bytes_moved: int) -> SimpleNamespace:
    result = EvalResult(
        candidate_id="c",
        target=GPU.name,
        static_ok=True,
        compiled=True,
        correct=True,
        runtime_ms=1.0,
        speedup_vs_eager=1.0,
    )
    return SimpleNamespace(
        result=result,
        req=SimpleNamespace(target=GPU, problem=SimpleNamespace(dtype="float32")),
        state={"bytes_moved": bytes_moved},
        ref_trace=OpTrace(),
    )


def test_runtime_below_the_roofline_floor_is_flagged_and_disqualified():
    # 1 GB at 1000 GB/s needs at least 1 ms; 0.1 ms is impossible.
    fast = _worker(10**9)
    diagnose._roofline(fast, 1e-4, check_flag=True)
    assert "speedup_beyond_roofline" in fast.result.flags and not fast.result.accepted
    assert fast.result.diagnostics.roofline_fraction > 1
    honest = _worker(10**9)
    diagnose._roofline(honest, 1.2e-3, check_flag=True)
    assert not honest.result.flags and honest.result.accepted
    assert 0 < honest.result.diagnostics.roofline_fraction <= 1
