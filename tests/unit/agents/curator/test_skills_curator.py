"""The curator's rules: which transformations become skills, and with what gain."""

from __future__ import annotations

import functools

from agents.coders import TritonOfflineCoder
from agents.curator.rules import MIN_GAIN, SKILL_SEED_MARK, default_seed_rewards, distil_skills
from agents.tree import RunTree
from tools.hardware import load_target
from tools.problems import load_problem
from tools.records import Candidate, EvalResult, Skill

PARAMS = {"variant": "single", "BLOCK_M": 1, "num_stages": 2, "persistent": 0}


@functools.cache
def softmax():
    return load_problem("softmax", shape="32x4096")


def cand(cid: str, warps: int, parent: str | None = None, text: str = "", lang: str = "triton",
         mode: str = "inherit") -> Candidate:  # fmt: skip
    return Candidate(
        id=cid, parent_ids=[parent] if parent else [], language=lang, source=f"# {cid}",
        memory_mode="seed" if parent is None and mode == "inherit" else mode,
        transformation=text or (f"num_warps -> {warps}" if parent else f"initial {cid}"),
        template="" if lang == "pytorch" else "triton.softmax",
        params={} if lang == "pytorch" else {**PARAMS, "num_warps": warps},
    )  # fmt: skip


def ok(cid: str, speedup: float) -> EvalResult:
    return EvalResult(candidate_id=cid, target="h100", static_ok=True, compiled=True,
                      correct=True, runtime_ms=1 / speedup, speedup_vs_eager=speedup,
                      measured_on="modeled")  # fmt: skip


def distil(cands: list[Candidate], rewards: dict[str, float]) -> list[Skill]:
    results = {cid: ok(cid, r) for cid, r in rewards.items()}
    tree = RunTree(problem=softmax(), target=load_target("h100"),
                   candidates={c.id: c for c in cands}, results=results)  # fmt: skip
    return distil_skills("run-1", tree)


def test_best_kernel_below_eager_is_a_skill_when_it_beats_the_defaults():
    # the passthrough (1.0x) wins the run, yet a restart with 16 warps beats every default
    # seed by 1.5x: no parent -> child step shows it, the best-kernel rule must
    cands = [cand("ref", 0, lang="pytorch"), cand("d1", 8), cand("d2", 4),
             cand("r1", 16, mode="restart")]  # fmt: skip
    skills = distil(cands, {"ref": 1.0, "d1": 0.6, "d2": 0.5, "r1": 0.9})
    assert [s.candidate_id for s in skills] == ["r1"]
    assert abs(skills[0].gain - 1.5) < 1e-9
    assert skills[0].params["num_warps"] == 16 and skills[0].chip == "h100"
    assert "best triton kernel" in skills[0].summary


def test_a_step_skill_carries_its_evidence():
    cands = [cand("d1", 8), cand("c1", 16, "d1", text="num_warps 8 -> 16")]
    skills = distil(cands, {"d1": 0.6, "c1": 0.9})
    # the step and the best kernel are one configuration: one skill
    assert len(skills) == 1 and abs(skills[0].gain - 1.5) < 1e-9
    summary = skills[0].summary
    assert "num_warps 8 -> 16" in summary and "d1" in summary and "c1" in summary
    assert "modeled" in summary


def test_nothing_is_learnt_when_a_default_seed_was_best():
    cands = [cand("d1", 8), cand("d2", 4), cand("c1", 2, "d2")]
    # c1 is a 1.2x step over d2 but still slower than the default d1: not worth seeding
    assert distil(cands, {"d1": 1.0, "d2": 0.5, "c1": 0.6}) == []


def test_a_step_from_a_poor_restart_is_not_a_skill():
    cands = [cand("d1", 8), cand("r1", 1, mode="restart"), cand("c1", 2, "r1"),
             cand("c2", 16, "d1")]  # fmt: skip
    skills = distil(cands, {"d1": 1.0, "r1": 0.05, "c1": 0.4, "c2": 1.2})
    # c1 is 8x faster than its parent r1, but slower than the defaults
    assert {s.candidate_id for s in skills} == {"c2"}
    assert abs(skills[0].gain - 1.2) < 1e-9


def test_gains_below_the_threshold_are_noise():
    cands = [cand("d1", 8), cand("c1", 16, "d1")]
    assert distil(cands, {"d1": 1.0, "c1": MIN_GAIN - 0.01}) == []


def test_skill_seeds_are_not_defaults():
    # a run seeded from a skill: its baseline is the remaining default seed, not the skill seed
    cands = [cand("s1", 16, text=f"{SKILL_SEED_MARK} skill-x (1.5x on h100): triton.softmax"),
             cand("d1", 8)]  # fmt: skip
    rewards = {"s1": 0.9, "d1": 0.6}
    results = {cid: ok(cid, r) for cid, r in rewards.items()}
    assert default_seed_rewards({c.id: c for c in cands}, results) == {"triton": 0.6}
    skills = distil(cands, rewards)
    assert [s.candidate_id for s in skills] == ["s1"] and abs(skills[0].gain - 1.5) < 1e-9


def test_duplicates_keep_the_larger_gain():
    cands = [cand("d1", 8), cand("d2", 2), cand("c1", 16, "d1"), cand("c2", 16, "d2")]
    skills = distil(cands, {"d1": 1.0, "d2": 0.4, "c1": 1.3, "c2": 1.3})
    assert len(skills) == 1  # one configuration, learnt twice
    assert abs(skills[0].gain - 1.3 / 0.4) < 1e-9


def test_the_coders_mark_skill_seeds_as_the_curator_expects():
    problem, h100 = softmax(), load_target("h100")
    skill = Skill(id="skill-a", op_family="softmax", chip="h100", language="triton",
                  summary="s", template="triton.softmax", params={**PARAMS, "num_warps": 16},
                  gain=1.5, measured_on="modeled", run_id="r", candidate_id="c")  # fmt: skip
    drafts = TritonOfflineCoder().seed_from_skills(problem, h100, [skill])
    assert drafts and drafts[0].transformation.startswith(SKILL_SEED_MARK)
