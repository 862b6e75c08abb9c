"""ScanCoder: recognition of scans in arbitrary references, interpreter correctness, AOT compile.

Correctness runs every draft against its reference under ``TRITON_INTERPRET=1`` in one
subprocess (``generators/scans/harness.py``); compilation runs ``triton.compile`` for sm_90 and gfx942
in another. The quick set covers one pattern of each kind in fp32 and fp16; the slow set
covers every pattern, every seed, forced looped configurations and both targets.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agents.coders.generators.scans import ScanCoder, analyze_scan
from agents.coders.generators.scans.aten import trace_scan
from agents.coders.kit.space import Params
from tests.unit.agents.coders.generators.scans import fixtures as sf
from tests.unit.agents.coders.interpreter import InterpreterChecks

CODER = ScanCoder()
FP16 = {"dtype": "float16", "atol": 2e-2, "rtol": 1e-2}


def _problem(name: str, dtype: str = "float32") -> Any:
    body, inputs, args, dim = sf.SCANS[name]
    return sf.problem(name, sf.source(body, inputs, args, dim), dtype)


def _case(case_id: str, problem: Any, source: str, **extra: Any) -> dict[str, Any]:
    return sf.case(case_id, problem, source, **extra)


def _render(problem: Any, target: Any, params: Params) -> str:
    return CODER.render(problem, CODER.spec_for(problem, target), target, params)


# ---- recognition (no subprocess) -------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(sf.SCANS))
def test_every_pattern_is_recognised(name: str) -> None:
    spec = analyze_scan(_problem(name))
    assert spec.op in ("cumsum", "cumprod") and "scan_y" in "\n".join(spec.body)
    assert CODER.supports(_problem(name), sf.H100) and CODER.supports(_problem(name), sf.MI300X)
    assert not CODER.supports(_problem(name), sf.CPU)


def test_recognition_reads_direction_and_offset() -> None:
    assert analyze_scan(_problem("cumsum_last")).store_index == "jj"
    reverse = analyze_scan(_problem("reverse_flip"))
    assert reverse.store_index == "jr" and "reverse" in reverse.summary and reverse.reverse_lanes
    assert "reverse=True" in "\n".join(reverse.body)
    assert "(exclusive)" in analyze_scan(_problem("exclusive_pad")).summary
    assert "(exclusive)" in analyze_scan(_problem("reverse_exclusive")).summary
    kb92 = analyze_scan(_problem("exclusive_kb92"))
    # narrow(cat([0, x]), 0, x.size(d)) follows the length: any length works.
    assert kb92.static_len == 0 and "(jj - 1)" in "\n".join(kb92.body)
    assert analyze_scan(_problem("exclusive_pad")).static_len == 0  # pad(cumsum[:, :-1], (1, 0))
    assert "(n_l + 0)" in "\n".join(analyze_scan(_problem("exclusive_pad")).body)
    assert analyze_scan(_problem("cumsum_last")).static_len == 0  # any length works
    assert analyze_scan(_problem("cols_cumsum")).layout == "cols"
    assert analyze_scan(_problem("cols_dim0_reverse")).dim == 0
    masked = analyze_scan(_problem("masked_bool"))
    assert [o.expr for o in masked.operands] == ["x", "mask"]
    assert "!= 0" in "\n".join(masked.body)  # the bool mask is read as a predicate


def test_tracer_maps_placeholders_to_forward_expressions() -> None:
    src = sf.source(
        "return torch.cumsum(x * self.scale, 1)",
        "torch.randn(4, 9)",
        init="self.scale = nn.Parameter(torch.randn(9))",
    )
    trace = trace_scan(src)
    assert sorted(leaf.expr for leaf in trace.leaves.values()) == ["self.scale", "x"]
    assert trace.forward_args == ("x",) and not trace.symbolic
    spec = analyze_scan(sf.problem("scale", src))
    assert {o.expr for o in spec.operands} == {"x", "self.scale"}


REJECTED = {
    "no_scan": ("return torch.softmax(x, dim=1)", "no cumsum or cumprod"),
    "pointwise": ("return torch.relu(x) * 2", "no cumsum or cumprod"),
    "two_scans": ("return torch.cumsum(x, 1) + torch.cumprod(x, 1)", "several scans"),
    "reduced": ("return torch.cumsum(x, 1).sum(1)", "not the scan's"),
    "softmax_prologue": (
        "return torch.cumsum(torch.softmax(x, 1), 1)",
        "not an op the scan kernel",
    ),
    "other_dim_flip": ("return torch.cumsum(x.flip(0), 1)", "other than the scan dim"),
    "look_ahead": ("return F.pad(torch.cumsum(x, 1)[:, 1:], (0, 1))", "ahead of the output"),
    "int_scan": ("return torch.cumsum(x > 0, 1)", "only fp32/fp16/bf16 scans"),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_unsupported_references_are_rejected_in_one_sentence(name: str) -> None:
    body, words = REJECTED[name]
    problem = sf.problem(name, sf.source(body, "torch.randn(5, 37)"))
    sf.assert_refused(analyze_scan, problem, words, CODER)


def test_seeds_are_legal_diverse_and_fit_the_shape() -> None:
    for name in ("cumsum_last", "cumsum_long", "cols_cumsum", "cols_dim0_reverse"):
        problem = _problem(name)
        for target in (sf.H100, sf.MI300X):
            spec = CODER.spec_for(problem, target)
            space = CODER.space(spec, target)
            seeds = CODER.seed_params(spec, target)
            assert 2 <= len(seeds) <= 4 and all(space.is_legal(s) for s in seeds)
            assert len({str(sorted(s.items())) for s in seeds}) == len(seeds)
            assert ("waves_per_eu" in seeds[0]) == (target is sf.MI300X)
            for params in CODER.safer(seeds[0], spec, target):
                assert space.is_legal(params), params


def test_long_rows_get_looped_seeds_first() -> None:
    src = sf.source("return torch.cumsum(x, 1)", "torch.randn(8, 100000)")
    spec = CODER.spec_for(sf.problem("long", src), sf.H100)
    seeds = CODER.seed_params(spec, sf.H100)
    assert all(s["variant"] == "looped" for s in seeds) and seeds[0]["BLOCK_L"] == 2048
    assert "single" not in CODER.space(spec, sf.H100).variants


def test_drafts_are_self_contained_modules() -> None:
    for name in ("exclusive_kb92", "masked_bool", "cols_cumprod_minus"):
        for draft in CODER.seed(_problem(name), sf.H100):
            assert draft.template == "triton.scan"
            sf.assert_self_contained(draft.source, "torch.cumsum", "torch.cumprod")
            assert "Bytes moved" in draft.source and "@triton.jit" in draft.source


# ---- interpreter correctness -----------------------------------------------------------------
QUICK = {
    "cumsum_last-noncontig": ("cumsum_last", sf.H100, 0, {"noncontiguous": True}),
    "reverse_flip": ("reverse_flip", sf.MI300X, 0, {}),
    "exclusive_kb92": ("exclusive_kb92", sf.H100, 0, {}),
    "masked_bool": ("masked_bool", sf.H100, 1, {"noncontiguous": True}),
    "cols_cumprod_minus": ("cols_cumprod_minus", sf.H100, 0, {}),
    "exclusive_cat_prod": ("exclusive_cat_prod", sf.MI300X, 0, {}),
    "cumsum_last-fp16": ("cumsum_last", sf.H100, 0, FP16),
    "cols_cumsum-fp16": ("cols_cumsum", sf.H100, 0, FP16),
}


def _quick_cases() -> list[dict[str, Any]]:
    cases = []
    for case_id, (name, target, index, extra) in sorted(QUICK.items()):
        problem = _problem(name, extra.get("dtype", "float32"))
        cases.append(_case(case_id, problem, CODER.seed(problem, target)[index].source, **extra))
    looped = _problem("cumsum_long")  # 700 columns in 256-wide chunks: three carries
    params = {"variant": "looped", "BLOCK_A": 2, "BLOCK_L": 256, "num_warps": 4, "num_stages": 2}
    cases.append(_case("cumsum_long-looped", looped, _render(looped, sf.H100, params)))
    return cases


class TestQuickDraftsInInterpreter(InterpreterChecks):
    harness = sf.HARNESS
    cases = staticmethod(_quick_cases)


@pytest.mark.slow
def test_every_pattern_and_seed_matches_in_fp32_and_fp16(tmp_path: Path) -> None:
    cases = []
    for name in sorted(sf.SCANS):
        for dtype, extra in (("float32", {}), ("float16", FP16)):
            problem = _problem(name, dtype)
            for target in (sf.H100, sf.MI300X):
                for i, draft in enumerate(CODER.seed(problem, target)):
                    if dtype == "float16" and i > 0:
                        continue
                    cases.append(
                        _case(
                            f"{name}-{dtype}-{target.name}-{i}",
                            problem,
                            draft.source,
                            noncontiguous=i == 1,
                            **extra,
                        )
                    )
    sf.run_all_ok("check", cases, tmp_path, interpret=True)


@pytest.mark.slow
def test_random_legal_configurations_match(tmp_path: Path) -> None:
    rng = random.Random(7)
    cases = []
    for name in ("cumsum_long", "reverse_exclusive", "cols_dim0_reverse", "prologue_epilogue"):
        problem = _problem(name)
        space = CODER.space(CODER.spec_for(problem, sf.H100), sf.H100)
        for i in range(3):
            params = space.random_config(rng)
            assert params is not None
            cases.append(_case(f"{name}-{i}", problem, _render(problem, sf.H100, params)))
    sf.run_all_ok("check", cases, tmp_path, interpret=True)


# ---- ahead-of-time compilation ---------------------------------------------------------------
def _compile_cases(names: list[str], dtype: str = "float32") -> list[dict[str, Any]]:
    cases = []
    for name in names:
        problem = _problem(name, dtype)
        for target, arch in ((sf.H100, "cuda:90"), (sf.MI300X, "hip:gfx942")):
            draft = CODER.seed(problem, target)[-1]
            cases.append(
                {
                    "id": f"{name}-{target.name}",
                    "reference": problem.source,
                    "candidate": draft.source,
                    "targets": [arch],
                    "dtype": dtype,
                }
            )
    return cases


def test_quick_drafts_compile_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = _compile_cases(["exclusive_kb92", "cols_cumprod_minus"])
    cases += _compile_cases(["masked_bool"], dtype="float16")
    results = sf.run("compile", cases, tmp_path)
    for case_id, result in results.items():
        assert result["ok"], (case_id, result)
        for kernel in result["kernels"]:
            assert kernel["kernel"] == "_kv_scan_kernel"
            assert kernel.get("vgpr_spill", 0) == 0


@pytest.mark.slow
def test_every_pattern_compiles_including_bf16(tmp_path: Path) -> None:
    cases = _compile_cases(sorted(sf.SCANS)) + [
        {**c, "id": c["id"] + "-bf16"} for c in _compile_cases(["cumsum_long"], "bfloat16")
    ]
    sf.run_all_ok("compile", cases, tmp_path)
