"""Triton offline coder: every template matches its reference (interpreter) and compiles AOT.

Correctness runs in one subprocess with ``TRITON_INTERPRET=1`` (reference and candidate side
by side, irregular shapes, non-contiguous inputs); compilation runs ``triton.compile`` for
sm_90 and gfx942 in another subprocess. The quick set covers one draft per family; the slow
set covers every seed of every family, long rows (5 x 70000) and random legal configurations.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agents.coders import TritonOfflineCoder
from agents.coders.kit.space import Params
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.interpreter import InterpreterChecks

CODER = TritonOfflineCoder()
TOL = {"atol": 1e-3, "rtol": 1e-4}


def _case(case_id: str, problem: Any, source: str, **extra: Any) -> dict[str, Any]:
    return fx.case(case_id, problem.source, source, **(TOL | extra))


def _render(problem: Any, target: Any, params: Params) -> str:
    spec = CODER.spec_for(problem, target)
    return CODER.render(problem, spec, target, params)


QUICK = {
    "softmax-single": (fx.named_problem("softmax"), fx.H100, 0, {"noncontiguous": True}),
    "log_softmax-looped": (fx.named_problem("log_softmax"), fx.MI300X, 2, {}),
    "sum-single": (fx.named_problem("sum"), fx.H100, 0, {}),
    "cumsum-looped": (fx.named_problem("cumsum"), fx.H100, 2, {}),
    "layer_norm-single": (fx.named_problem("layer_norm"), fx.MI300X, 0, {"noncontiguous": True}),
    "rms_norm-looped": (fx.named_problem("rms_norm"), fx.H100, 2, {}),
    "linear_relu": (fx.named_problem("linear_relu", M=37, N=45, K=70), fx.H100, 0, {}),
    "matmul-hip": (
        fx.named_problem("matmul", M=37, N=45, K=70),
        fx.MI300X,
        1,
        {"noncontiguous": True},
    ),
    "chain-fx": (fx.chain_problem(), fx.H100, 0, {"noncontiguous": True}),
    "softmax-fp16": (
        fx.named_problem("softmax", dtype="float16"),
        fx.H100,
        0,
        {"dtype": "float16", "atol": 2e-3, "rtol": 1e-2},
    ),
}


def _quick_cases() -> list[dict[str, Any]]:
    return [
        _case(case_id, problem, CODER.seed(problem, target)[index].source, **extra)
        for case_id, (problem, target, index, extra) in sorted(QUICK.items())
    ]


class TestTemplatesInInterpreter(InterpreterChecks):
    cases = staticmethod(_quick_cases)


def test_seed_drafts_are_self_contained_modules() -> None:
    for problem in (
        fx.named_problem("layer_norm"),
        fx.chain_problem(),
        fx.named_problem("matmul", M=64, N=64, K=64),
    ):
        for draft in CODER.seed(problem, fx.H100):
            fx.assert_self_contained(draft.source, "get_init_inputs", "except")
            assert "@triton.jit" in draft.source and "tl.constexpr" in draft.source
            assert "Bytes moved" in draft.source


def test_seed_count_and_diversity() -> None:
    for problem in (
        fx.named_problem("softmax"),
        fx.named_problem("softmax", N=70000),
        fx.chain_problem(),
        fx.named_problem("matmul", M=512, N=512, K=512),
    ):
        for target in (fx.H100, fx.MI300X):
            drafts = CODER.seed(problem, target)
            assert 2 <= len(drafts) <= 4
            assert len({str(sorted(d.params.items())) for d in drafts}) == len(drafts)


def test_hip_options_only_on_hip_targets() -> None:
    problem = fx.named_problem("matmul", M=256, N=256, K=256)
    cuda_src = CODER.seed(problem, fx.H100)[0].source
    hip_src = CODER.seed(problem, fx.MI300X)[0].source
    assert "waves_per_eu" not in cuda_src.split('"""Launch options')[0]
    assert "'waves_per_eu'" in hip_src and "'matrix_instr_nonkdim'" in hip_src


def test_long_rows_seed_looped_variants() -> None:
    drafts = CODER.seed(fx.named_problem("softmax", M=5, N=70000), fx.H100)
    assert {d.params["variant"] for d in drafts} == {"looped"}


def test_fp32_matmul_requests_ieee_dot() -> None:
    source = CODER.seed(fx.named_problem("matmul", M=64, N=64, K=64), fx.H100)[0].source
    assert 'input_precision="ieee"' in source and "allow_tf32=False" in source
    assert "IEEE=a.dtype == torch.float32" in source


def test_each_template_compiles_for_sm90_and_gfx942_quick(tmp_path: Path) -> None:
    problem = fx.named_problem("softmax")
    cases = [
        {
            "id": "cuda",
            "reference": problem.source,
            "candidate": CODER.seed(problem, fx.H100)[0].source,
            "targets": ["cuda:90"],
        },
        {
            "id": "hip",
            "reference": problem.source,
            "candidate": CODER.seed(problem, fx.MI300X)[0].source,
            "targets": ["hip:gfx942"],
        },
    ]
    results = fx.run_harness("compile", cases, tmp_path)
    assert results["cuda"]["ok"], results["cuda"]
    assert results["hip"]["ok"], results["hip"]
    assert results["hip"]["kernels"][0]["vgpr_spill"] == 0


# ---- slow: full coverage ----------------------------------------------------------------------
def _all_problems() -> list[Any]:
    problems = [fx.named_problem(op) for op in fx.ROW_OPS]
    problems += [
        fx.named_problem(op, M=5, N=70000)
        for op in ("softmax", "log_softmax", "max", "cumsum", "layer_norm", "rms_norm")
    ]
    problems += [
        fx.named_problem("matmul", M=37, N=45, K=70),
        fx.named_problem("linear_relu", M=37, N=45, K=70),
        fx.named_problem("linear", M=37, N=45, K=70),
        fx.chain_problem(fx.OUTER, "outer"),
    ]
    problems += [fx.chain_problem(), fx.chain_problem(fx.SIMPLE_CHAIN, "simple_chain")]
    problems += [fx.chain_problem(fx.ZOO, "zoo")]
    return problems


@pytest.mark.slow
def test_every_seed_of_every_template_matches_reference(tmp_path: Path) -> None:
    cases = []
    for problem in _all_problems():
        for target in (fx.H100, fx.MI300X):
            for i, draft in enumerate(CODER.seed(problem, target)):
                cases.append(
                    _case(
                        f"{problem.name}-{problem.params.get('N')}-{target.name}-{i}",
                        problem,
                        draft.source,
                        noncontiguous=i % 2 == 0,
                        seeds=[0],
                    )
                )
    fx.run_all_ok("check", cases, tmp_path, interpret=True)


@pytest.mark.slow
def test_random_legal_configurations_match_reference(tmp_path: Path) -> None:
    rng = random.Random(7)
    cases = []
    for problem in _all_problems():
        target = rng.choice((fx.H100, fx.MI300X))
        space = CODER.space(CODER.spec_for(problem, target), target)
        for i in range(2):
            params = space.random_config(rng)
            assert params is not None and space.is_legal(params)
            cases.append(
                _case(
                    f"{problem.name}-{problem.params.get('N')}-{i}-{params}",
                    problem,
                    _render(problem, target, params),
                    seeds=[0],
                )
            )
    fx.run_all_ok("check", cases, tmp_path, interpret=True)


@pytest.mark.slow
def test_fp16_drafts_match_an_fp32_reference(tmp_path: Path) -> None:
    problems = [
        fx.named_problem(op, dtype="float16")
        for op in ("log_softmax", "layer_norm", "rms_norm", "mean")
    ]
    problems += [
        fx.named_problem("cumsum", N=300, dtype="float16"),
        fx.named_problem("linear_relu", M=37, N=45, K=70, dtype="float16"),
        fx.chain_problem(fx.SIMPLE_CHAIN, "simple").model_copy(update={"dtype": "float16"}),
    ]
    cases = []
    for problem in problems:
        for i, draft in enumerate(CODER.seed(problem, fx.H100)[:2]):
            cases.append(
                _case(
                    f"{problem.name}-fp16-{i}",
                    problem,
                    draft.source,
                    dtype="float16",
                    atol=2e-2,
                    rtol=1e-2,
                    seeds=[0],
                )
            )
    fx.run_all_ok("check", cases, tmp_path, interpret=True)


@pytest.mark.slow
def test_every_template_variant_compiles_for_sm90_and_gfx942(tmp_path: Path) -> None:
    problems = [
        fx.named_problem(op)
        for op in ("softmax", "log_softmax", "sum", "max", "cumsum", "layer_norm", "rms_norm")
    ]
    problems += [
        fx.named_problem("linear_relu", M=256, N=256, K=256),
        fx.named_problem("matmul", M=256, N=256, K=256),
        fx.chain_problem(),
        fx.chain_problem(fx.ZOO, "zoo"),
        fx.named_problem("gelu"),
    ]
    cases = []
    for problem in problems:
        for target, spec in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
            drafts = CODER.seed(problem, target)
            chosen = {d.params["variant"]: d for d in drafts}  # one draft per variant
            for variant, draft in chosen.items():
                cases.append(
                    {
                        "id": f"{problem.name}-{variant}-{spec}",
                        "reference": problem.source,
                        "candidate": draft.source,
                        "targets": [spec],
                    }
                )
    results = fx.run_all_ok("compile", cases, tmp_path)
    spills = {
        k: v["kernels"]
        for k, v in results.items()
        if any(kr.get("vgpr_spill", 0) for kr in v["kernels"])
    }
    assert not spills, spills


@pytest.mark.slow
def test_drafts_pass_the_project_evaluator(tmp_path: Path) -> None:
    """tools.problems problems -> offline drafts -> tools.evaluator (interpret + AOT, or host CPU)."""
    api = pytest.importorskip("tools.evaluator.api")
    options_mod = pytest.importorskip("tools.evaluator.options")
    problems_mod = pytest.importorskip("tools.problems")
    hardware = pytest.importorskip("tools.hardware")
    from agents.coders import CppOfflineCoder
    from tools.records import Candidate

    options = options_mod.EvalOptions(seeds=[0], measure_compile=False, work_dir=str(tmp_path))
    jobs = [
        ("softmax", "37x1000", CODER, "h100"),
        ("linear_relu", "37x45x70", CODER, "mi300x"),
        ("rms_norm", "37x1000", CppOfflineCoder(), "cpu"),
    ]
    for op, shape, coder, chip in jobs:
        problem = problems_mod.load_problem(op, shape=shape)
        target = hardware.load_target(chip)
        draft = coder.seed(problem, target)[0]
        candidate = Candidate(
            id=f"{op}-0",
            language=draft.language,
            source=draft.source,
            template=draft.template,
            params=draft.params,
        )
        result = api.evaluate(problem, candidate, target, options)
        assert result.accepted, (op, chip, result.stage_failed, result.error[:2000])
