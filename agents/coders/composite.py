"""One coder per language over several kernel generators.

The graph asks for *the* coder of a language; a language can have several offline
generators (op-family templates, fused row programs, GEMMs with epilogues, attention...).
:class:`LanguageCoder` presents them as one ``Coder``:

- ``supports``: any generator routed to the problem's op family (``routes.ROUTES``)
  supports the problem;
- ``seed``: the first drafts of every supporting generator, interleaved (each generator's
  best guess first), so a small budget still tries each of them;
- ``seed_from_skills``: the drafts of every generator that owns the skill's template;
- ``propose``: the generator that owns the parent's template refines it; with no usable
  parent (none, another language, a failed generator) the supporting generators take turns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from agents.coders.base import Coder, CoderContext, Draft, SkillSeeder, TemplateOwner
from agents.coders.routes import routed
from tools.errors import KevolveError, ProblemError
from tools.records import Language, Problem, Skill, Target

logger = logging.getLogger(__name__)


class LanguageCoder:
    """Every offline generator of one language behind the ``Coder`` protocol."""

    def __init__(self, language: Language, coders: Sequence[Coder]) -> None:
        if not coders or any(c.language != language for c in coders):
            raise KevolveError(f"LanguageCoder({language!r}) needs coders of that language.")
        self.language: Language = language
        self.coders = list(coders)
        self.name = "+".join(c.name for c in self.coders)

    def supporting(self, problem: Problem, target: Target) -> list[Coder]:
        """The generators routed to this problem's op family that can write it, in order.

        A generator whose ``supports`` raises is left out with a warning: one generator's
        defect must not end the problem for the others."""
        out = []
        for c in self.coders:
            if not routed(c.name, problem):
                continue
            try:
                if c.supports(problem, target):
                    out.append(c)
            except Exception:  # noqa: BLE001 - a generator defect, logged and isolated
                logger.warning("%s failed to read %s; left out", c.name, problem.name, exc_info=True)
        return out

    def supports(self, problem: Problem, target: Target) -> bool:
        """True when any generator supports the problem on the target."""
        return bool(self.supporting(problem, target))

    def templates(self, problem: Problem, target: Target) -> dict[str, Coder]:
        """Template name -> the generator that owns it, for the supporting generators."""
        owners: dict[str, Coder] = {}
        for coder in self.supporting(problem, target):
            for template in _templates_of(coder, problem, target):
                owners.setdefault(template, coder)
        return owners

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """Every supporting generator's first drafts, interleaved round-robin."""
        queues = []
        for coder in self.supporting(problem, target):
            try:
                queues.append(list(coder.seed(problem, target)))
            except ProblemError as e:
                logger.info("%s wrote no seed for %s: %s", coder.name, problem.name, e)
            except Exception:  # noqa: BLE001 - a generator defect: the other generators go on
                logger.warning(
                    "%s failed while seeding %s; its seeds are left out",
                    coder.name, problem.name, exc_info=True,
                )  # fmt: skip
        out: list[Draft] = []
        while any(queues):
            for queue in queues:
                if queue:
                    out.append(queue.pop(0))
        return out

    def seed_from_skills(
        self, problem: Problem, target: Target, skills: list[Skill]
    ) -> list[Draft]:
        """Drafts rendered from skills by whichever generators own their templates."""
        out: list[Draft] = []
        for coder in self.supporting(problem, target):
            if isinstance(coder, SkillSeeder):
                out.extend(coder.seed_from_skills(problem, target, skills))
        return out

    def propose(self, ctx: CoderContext) -> Draft:
        """The parent's generator refines it; otherwise the generators take turns."""
        supporting = self.supporting(ctx.problem, ctx.target)
        if not supporting:
            raise ProblemError(
                f"No {self.language} generator supports {ctx.problem.name} on {ctx.target.name}."
            )
        parent = ctx.parent
        errors = []
        if parent is not None and parent.language == self.language and parent.template:
            owner = self.templates(ctx.problem, ctx.target).get(parent.template)
            if owner is not None:
                try:
                    return owner.propose(ctx)
                except KevolveError as e:  # its space is exhausted: the others take turns
                    errors.append(str(e))
        start = ctx.rng_seed % len(supporting)
        for coder in supporting[start:] + supporting[:start]:
            try:
                return coder.propose(ctx)
            except KevolveError as e:  # this generator's space is exhausted: try the next
                errors.append(str(e))
            except Exception as e:  # noqa: BLE001 - a generator defect: try the next
                logger.warning("%s failed to propose for %s", coder.name, ctx.problem.name,
                               exc_info=True)  # fmt: skip
                errors.append(f"{coder.name} failed: {type(e).__name__}: {e}")
        raise KevolveError("; ".join(errors) or f"No {self.language} generator proposed a draft.")


def _templates_of(coder: Coder, problem: Problem, target: Target) -> list[str]:
    """The template names a generator writes for a problem."""
    if isinstance(coder, TemplateOwner):
        return coder.templates_for(problem, target)
    return list(getattr(coder, "templates", ()))
