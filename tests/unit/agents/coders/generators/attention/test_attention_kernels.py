"""Attention kernels: interpreter correctness against the reference, and AOT compiles.

Correctness runs the reference and the generated ``ModelNew`` side by side in one
subprocess with ``TRITON_INTERPRET=1`` (fp32 and fp16, causal or not, sequence lengths
that are not multiples of the blocks, Sq != Sk, non-contiguous inputs, tiles that make the
causal loop skip and mask key blocks). Compilation runs ``triton.compile`` for sm_90 and
gfx942 in another subprocess.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agents.coders.kit.space import Params
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.attention.test_attention import CODER, attention_problem
from tests.unit.agents.coders.interpreter import CatchesBrokenDrafts
from tools.records import Problem

TOL = {
    "float32": {"atol": 1e-4, "rtol": 1e-4},
    "float16": {"atol": 3e-3, "rtol": 1e-2},
}


def _render(problem: Problem, target: Any, **params: Any) -> str:
    spec = CODER.spec_for(problem, target)
    full: Params = {"variant": "flash", "num_stages": 1, **params}
    if target is fx.MI300X:
        full |= {"waves_per_eu": 0, "matrix_instr_nonkdim": 16}
    assert CODER.space(spec, target).is_legal(full), full
    return CODER.render(problem, spec, target, full)


def _case(case_id: str, problem: Problem, source: str, **extra: Any) -> dict[str, Any]:
    return fx.case(case_id, problem, source, **(TOL[problem.dtype] | extra))


def _quick_cases() -> list[dict[str, Any]]:
    sdpa = attention_problem("sdpa", "1, 2, 77, 32", "1, 2, 45, 32")
    causal16 = attention_problem("sdpa_causal", "2, 50, 64", dtype="float16")
    skewed = attention_problem("sdpa_causal", "2, 70, 16", "2, 37, 16", dtype="float16")
    tril = attention_problem("masked_fill_tril", "1, 2, 61, 32")
    additive = attention_problem("additive", "2, 40, 32", v="2, 40, 16", dtype="float16")
    offset = attention_problem(
        "        mask = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool).tril(diagonal=8)\n"
        "        s = (q @ k.transpose(-2, -1)).masked_fill(~mask, float('-inf')) * 0.2\n"
        "        return torch.softmax(s, dim=-1) @ v",
        "2, 30, 32",
        "2, 38, 32",
    )
    wide = attention_problem("sdpa", "1, 2, 37, 256", "1, 2, 29, 256")
    odd = attention_problem("sdpa_causal", "2, 45, 160", "2, 45, 160", v="2, 45, 96", dtype="float16")
    odd_mask = attention_problem("masked_fill_tril", "1, 2, 33, 200")
    return [
        # Head dims above 128 and not powers of two: padded tiles, masked head-dim columns.
        _case("sdpa-d256-fp32-seed", wide, CODER.seed(wide, fx.H100)[0].source),
        _case("causal-d160-dv96-fp16-seed", odd, CODER.seed(odd, fx.H100)[0].source),
        _case("tril-d200-bm16", odd_mask, _render(odd_mask, fx.H100, BLOCK_M=16, BLOCK_N=16, num_warps=2)),
        _case("sdpa-fp32-seed", sdpa, CODER.seed(sdpa, fx.H100)[0].source, noncontiguous=True),
        _case("causal-fp16-seed", causal16, CODER.seed(causal16, fx.H100)[0].source),
        _case("causal-sq>sk-fp16-hip", skewed, CODER.seed(skewed, fx.MI300X)[0].source),
        # BLOCK_N > BLOCK_M and BLOCK_M > BLOCK_N: blocks skipped, unmasked, diagonal-masked.
        _case("tril-bm16-bn64", tril, _render(tril, fx.H100, BLOCK_M=16, BLOCK_N=64, num_warps=1)),
        _case("tril-bm64-bn16", tril, _render(tril, fx.H100, BLOCK_M=64, BLOCK_N=16, num_warps=4)),
        _case("additive-dv16-fp16", additive, CODER.seed(additive, fx.H100)[0].source),
        _case(
            "offset8-fp32", offset, _render(offset, fx.H100, BLOCK_M=16, BLOCK_N=16, num_warps=1)
        ),
    ]


def _broken_cases() -> list[dict[str, Any]]:
    """The causal kernel with its mask switched off: the reference must reject it."""
    problem = attention_problem("masked_fill_tril", "1, 2, 33, 32")
    causal = _case("causal", problem, CODER.seed(problem, fx.H100)[0].source)
    return [fx.broken("unmasked", causal, "CAUSAL=True", "CAUSAL=False")]


class TestInterpreter(CatchesBrokenDrafts):
    cases = staticmethod(_quick_cases)
    broken = staticmethod(_broken_cases)


@pytest.mark.slow
def test_attention_compiles_for_sm90_and_gfx942(tmp_path: Path) -> None:
    problem = attention_problem("sdpa_causal", "2, 4, 256, 64", dtype="float16")
    cases = [
        {"id": "cuda", "reference": problem.source, "dtype": "float16", "targets": ["cuda:90"],
         "candidate": CODER.seed(problem, fx.H100)[0].source},
        {"id": "hip", "reference": problem.source, "dtype": "float16", "targets": ["hip:gfx942"],
         "candidate": CODER.seed(problem, fx.MI300X)[0].source},
    ]  # fmt: skip
    for d in (256, 192):  # wide heads: every sm_90 seed compiles
        wide = attention_problem("sdpa_causal", f"2, 4, 256, {d}", dtype="float16")
        for i, draft in enumerate(CODER.seed(wide, fx.H100)):
            cases.append({"id": f"cuda-d{d}-{i}", "reference": wide.source, "dtype": "float16",
                          "targets": ["cuda:90"], "candidate": draft.source})  # fmt: skip
    results = fx.run_harness("compile", cases, tmp_path)
    assert all(r["ok"] for r in results.values()), results
    assert results["cuda"]["ok"], results["cuda"]
    assert results["hip"]["ok"], results["hip"]
    assert results["hip"]["kernels"][0]["vgpr_spill"] == 0
    assert results["cuda"]["kernels"][0]["kernel"] == "_kv_attention_kernel"


# ---- slow: every seed, both dtypes, both targets, random legal configurations --------------
@pytest.mark.slow
def test_every_seed_and_random_configs_match_in_interpreter(tmp_path: Path) -> None:
    rng = random.Random(0)
    cases = []
    for dtype in ("float32", "float16"):
        for body, q, k in (
            ("sdpa", "1, 2, 77, 64", "1, 2, 77, 64"),
            ("sdpa_causal", "2, 45, 32", "2, 71, 32"),
            ("triu_bool", "93, 16", "93, 16"),
        ):
            problem = attention_problem(body, q, k, dtype=dtype)
            spec = CODER.spec_for(problem, fx.H100)
            for target in (fx.H100, fx.MI300X):
                for i, draft in enumerate(CODER.seed(problem, target)):
                    cases.append(_case(f"{dtype}-{body}-{target.name}-seed{i}", problem,
                                       draft.source, noncontiguous=i == 1))  # fmt: skip
                params = CODER.space(spec, target).random_config(rng)
                assert params is not None
                cases.append(_case(f"{dtype}-{body}-{target.name}-random", problem,
                                   CODER.render(problem, spec, target, params)))  # fmt: skip
    fx.run_all_ok("check", cases, tmp_path, interpret=True)


@pytest.mark.slow
def test_every_seed_compiles_without_spills(tmp_path: Path) -> None:
    cases = []
    for dtype, d in (("float16", 64), ("float16", 128), ("float32", 64), ("bfloat16", 128)):
        problem = attention_problem("sdpa_causal", f"4, 16, 1024, {d}", dtype=dtype)
        for target, arch in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
            drafts = CODER.seed(problem, target)
            for i, draft in enumerate(drafts[:1] if dtype == "bfloat16" else drafts):
                cases.append({"id": f"{dtype}-{d}-{arch}-{i}", "reference": problem.source,
                              "candidate": draft.source, "targets": [arch], "dtype": dtype})  # fmt: skip
    results = fx.run_all_ok("compile", cases, tmp_path)
    for case_id, result in results.items():
        if "hip" in case_id and case_id.endswith("-0"):
            assert result["kernels"][0]["vgpr_spill"] == 0, (case_id, result)
