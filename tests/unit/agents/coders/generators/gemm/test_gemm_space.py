"""GEMM generator: the ``triton.gemm`` space, expert seeds per shape and chip, search moves."""

from __future__ import annotations

from typing import Any

import pytest

from agents.coders.base import CoderContext, fingerprint
from agents.coders.composite import LanguageCoder
from agents.coders.generators.gemm import GemmCoder, analyze_gemm
from agents.coders.generators.gemm.space import GEMV_MAX_THIN, gemm_space
from agents.coders.generators.pointwise.coder import TritonOfflineCoder
from tests.support import model_source
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.gemm import fixtures as g
from tools.records import Candidate, EvalResult

CODER = GemmCoder()

BIG_LINEAR = model_source(
    "return F.gelu(self.linear(x))",
    "torch.randn(8192, 4096)",
    init="self.linear = nn.Linear(4096, 4096)",
)
LARGE_K = g.SKINNY.replace(
    "torch.randn(20, 1500), torch.randn(1500, 24)", "torch.randn(64, 65536), torch.randn(65536, 64)"
)
LONG_MATVEC = g.MATVEC.replace(
    "torch.randn(50, 300), torch.randn(300)", "torch.randn(256, 131072), torch.randn(131072)"
)


def _seeds(source: str, target: Any, dtype: str = "float32") -> list[dict[str, Any]]:
    return [d.params for d in CODER.seed(g.problem(source, "s", dtype), target)]


@pytest.mark.parametrize("target", [fx.H100, fx.MI300X], ids=["h100", "mi300x"])
def test_seeds_are_few_legal_and_distinct(target: Any) -> None:
    for source in (
        g.LINEAR_EPILOGUE,
        g.BADDBMM,
        g.MATVEC,
        g.SKINNY,
        g.LINEAR_SUM,
        g.TWO_LINEARS,
        BIG_LINEAR,
        LARGE_K,
    ):
        problem = g.problem(source, "s")
        space = CODER.space(CODER.spec_for(problem, target), target)
        seeds = _seeds(source, target)
        assert 1 <= len(seeds) <= 4 and all(space.is_legal(p) for p in seeds)
        assert len({fingerprint(space.template, p) for p in seeds}) == len(seeds)
    assert len(_seeds(BIG_LINEAR, target)) >= 2


def test_big_fp16_gemm_seeds_what_an_expert_writes_on_h100() -> None:
    seeds = _seeds(BIG_LINEAR, fx.H100, "float16")
    first = seeds[0]
    assert first["variant"] == "tiled" and first["rewrite"] == "none"
    assert (first["BLOCK_M"], first["BLOCK_N"], first["BLOCK_K"]) == (128, 128, 64)
    assert (first["num_warps"], first["num_stages"], first["GROUP_M"]) == (8, 3, 8)
    assert any((p["BLOCK_M"], p["BLOCK_N"]) == (128, 256) for p in seeds)


def test_fp32_seeds_use_small_k_steps_and_ieee_dots() -> None:
    seeds = _seeds(BIG_LINEAR, fx.H100)
    assert all(p["BLOCK_K"] <= 32 for p in seeds)
    source = CODER.seed(g.problem(BIG_LINEAR, "s"), fx.H100)[0].source
    assert 'input_precision="ieee"' in source and "IEEE=a3.dtype == torch.float32" in source
    assert 'input_precision="tf32' not in source and "allow_tf32=True" not in source


def test_hip_seeds_carry_amd_options_and_cuda_ones_do_not() -> None:
    hip = _seeds(BIG_LINEAR, fx.MI300X, "float16")
    assert all({"waves_per_eu", "matrix_instr_nonkdim", "kpack"} <= set(p) for p in hip)
    assert hip[0]["num_stages"] <= 2 and hip[0]["kpack"] == 2
    assert not any("waves_per_eu" in p for p in _seeds(BIG_LINEAR, fx.H100, "float16"))
    source = CODER.seed(g.problem(BIG_LINEAR, "s", "float16"), fx.MI300X)[0].source
    assert "'kpack': 2" in source and "'matrix_instr_nonkdim': 16" in source


def test_large_k_seeds_split_k_with_a_deterministic_reduction() -> None:
    seeds = _seeds(LARGE_K, fx.H100)
    assert seeds[0]["variant"] == "splitk" and seeds[0]["SPLIT_K"] >= 4
    assert any(p["variant"] == "tiled" for p in seeds)
    source = CODER.seed(g.problem(LARGE_K, "s"), fx.H100)[0].source
    assert "_kv_reduce_kernel" in source and "atomic" not in source


def test_long_matvec_seeds_gemv_with_enough_k_slices() -> None:
    seeds = _seeds(LONG_MATVEC, fx.H100)
    assert seeds[0]["variant"] == "gemv" and seeds[0]["SPLIT_K"] > 1
    programs = -(-256 // seeds[0]["BLOCK_W"]) * seeds[0]["SPLIT_K"]
    assert programs >= fx.H100.compute_units // 2


def test_space_legality_follows_the_shape() -> None:
    spec = analyze_gemm(g.problem(g.SKINNY))
    space = gemm_space(spec, fx.H100)
    assert set(space.variants) == {"tiled", "splitk"}  # M=20, N=24: not thin enough for gemv
    base = {
        "variant": "splitk",
        "BLOCK_M": 32,
        "BLOCK_N": 32,
        "BLOCK_K": 32,
        "GROUP_M": 8,
        "num_warps": 4,
        "num_stages": 3,
        "rewrite": "none",
    }
    assert space.is_legal({**base, "SPLIT_K": 32})  # 32 * 32 <= K = 1500
    assert not space.is_legal({**base, "SPLIT_K": 64})  # a K slice would be empty
    assert not space.is_legal({**base, "variant": "tiled", "BLOCK_M": 256, "SPLIT_K": 2})
    thin = gemm_space(analyze_gemm(g.problem(g.THIN3)), fx.H100)
    assert (
        "gemv" in thin.variants
        and analyze_gemm(g.problem(g.THIN3)).plans["none"].thin <= GEMV_MAX_THIN
    )


def test_safer_configurations_are_smaller_and_mostly_legal() -> None:
    problem = g.problem(BIG_LINEAR, "s", "float16")
    spec = CODER.spec_for(problem, fx.H100)
    space = CODER.space(spec, fx.H100)
    first = CODER.seed(problem, fx.H100)[0].params
    safer = [p for p in CODER.safer(first, spec, fx.H100) if space.is_legal(p)]
    assert safer and all(
        p["BLOCK_M"] * p["BLOCK_N"] < first["BLOCK_M"] * first["BLOCK_N"] for p in safer
    )
    gemv = CODER.seed(g.problem(g.MATVEC), fx.H100)[0].params
    gspace = CODER.space(CODER.spec_for(g.problem(g.MATVEC), fx.H100), fx.H100)
    assert any(gspace.is_legal(p) for p in CODER.safer(gemv, None, fx.H100))


def _candidate(problem: Any, draft: Any) -> Candidate:
    return Candidate(
        id="c1",
        language="triton",
        source=draft.source,
        template=draft.template,
        params=draft.params,
        transformation=draft.transformation,
        author="offline",
    )


def test_propose_moves_stay_legal_and_new() -> None:
    problem = g.problem(g.LINEAR_EPILOGUE)
    spec = CODER.spec_for(problem, fx.H100)
    space = CODER.space(spec, fx.H100)
    seed = CODER.seed(problem, fx.H100)[0]
    parent = _candidate(problem, seed)
    tried = [fingerprint(seed.template, seed.params)]
    for mode in ("inherit", "restart", "combine"):
        ctx = CoderContext(
            problem=problem,
            target=fx.H100,
            memory_mode=mode,
            parent=parent,
            tried=tried,
            rng_seed=3,
        )
        draft = CODER.propose(ctx)
        assert (
            space.is_legal(draft.params) and fingerprint(draft.template, draft.params) not in tried
        )
        assert draft.template == "triton.gemm" and "class ModelNew" in draft.source
    failed = EvalResult(candidate_id="c1", target="h100", compiled=True, correct=False)
    ctx = CoderContext(
        problem=problem,
        target=fx.H100,
        memory_mode="inherit",
        parent=parent,
        parent_result=failed,
        tried=tried,
    )
    assert "fallback" in CODER.propose(ctx).transformation


def test_language_coder_offers_gemm_next_to_the_family_templates() -> None:
    both = LanguageCoder("triton", [TritonOfflineCoder(), GemmCoder()])
    arbitrary = g.problem(g.LINEAR_EPILOGUE)
    assert [c.name for c in both.supporting(arbitrary, fx.H100)] == ["triton-gemm"]
    assert "triton.gemm" in both.templates(arbitrary, fx.H100)
    named = fx.named_problem("linear_relu", M=37, N=45, K=70)
    assert {c.name for c in both.supporting(named, fx.H100)} == {"triton-offline", "triton-gemm"}
    assert not CODER.supports(arbitrary, fx.CPU)
    assert not CODER.supports(fx.chain_problem(), fx.H100)  # pure pointwise: not ours
