"""Exploit 15: a runtime below the roofline floor is flagged and not counted as a win.

The bytes floor binds every candidate; a FLOP floor binds only through the formulation the
candidate declares, so a proven algebraic rewrite (``sum_to_gemv``) is a win, not a flag,
while a kernel that declares nothing yet beats the reference's FLOP floor is still caught.
"""

from __future__ import annotations

from types import SimpleNamespace

from tests.targets import H100
from tools.evaluator import diagnose
from tools.evaluator.counting import OpRecord, OpTrace
from tools.records import Candidate
from tools.records.eval_result import EvalResult

GPU = H100.model_copy(
    update={"name": "fake-gpu", "memory_bandwidth_gbps": 1000.0, "peak_tflops": {"fp32": 50.0}}
)
"""Round numbers for the floors: 1000 GB/s, 50 fp32 TFLOP/s."""


def _worker(
    bytes_moved: int, ref_flops: int = 0, declared_flops: int | None = None
) -> SimpleNamespace:
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
        req=SimpleNamespace(
            target=GPU,
            problem=SimpleNamespace(dtype="float32"),
            candidate=Candidate(
                id="c", language="triton", source="", declared_flops=declared_flops
            ),
        ),
        state={"bytes_moved": bytes_moved},
        ref_trace=OpTrace(ops=[OpRecord(name="mm", bytes=bytes_moved, flops=ref_flops)]),
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


# Gemm (M=1024, N=K=8192, fp32) -> divide -> sum over N -> scale: 302 MB must move (0.30 ms
# at 1000 GB/s); the reference formulation does 2MNK = 1.37e11 FLOPs (2.75 ms at 50 TFLOP/s);
# sum_to_gemv computes x @ W.sum(0): 2MK = 1.7e7 FLOPs.
M, N, K = 1024, 8192, 8192
GEMM_BYTES = 4 * (M * K + N * K + M)
REF_FLOPS = 2 * M * N * K
GEMV_FLOPS = 2 * M * K


def test_a_declared_rewrite_is_bound_by_its_own_flops_not_the_references():
    rewrite = _worker(GEMM_BYTES, REF_FLOPS, declared_flops=GEMV_FLOPS)
    diagnose._roofline(rewrite, 0.35e-3, check_flag=True)  # 8x under the reference's FLOP floor
    assert not rewrite.result.flags and rewrite.result.accepted
    assert 0 < rewrite.result.diagnostics.roofline_fraction <= 1
    assert rewrite.result.diagnostics.flops == REF_FLOPS  # the problem's count is kept
    assert any("declared formulation" in n for n in rewrite.result.diagnostics.notes)


def test_no_declared_rewrite_yet_beating_the_reference_flop_floor_is_flagged():
    cheat = _worker(GEMM_BYTES, REF_FLOPS)
    diagnose._roofline(cheat, 0.35e-3, check_flag=True)
    assert "speedup_beyond_roofline" in cheat.result.flags and not cheat.result.accepted
    assert any("no rewrite declared" in n for n in cheat.result.diagnostics.notes)


def test_a_declared_rewrite_below_the_bytes_floor_is_flagged():
    cheat = _worker(GEMM_BYTES, REF_FLOPS, declared_flops=GEMV_FLOPS)
    diagnose._roofline(cheat, 0.1e-3, check_flag=True)  # 302 MB cannot move in 0.1 ms
    assert "speedup_beyond_roofline" in cheat.result.flags and not cheat.result.accepted
    assert any("bytes floor" in n for n in cheat.result.diagnostics.notes)
