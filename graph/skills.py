"""Skills that compound: which retrieved skills seed a run, and in what order (pure functions).

The planner puts the skills retrieved for the problem's op family and chip into
``RunState.skills``; the ``seed`` node asks each language's coder to render drafts from them
(:func:`skill_seed_drafts`) and puts those drafts before the coder's default seeds
(:func:`merge_seed_drafts`), so a run on a related problem starts from what worked before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from agents.coders.base import Draft, fingerprint
from tools.records import Problem, Skill, Target

log = logging.getLogger(__name__)

MAX_SKILL_SEEDS = 2
"""Skill drafts per language added to a run's first generation (best gain first)."""


def as_skills(raw: Sequence[Mapping[str, Any] | Skill]) -> list[Skill]:
    """Skill records from their JSON form (``RunState.skills``); malformed entries are skipped."""
    out: list[Skill] = []
    for item in raw:
        if isinstance(item, Skill):
            out.append(item)
            continue
        try:
            out.append(Skill.model_validate(item))
        except ValueError as e:
            log.warning("skipping a malformed skill in the run state: %s", str(e).splitlines()[0])
    return out


def seeding_skills(
    skills: Sequence[Skill], problem: Problem, target: Target, language: str
) -> list[Skill]:
    """Skills that may seed ``language`` drafts for ``problem`` on ``target``, best gain first.

    A skill qualifies when it names a template and matches the problem's op family, the
    chip (case-insensitively) and the language; only the best skill per template and params
    is kept.
    """
    chip = target.name.lower()
    best: dict[str, Skill] = {}
    for skill in skills:
        if not skill.template or skill.language != language:
            continue
        if skill.op_family != problem.op_family or skill.chip.lower() != chip:
            continue
        key = fingerprint(skill.template, dict(skill.params))
        if key not in best or best[key].gain < skill.gain:
            best[key] = skill
    return sorted(best.values(), key=lambda s: (-s.gain, s.id))


def skill_seed_drafts(
    coder: Any,
    problem: Problem,
    target: Target,
    skills: Sequence[Skill],
    limit: int = MAX_SKILL_SEEDS,
) -> list[Draft]:
    """Drafts ``coder`` renders from the qualifying skills (at most ``limit``).

    The coder (or, for an LLM coder, the offline coder behind it) must offer
    ``seed_from_skills(problem, target, skills)``; a coder without it yields no drafts.
    """
    usable = seeding_skills(skills, problem, target, getattr(coder, "language", ""))
    if not usable or limit <= 0:
        return []
    for candidate in (coder, getattr(coder, "offline", None)):
        render = getattr(candidate, "seed_from_skills", None)
        if callable(render):
            return list(render(problem, target, usable))[:limit]
    return []


def merge_seed_drafts(from_skills: Sequence[Draft], defaults: Sequence[Draft]) -> list[Draft]:
    """Skill drafts first, then the default seeds; a configuration appears once."""
    out: list[Draft] = []
    seen: set[str] = set()
    for draft in [*from_skills, *defaults]:
        key = fingerprint(draft.template, draft.params) if draft.template else draft.source
        if key in seen:
            continue
        seen.add(key)
        out.append(draft)
    return out
