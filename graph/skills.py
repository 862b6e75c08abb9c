"""Skills that compound: which retrieved skills seed a run, and in what order (pure functions).

The planner puts the skills retrieved for the problem's op family and chip into
``RunState.skills``; the ``seed`` node asks each language's coder to render drafts from them
(:func:`skill_seed_drafts`) and puts those drafts before the coder's default seeds
(:func:`merge_seed_drafts`), so a run on a related problem starts from what worked before.

A skill's gain was measured against the default seeds of its template on the same chip (see
``agents.curator.rules``), so where skill drafts exist for a template, re-evaluating all of that
template's defaults spends budget on configurations already known to lose there: only the first
:data:`DEFAULT_SEEDS_WITH_SKILLS` of them stay, as a control in case the skill does not carry over
to the new problem.
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

DEFAULT_SEEDS_WITH_SKILLS = 1
"""Default seeds kept for a template that skill drafts cover (a control); the rest are dropped."""


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

    A skill qualifies when it names a template, claims a gain (above 1.0) and matches the
    problem's op family, the chip (case-insensitively) and the language; only the best skill
    per template and params is kept.
    """
    chip = target.name.lower()
    best: dict[str, Skill] = {}
    for skill in skills:
        if not skill.template or skill.language != language or skill.gain <= 1.0:
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


def merge_seed_drafts(
    from_skills: Sequence[Draft],
    defaults: Sequence[Draft],
    keep_defaults: int = DEFAULT_SEEDS_WITH_SKILLS,
) -> list[Draft]:
    """Skill drafts first, then the default seeds; a configuration appears once.

    Args:
        from_skills: Drafts rendered from skills, best first.
        defaults: The coder's default seeds, best guess first.
        keep_defaults: Default seeds kept (in order, skill configurations not counted) for a
            template that a skill draft covers; templates without skill drafts keep them all.

    Returns:
        The first generation's drafts of one language, in evaluation order.
    """
    out: list[Draft] = []
    seen: set[str] = set()
    covered = {d.template for d in from_skills if d.template}
    kept: dict[str, int] = {}
    for draft in from_skills:
        key = _key(draft)
        if key not in seen:
            seen.add(key)
            out.append(draft)
    for draft in defaults:
        key = _key(draft)
        if key in seen:
            continue
        if draft.template in covered:
            if kept.get(draft.template, 0) >= keep_defaults:
                continue
            kept[draft.template] = kept.get(draft.template, 0) + 1
        seen.add(key)
        out.append(draft)
    return out


def _key(draft: Draft) -> str:
    return fingerprint(draft.template, draft.params) if draft.template else draft.source
