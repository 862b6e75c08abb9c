"""Offline coders' search moves: seeds, mutation, fallback, restart, combine, compare, skills."""

from __future__ import annotations

from typing import Any

import pytest

from agents.coders import (
    CoderContext,
    CppOfflineCoder,
    TritonOfflineCoder,
    fingerprint,
    pytorch_passthrough,
)
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders import proposals
from tools.errors import KevolveError
from tools.records import Candidate, Skill, Stage

TRITON = TritonOfflineCoder()
CPP = CppOfflineCoder()
CASES = [
    (TRITON, fx.named_problem("softmax"), fx.H100),
    (TRITON, fx.named_problem("layer_norm", M=5, N=70000), fx.MI300X),
    (TRITON, fx.named_problem("matmul", M=512, N=512, K=512), fx.MI300X),
    (TRITON, fx.chain_problem(), fx.H100),
    (CPP, fx.named_problem("softmax"), fx.CPU),
    (CPP, fx.named_problem("linear_relu", M=64, N=64, K=64), fx.CPU),
]
IDS = [
    "triton-softmax",
    "triton-ln-long",
    "triton-mm-hip",
    "triton-chain",
    "cpp-softmax",
    "cpp-linear",
]


def _child_of_seed(
    problem: Any,
    mode: str,
    failed: Stage | None = None,
    coder: Any = TRITON,
    target: Any = fx.H100,
    **fields: Any,
) -> tuple[Any, CoderContext]:
    """``coder``'s first seed for ``problem`` and the context of a proposal from it in memory
    mode ``mode``: the seed is stored as candidate ``p``, already tried, and evaluated fine
    (or, given ``failed``, failed at that stage)."""
    seed = coder.seed(problem, target)[0]
    ctx = CoderContext(
        problem=problem,
        target=target,
        memory_mode=mode,
        parent=proposals.as_candidate(seed, "p"),
        parent_result=proposals.eval_result("p", failed is None, stage=failed or Stage.CORRECTNESS),
        tried=[fingerprint(seed.template, seed.params)],
        **fields,
    )
    return seed, ctx


def _space(coder: Any, problem: Any, target: Any) -> Any:
    return coder.space(coder.spec_for(problem, target), target)


@pytest.mark.parametrize(("coder", "problem", "target"), CASES, ids=IDS)
def test_propose_never_repeats_and_stays_legal(coder: Any, problem: Any, target: Any) -> None:
    modes = ["inherit", "restart", "combine", "compare", "inherit", "seed"]
    for draft in proposals.propose_chain(coder, problem, target, modes, steps=24):
        assert draft.transformation and draft.language == coder.language


@pytest.mark.parametrize(("coder", "problem", "target"), CASES, ids=IDS)
def test_propose_is_deterministic(coder: Any, problem: Any, target: Any) -> None:
    _, ctx = _child_of_seed(problem, "inherit", coder=coder, target=target, rng_seed=11)
    first, second = coder.propose(ctx), coder.propose(ctx)
    assert first.params == second.params and first.source == second.source


def test_inherit_mutation_says_what_changed() -> None:
    seed, ctx = _child_of_seed(fx.named_problem("softmax"), "inherit", rng_seed=3)
    draft = TRITON.propose(ctx)
    changed = [k for k in draft.params if draft.params[k] != seed.params.get(k)]
    assert 1 <= len(changed) <= 2
    for key in changed:
        assert f"{key} {seed.params[key]} -> {draft.params[key]}" in draft.transformation


@pytest.mark.parametrize("stage", [Stage.COMPILE, Stage.CORRECTNESS])
def test_failed_single_tile_falls_back_to_safer(stage: Stage) -> None:
    seed, ctx = _child_of_seed(fx.named_problem("softmax"), "inherit", failed=stage)
    assert seed.params["variant"] == "single" and seed.params["BLOCK_M"] > 1
    draft = TRITON.propose(ctx)
    assert draft.transformation.startswith(f"fallback after {stage.value} failure")
    assert draft.params["BLOCK_M"] == 1 and draft.params["persistent"] == 0
    tried = ctx.tried + [fingerprint(draft.template, draft.params)]
    again = TRITON.propose(
        ctx.model_copy(update={"parent": proposals.as_candidate(draft, "q"), "tried": tried})
    )
    assert again.params["variant"] == "looped"


def test_failed_matmul_shrinks_tiles() -> None:
    problem = fx.named_problem("matmul", M=512, N=512, K=512)
    seed, ctx = _child_of_seed(problem, "combine", failed=Stage.COMPILE)
    draft = TRITON.propose(ctx)
    assert (
        draft.params["BLOCK_M"] * draft.params["BLOCK_N"]
        < seed.params["BLOCK_M"] * seed.params["BLOCK_N"]
    )
    assert draft.params["num_stages"] == 1


def test_compare_steps_toward_best_sibling_and_combine_mixes() -> None:
    problem = fx.named_problem("matmul", M=512, N=512, K=512)
    space = _space(TRITON, problem, fx.H100)
    parent_params = {
        "variant": "tiled",
        "BLOCK_M": 32,
        "BLOCK_N": 32,
        "BLOCK_K": 32,
        "GROUP_M": 1,
        "num_warps": 4,
        "num_stages": 2,
    }
    best_params = {**parent_params, "BLOCK_M": 128, "BLOCK_N": 128, "GROUP_M": 8, "num_warps": 8}
    worse_params = {**parent_params, "BLOCK_K": 128}
    assert all(space.is_legal(p) for p in (parent_params, best_params, worse_params))
    parent = Candidate(
        id="p", language="triton", source="", template="triton.matmul", params=parent_params
    )
    best = Candidate(
        id="b", language="triton", source="", template="triton.matmul", params=best_params
    )
    worse = Candidate(
        id="w", language="triton", source="", template="triton.matmul", params=worse_params
    )
    siblings = [
        (worse, proposals.eval_result("w", speedup=0.5)),
        (best, proposals.eval_result("b", speedup=3.0)),
    ]
    base = {
        "problem": problem,
        "target": fx.H100,
        "parent": parent,
        "parent_result": proposals.eval_result("p"),
        "siblings": siblings,
    }
    compare = TRITON.propose(CoderContext(memory_mode="compare", **base))
    assert "compare with b" in compare.transformation
    assert (compare.params["BLOCK_M"], compare.params["BLOCK_N"], compare.params["GROUP_M"]) == (
        64,
        64,
        4,
    )
    combine = TRITON.propose(CoderContext(memory_mode="combine", rng_seed=5, **base))
    assert "combine with b" in combine.transformation
    for key, value in combine.params.items():
        assert value in (parent_params[key], best_params[key])


def test_restart_uses_a_matching_skill() -> None:
    problem = fx.named_problem("softmax")
    space = _space(TRITON, problem, fx.H100)
    params = {
        "variant": "looped",
        "BLOCK_M": 2,
        "BLOCK_N": 256,
        "num_warps": 2,
        "num_stages": 3,
        "persistent": 8,
    }
    assert space.is_legal(params)
    skill = Skill(
        id="s1",
        op_family="softmax",
        chip="h100",
        language="triton",
        summary="small chunks",
        template="triton.softmax",
        params=params,
        gain=1.7,
        measured_on="H100",
        run_id="r",
        candidate_id="c",
    )
    other = skill.model_copy(update={"id": "s2", "template": "triton.matmul", "gain": 9.0})
    _, ctx = _child_of_seed(problem, "restart", skills=[other, skill])
    draft = TRITON.propose(ctx)
    assert draft.params == params and "skill s1" in draft.transformation


def test_foreign_parent_gets_a_fresh_template() -> None:
    problem = fx.named_problem("softmax")
    baseline = pytorch_passthrough(problem)
    parent = proposals.as_candidate(baseline, "base")
    draft = TRITON.propose(
        CoderContext(
            problem=problem,
            target=fx.H100,
            memory_mode="inherit",
            parent=parent,
            parent_result=proposals.eval_result("base"),
        )
    )
    assert (
        draft.template == "triton.softmax"
        and "rewrite pytorch candidate base" in draft.transformation
    )


def test_exhausted_space_raises() -> None:
    problem = fx.named_problem("cumsum")
    space = _space(CPP, problem, fx.CPU)
    tried = [fingerprint(space.template, p) for p in space.enumerate()]
    with pytest.raises(KevolveError, match="has been tried"):
        CPP.propose(
            CoderContext(problem=problem, target=fx.CPU, memory_mode="restart", tried=tried)
        )
