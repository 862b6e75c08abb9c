"""GatherCoder: embedding bags, fixed-size gathers and jagged segment reductions.

Recognition runs in-process (ATen trace on the meta device); correctness runs every pattern
against its reference under ``TRITON_INTERPRET=1`` with its real integer inputs
(``generators/scans/harness.py``); compilation runs ``triton.compile`` for sm_90 and gfx942.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.coders.generators.scans import GatherCoder, analyze_gather
from tests.unit.agents.coders.generators.scans import fixtures as sf
from tests.unit.agents.coders.interpreter import InterpreterChecks

CODER = GatherCoder()
FP16 = {"dtype": "float16", "atol": 1e-2, "rtol": 1e-2}


def _problem(name: str, dtype: str = "float32") -> Any:
    return sf.problem(name, sf.gather_source(*sf.GATHERS[name]), dtype)


def _case(case_id: str, problem: Any, source: str, **extra: Any) -> dict[str, Any]:
    return sf.case(case_id, problem, source, seeds=[0, 1], **extra)


EXPECTED = {
    # name: (source, bounds, mode, call args)
    "bag_sum": ("bag", "offsets", "sum", ("self.bag.weight", "idx", "off")),
    "bag_mean_pad_last": ("bag", "offsets", "mean", ("self.bag.weight", "idx", "off")),
    "bag_per_sample_weights": ("bag", "offsets", "sum", ("self.weight", "idx", "off", "w")),
    "bag_2d_mean": ("fixed", "fixed", "mean", ("self.weight", "idx")),
    "index_sum": ("fixed", "fixed", "sum", ("self.weight", "idx")),
    "embedding_mean_keepdim": ("fixed", "fixed", "mean", ("self.emb.weight", "idx")),
    "segment_sum_offsets": ("jagged", "offsets", "sum", ("values", "offsets")),
    "segment_mean_lengths": ("jagged", "lengths", "mean", ("values", "lengths")),
    "index_add_lengths_mean": ("jagged", "lengths", "mean", ("values", "lengths")),
    "scatter_add_offsets": ("jagged", "offsets", "sum", ("values", "offsets")),
    "searchsorted_mean": ("jagged", "offsets", "mean", ("values", "offsets")),
}


@pytest.mark.parametrize("name", sorted(sf.GATHERS))
def test_every_pattern_is_recognised(name: str) -> None:
    spec = analyze_gather(_problem(name))
    assert (spec.source, spec.bounds, spec.mode, spec.call_args) == EXPECTED[name]
    assert spec.dim == 19 and CODER.supports(_problem(name), sf.H100)
    assert not CODER.supports(_problem(name), sf.CPU)


def test_semantic_flags() -> None:
    pad = analyze_gather(_problem("bag_mean_pad_last"))
    assert pad.padding_idx == 1 and pad.include_last and pad.n_bags == 5
    assert not analyze_gather(_problem("bag_sum")).include_last
    assert analyze_gather(_problem("bag_per_sample_weights")).per_sample_weights
    assert analyze_gather(_problem("bag_2d_mean")).fixed_size == 0  # read from indices.shape[-1]
    # raw lengths give 0/0 for an empty segment (as the reference does); clamped ones give 0
    assert analyze_gather(_problem("searchsorted_mean")).empty_nan
    assert not analyze_gather(_problem("index_add_lengths_mean")).empty_nan
    assert analyze_gather(_problem("segment_mean_lengths")).empty_nan
    assert analyze_gather(_problem("searchsorted_mean")).include_last


REJECTED = {
    "max_bag": (
        "self.bag = nn.EmbeddingBag(n, d, mode='max')",
        "idx, off",
        "return self.bag(idx, off)",
        "torch.randint(0, 50, (40,)), torch.tensor([0, 3, 10])",
        "mode='max'",
    ),
    "reduce_columns": (
        "self.weight = nn.Parameter(torch.randn(n, d))",
        "idx",
        "return self.weight[idx].sum(-1)",
        "torch.randint(0, 50, (7, 5))",
        "other than the bag",
    ),
    "plain_gather": (
        "self.weight = nn.Parameter(torch.randn(n, d))",
        "idx",
        "return self.weight[idx] * 2",
        "torch.randint(0, 50, (7, 5))",
        "not an embedding bag",
    ),
    "pointwise": (
        "pass",
        "x",
        "return torch.relu(x) + 1",
        "torch.randn(4, 5)",
        "not an embedding bag",
    ),
    "segment_max": (
        "pass",
        "values, lengths",
        "return torch.segment_reduce(values, 'max', lengths=lengths)",
        "torch.randn(30, 19), torch.tensor([4, 1, 7, 18])",
        "'max'",
    ),
    "computed_indices": (
        "self.weight = nn.Parameter(torch.randn(n, d))",
        "idx",
        "return self.weight[idx * 2].sum(1)",
        "torch.randint(0, 20, (7, 5))",
        "computed inside forward",
    ),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_unsupported_references_are_rejected_in_one_sentence(name: str) -> None:
    *parts, words = REJECTED[name]
    problem = sf.problem(name, sf.gather_source(*parts))
    sf.assert_refused(analyze_gather, problem, words, CODER)


def test_seeds_are_legal_and_fit_the_embedding_dim() -> None:
    for name in ("bag_sum", "index_sum", "segment_mean_lengths"):
        problem = _problem(name)
        for target in (sf.H100, sf.MI300X):
            spec = CODER.spec_for(problem, target)
            space = CODER.space(spec, target)
            seeds = CODER.seed_params(spec, target)
            assert 2 <= len(seeds) <= 4 and all(space.is_legal(s) for s in seeds)
            assert seeds[0]["BLOCK_D"] == 32  # next power of two of D = 19: one tile per row
            assert all(space.is_legal(p) for p in CODER.safer(seeds[0], spec, target))


def test_drafts_are_self_contained_modules() -> None:
    for name in ("bag_mean_pad_last", "index_add_lengths_mean"):
        for draft in CODER.seed(_problem(name), sf.H100):
            assert draft.template == "triton.gather"
            sf.assert_self_contained(draft.source, "embedding_bag(", ".index_add_(")


# ---- interpreter correctness and AOT compile --------------------------------------------------
QUICK = [
    "bag_mean_pad_last",
    "bag_per_sample_weights",
    "embedding_mean_keepdim",
    "index_add_lengths_mean",
    "searchsorted_mean",
]


def _quick_cases() -> list[dict[str, Any]]:
    cases = []
    for i, name in enumerate(QUICK):
        problem = _problem(name)
        target = sf.H100 if i % 2 else sf.MI300X
        cases.append(
            _case(name, problem, CODER.seed(problem, target)[0].source, noncontiguous=i % 2 == 1)
        )
    half = _problem("segment_sum_offsets", "float16")
    cases.append(
        _case("segment_sum_offsets-fp16", half, CODER.seed(half, sf.H100)[1].source, **FP16)
    )
    return cases


class TestQuickDraftsInInterpreter(InterpreterChecks):
    harness = sf.HARNESS
    cases = staticmethod(_quick_cases)


@pytest.mark.slow
def test_every_pattern_and_seed_matches_in_fp32_and_fp16(tmp_path: Path) -> None:
    cases = []
    for name in sorted(sf.GATHERS):
        for dtype, extra in (("float32", {}), ("float16", FP16)):
            problem = _problem(name, dtype)
            for i, draft in enumerate(CODER.seed(problem, sf.H100)):
                cases.append(
                    _case(
                        f"{name}-{dtype}-{i}", problem, draft.source, noncontiguous=i == 1, **extra
                    )
                )
    sf.run_all_ok("check", cases, tmp_path, interpret=True)


def _compile_cases(names: list[str], dtype: str = "float32") -> list[dict[str, Any]]:
    cases = []
    for name in names:
        problem = _problem(name, dtype)
        for target, arch in ((sf.H100, "cuda:90"), (sf.MI300X, "hip:gfx942")):
            cases.append(
                {
                    "id": f"{name}-{target.name}-{dtype}",
                    "reference": problem.source,
                    "candidate": CODER.seed(problem, target)[0].source,
                    "targets": [arch],
                    "dtype": dtype,
                }
            )
    return cases


def test_quick_drafts_compile_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = _compile_cases(["bag_mean_pad_last"]) + _compile_cases(
        ["segment_mean_lengths"], "float16"
    )
    results = sf.run("compile", cases, tmp_path)
    kernels = set()
    for case_id, result in results.items():
        assert result["ok"], (case_id, result)
        kernels |= {k["kernel"] for k in result["kernels"]}
        assert all(k.get("vgpr_spill", 0) == 0 for k in result["kernels"])
    assert kernels == {"_kv_bag_kernel", "_kv_offsets_kernel"}


@pytest.mark.slow
def test_every_pattern_compiles_including_bf16(tmp_path: Path) -> None:
    cases = _compile_cases(sorted(sf.GATHERS)) + _compile_cases(["bag_sum"], "bfloat16")
    sf.run_all_ok("compile", cases, tmp_path)
