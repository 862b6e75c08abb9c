"""Offline curation: distil the transformations that paid off into Skills."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from tools.records import Candidate, EvalResult, Problem, Skill, Target

MIN_GAIN = 1.05
"""A parent -> child step must be at least 5% faster to become a skill (timing noise)."""


def distil_skills(
    run_id: str,
    problem: Problem,
    target: Target,
    candidates: Mapping[str, Candidate],
    results: Mapping[str, EvalResult],
    best_id: str | None,
) -> list[Skill]:
    """Skills from winning steps and from the run's best kernel, near-duplicates merged."""
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
        if gain < MIN_GAIN:
            continue
        keep(
            _skill(
                run_id,
                problem,
                target,
                cand,
                res,
                gain,
                f"{cand.transformation} made a {cand.template} kernel {gain:.2f}x faster",
            )
        )
    if best_id and best_id in results and candidates[best_id].language != "pytorch":
        best, res = candidates[best_id], results[best_id]
        if res.speedup_vs_eager and res.speedup_vs_eager > 1.0:
            keep(
                _skill(
                    run_id,
                    problem,
                    target,
                    best,
                    res,
                    res.speedup_vs_eager,
                    f"{best.template} with {best.params} was the best {best.language} kernel, "
                    f"{res.speedup_vs_eager:.2f}x vs eager",
                )
            )
    return sorted(found.values(), key=lambda s: s.gain, reverse=True)


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
