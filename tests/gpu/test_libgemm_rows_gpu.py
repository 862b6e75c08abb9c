"""On a CUDA machine, the library-GEMM + fused-row-epilogue seed (Matmul -> GELU -> softmax)
is accepted and measured on the GPU next to eager and torch.compile."""

from __future__ import annotations

import pytest

from tests.support import FIXTURES

pytestmark = pytest.mark.gpu

FIXTURE = FIXTURES / "libgemm" / "matmul_gelu_softmax.py"


def test_libgemm_seed_is_accepted_on_the_gpu(gpu_target, tmp_path):
    import torch

    from agents.coders.generators.rowfused.libgemm import LibGemmRowCoder
    from tools.evaluator import EvalOptions, evaluate
    from tools.records import Candidate, Problem

    target = gpu_target
    source = (
        FIXTURE.read_text()
        .replace("BATCH = 64", "BATCH = 8192")
        .replace("IN_FEATURES = 96", "IN_FEATURES = 4096")
        .replace("OUT_FEATURES = 200", "OUT_FEATURES = 4096")
    )
    problem = Problem(name="matmul_gelu_softmax", source=source)
    (draft, *_) = LibGemmRowCoder().seed(problem, target)
    assert "library GEMM kept" in draft.transformation
    cand = Candidate(id="libgemm", language="triton", source=draft.source)
    result = evaluate(problem, cand, target, EvalOptions(work_dir=str(tmp_path), timeout_s=600))
    assert result.accepted, result.error
    assert result.measured_on == torch.cuda.get_device_name()
    # cuBLAS for the GEMM plus one fused pass: never slower than eager's GEMM + two passes
    assert result.speedup_vs_eager is not None and result.speedup_vs_eager > 0.95
