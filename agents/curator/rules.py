"""Offline curation: distil the transformations that paid off into Skills.

A skill is worth keeping when the next run on the same op family and chip would do better by
starting from it than from the template's default seeds. So every gain is read against what
this run measured:

- a **step** (parent -> child) that was at least :data:`MIN_GAIN` faster, whose child is at
  least as fast as the best default seed of its language (a step from a poor restart to a
  still-poor configuration teaches nothing worth seeding); gain = child / parent;
- the **best generated kernel** of each language when it beats that language's best default
  seed by :data:`MIN_GAIN`; gain = best / best default seed. When a default seed already was
  the best, nothing is learnt: the next run's defaults find it anyway.

Default seeds are the first generation's drafts (templates' defaults, a model's first drafts);
drafts rendered from skills (their transformation starts with :data:`SKILL_SEED_MARK`) are not. Two skills for the same
language, template and params are one skill: the larger gain is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from agents.tree import RunTree
from tools.records import Candidate, EvalResult, Problem, Skill, Target

MIN_GAIN = 1.05
"""A step, or the best kernel over the default seeds, must be at least 5% faster (noise)."""

SKILL_SEED_MARK = "seed from skill"
"""How the offline coders begin the transformation of a draft rendered from a skill."""


def default_seed_rewards(
    candidates: Mapping[str, Candidate], results: Mapping[str, EvalResult]
) -> dict[str, float]:
    """Language -> best reward among its accepted default seeds (skill-derived seeds excluded)."""
    best: dict[str, float] = {}
    for cid, cand in candidates.items():
        res = results.get(cid)
        if res is None or not res.accepted or not _is_default_seed(cand):
            continue
        best[cand.language] = max(best.get(cand.language, 0.0), res.reward)
    return best


def distil_skills(run_id: str, tree: RunTree) -> list[Skill]:
    """Skills from winning steps and from each language's best kernel, duplicates merged.

    Args:
        run_id: The run the skills come from.
        tree: The run's problem (op family, op name), chip, candidates and results.

    Returns:
        Skills, largest gain first.
    """
    problem, target, candidates, results = tree.problem, tree.target, tree.candidates, tree.results
    defaults = default_seed_rewards(candidates, results)
    found: dict[str, Skill] = {}

    def keep(skill: Skill) -> None:
        key = f"{skill.language}:{skill.template}:{sorted(skill.params.items())}"
        if key not in found or found[key].gain < skill.gain:
            found[key] = skill

    for cid, cand in sorted(candidates.items()):
        res = results.get(cid)
        if res is None or not res.accepted or not cand.parent_ids:
            continue
        parent_res = results.get(cand.parent_ids[0])
        if parent_res is None or not parent_res.accepted or parent_res.reward <= 0:
            continue
        gain = res.reward / parent_res.reward
        if gain < MIN_GAIN or res.reward < defaults.get(cand.language, 0.0):
            continue
        evidence = _evidence(cand.parent_ids[0], parent_res, cid, res)
        kind = cand.template or cand.language
        text = f"{cand.transformation} made a {kind} kernel {gain:.2f}x faster ({evidence})"
        keep(_skill(run_id, problem, target, cand, res, gain, text))
    for language, baseline in sorted(defaults.items()):
        best = _best_kernel(candidates, results, language)
        if best is None or baseline <= 0:
            continue
        cand, res = candidates[best], results[best]
        gain = res.reward / baseline
        if gain < MIN_GAIN:
            continue
        text = (
            f"{cand.template or 'free-form code'} with {cand.params} was the best {language} "
            f"kernel, {gain:.2f}x faster than the best default seed ({baseline:.4g}x -> "
            f"{res.reward:.4g}x vs eager, {res.measured_on})"
        )
        keep(_skill(run_id, problem, target, cand, res, gain, text))
    return sorted(found.values(), key=lambda s: s.gain, reverse=True)


def _is_default_seed(cand: Candidate) -> bool:
    return (
        cand.memory_mode == "seed"
        and not cand.parent_ids
        and cand.language != "pytorch"
        and not cand.transformation.startswith(SKILL_SEED_MARK)
    )


def _best_kernel(
    candidates: Mapping[str, Candidate], results: Mapping[str, EvalResult], language: str
) -> str | None:
    """The accepted kernel of ``language`` with the highest reward (the earlier id on ties)."""
    ids = [
        cid
        for cid, cand in candidates.items()
        if cand.language == language and cid in results and results[cid].accepted
    ]
    return min(ids, key=lambda cid: (-results[cid].reward, cid)) if ids else None


def _evidence(parent_id: str, parent: EvalResult, child_id: str, child: EvalResult) -> str:
    """The numbers the gain is the ratio of: each kernel's speedup vs eager timed beside it.

    (Not the two runtimes: they come from two processes, possibly under different load, and
    their ratio can differ from the gain; a text must show what its figure is computed from.)
    """
    return (
        f"{parent_id} {parent.reward:.4g}x -> {child_id} {child.reward:.4g}x vs eager, "
        f"{child.measured_on}"
    )


def _skill(
    run_id: str,
    problem: Problem,
    target: Target,
    cand: Candidate,
    res: EvalResult,
    gain: float,
    summary: str,
) -> Skill:
    sid = hashlib.sha1(f"{run_id}/{cand.id}/{summary}".encode()).hexdigest()[:12]
    return Skill(
        id=f"skill-{sid}",
        op_family=problem.op_family,
        chip=target.name,
        language=cand.language,
        summary=f"{problem.op or problem.name} on {target.name}: {summary}",
        code_excerpt=cand.source[:1500],
        template=cand.template,
        params=dict(cand.params),
        gain=gain,
        measured_on=res.measured_on,
        run_id=run_id,
        candidate_id=cand.id,
    )
