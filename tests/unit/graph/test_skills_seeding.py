"""Skills that compound: drafts seeded from skills, params clamped to the new problem's shape."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from langgraph.runtime import Runtime

from agents.coders import CppOfflineCoder, TritonOfflineCoder
from agents.coders.base import CoderContext, Draft
from agents.coders.kit.generator import clamp_params
from agents.coders.kit.opspec import analyze
from graph.nodes import seed
from graph.skills import (
    DEFAULT_SEEDS_WITH_SKILLS,
    as_skills,
    merge_seed_drafts,
    seeding_skills,
    skill_seed_drafts,
)
from graph.state import RunRequest, RunState
from tools.hardware import load_target
from tools.problems import load_problem
from tools.records import Skill


@pytest.fixture(scope="module")
def h100():
    return load_target("h100")


@pytest.fixture(scope="module")
def softmax_wide():
    return load_problem("softmax", shape="256x4096")


@pytest.fixture(scope="module")
def log_softmax():
    return load_problem("log_softmax", shape="256x2048")


def _skill(sid: str = "skill-a", gain: float = 1.5, **kw) -> Skill:
    base = {
        "id": sid,
        "op_family": "softmax",
        "chip": "h100",
        "language": "triton",
        "summary": "softmax on h100: packed rows",
        "template": "triton.softmax",
        "params": {"variant": "single", "BLOCK_M": 2, "num_warps": 4, "num_stages": 2,
                "persistent": 0},
        "gain": gain,
        "measured_on": "modeled",
        "run_id": "run-1",
        "candidate_id": "g01-00-abcdef",
    }
    return Skill(**(base | kw))


def _space(problem, target):
    coder = TritonOfflineCoder()
    return coder.space(analyze(problem), target)


def test_clamp_keeps_legal_params(softmax_wide, h100):
    space = _space(softmax_wide, h100)
    params = dict(_skill().params)
    assert clamp_params(params, space) == params


def test_clamp_shrinks_a_tile_that_no_longer_fits(softmax_wide, h100):
    space = _space(softmax_wide, h100)
    # 32 rows of 2048 fit a 32768-element tile; 32 rows of 4096 do not.
    learned = {**_skill().params, "BLOCK_M": 32, "num_warps": 8}
    assert not space.is_legal(learned)
    clamped = clamp_params(learned, space)
    assert clamped is not None and space.is_legal(clamped)
    assert clamped["BLOCK_M"] == 8  # the largest that fits 4096 columns
    assert clamped["num_warps"] == 8 and clamped["variant"] == "single"


def test_clamp_snaps_values_and_fixes_keys(softmax_wide, h100):
    space = _space(softmax_wide, h100)
    # an off-grid BLOCK_M, an AMD-only key on an NVIDIA target, a missing num_stages
    learned = {"variant": "single", "BLOCK_M": 3, "num_warps": 5, "persistent": 0,
               "waves_per_eu": 2}
    clamped = clamp_params(learned, space)
    assert clamped is not None and space.is_legal(clamped)
    assert clamped["BLOCK_M"] == 2 and clamped["num_warps"] == 4
    assert "waves_per_eu" not in clamped and "num_stages" in clamped


def test_clamp_switches_to_a_variant_the_shape_has(h100):
    huge = load_problem("softmax", shape="8x65536")
    space = _space(huge, h100)
    assert "single" not in space.variants
    clamped = clamp_params(dict(_skill().params), space)
    assert clamped is not None and clamped["variant"] == "looped" and space.is_legal(clamped)


def test_seed_from_skills_renders_best_first_and_skips_foreign_skills(log_softmax, h100):
    coder = TritonOfflineCoder()
    skills = [
        _skill("skill-low", 1.1, params={**_skill().params, "num_warps": 2}),
        _skill("skill-high", 2.0),
        _skill("skill-cpp", 3.0, language="cpp", template="cpp.softmax"),
        _skill("skill-other-template", 3.0, template="triton.norm"),
    ]
    drafts = coder.seed_from_skills(log_softmax, h100, skills)
    assert [d.params["num_warps"] for d in drafts] == [4, 2]
    assert "skill-high" in drafts[0].transformation
    assert all(d.template == "triton.softmax" for d in drafts)
    ast.parse(drafts[0].source)
    assert "log" in drafts[0].source  # rendered for log_softmax, not copied from the skill


def test_seeding_skills_filters_by_family_chip_and_language(log_softmax, h100):
    skills = [
        _skill("a", 1.2),
        _skill("b", 1.9, chip="H100"),  # chip compared case-insensitively
        _skill("c", 5.0, chip="mi300x"),
        _skill("d", 5.0, op_family="norm"),
        _skill("e", 5.0, language="cpp"),
        _skill("f", 5.0, template=""),
        _skill("g", 0.9, params={**_skill().params, "num_warps": 16}),  # not a gain
    ]
    chosen = seeding_skills(skills, log_softmax, h100, "triton")
    # a and b share template and params: only the better one is kept
    assert [s.id for s in chosen] == ["b"]


def _draft(bm: int, text: str, template: str = "triton.softmax") -> Draft:
    return Draft(language="triton", source=f"# {template} {bm}", transformation=text,
                 template=template, params={"BLOCK_M": bm})


def test_merge_puts_skill_drafts_first_and_dedupes():
    merged = merge_seed_drafts([_draft(2, "skill")], [_draft(4, "default"), _draft(2, "default")])
    assert [d.transformation for d in merged] == ["skill", "default"]


def test_merge_keeps_one_control_default_for_a_template_skills_cover():
    defaults = [_draft(2, "d2"), _draft(4, "d4"), _draft(8, "d8"), _draft(1, "n1", "triton.norm")]
    merged = merge_seed_drafts([_draft(2, "skill")], defaults)
    # d2 is the skill's configuration, so the control is the next default; other templates stay
    assert [d.transformation for d in merged] == ["skill", "d4", "n1"]
    assert len(merge_seed_drafts([_draft(2, "skill")], defaults, keep_defaults=2)) == 4
    assert [d.transformation for d in merge_seed_drafts([], defaults)] == ["d2", "d4", "d8", "n1"]


def test_skill_seed_drafts_uses_the_offline_coder_behind_an_llm_coder(log_softmax, h100):
    class LLMLike:
        language = "triton"
        offline = TritonOfflineCoder()

    class Plain:
        language = "triton"

    assert len(skill_seed_drafts(LLMLike(), log_softmax, h100, [_skill()])) == 1
    assert skill_seed_drafts(Plain(), log_softmax, h100, [_skill()]) == []
    assert skill_seed_drafts(CppOfflineCoder(), log_softmax, h100, [_skill()]) == []


def test_as_skills_skips_malformed_entries():
    good = _skill().model_dump(mode="json")
    assert [s.id for s in as_skills([good, {"id": "broken"}])] == ["skill-a"]


def test_seed_node_puts_skill_drafts_before_the_defaults(
    tmp_path: Path, log_softmax, h100, make_run_context
):
    skill = _skill("skill-best", 1.8, params={**_skill().params, "BLOCK_M": 16, "num_warps": 8})
    state = RunState(
        run_id="r1",
        request=RunRequest(problem="log_softmax", target="h100"),
        problem=log_softmax.model_dump(mode="json"),
        target=h100.model_dump(mode="json"),
        languages=["triton"],
        budget=12,
        skills=[skill.model_dump(mode="json")],
    )
    out = seed(state, Runtime(context=make_run_context(tmp_path)))
    cands = sorted(out["candidates"].values(), key=lambda c: c["id"])
    assert cands[0]["language"] == "pytorch"
    assert "skill-best" in cands[1]["transformation"]
    assert cands[1]["params"]["BLOCK_M"] == 16
    # the skill draft, then one default seed of the same template as a control
    assert len(cands) == 1 + 1 + DEFAULT_SEEDS_WITH_SKILLS
    defaults = TritonOfflineCoder().seed(log_softmax, h100)
    assert cands[2]["params"] == defaults[0].params
    without = seed(state.model_copy(update={"skills": []}),
                   Runtime(context=make_run_context(tmp_path / "b")))
    assert all("skill" not in c["transformation"] for c in without["candidates"].values())


def test_restart_steers_to_a_skill_learnt_on_another_shape(softmax_wide, h100):
    # 32 rows of 2048 columns: illegal as-is at 4096 columns, clamped to BLOCK_M 8
    learned = _skill("skill-narrow", 2.0, params={**_skill().params, "BLOCK_M": 32, "num_warps": 8})
    space = _space(softmax_wide, h100)
    assert not space.is_legal(dict(learned.params))
    ctx = CoderContext(problem=softmax_wide, target=h100, memory_mode="restart",
                       skills=[learned], rng_seed=3)
    draft = TritonOfflineCoder().propose(ctx)
    assert "skill-narrow" in draft.transformation
    assert draft.params == clamp_params(dict(learned.params), space)
    assert draft.params["BLOCK_M"] == 8
