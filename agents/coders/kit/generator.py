"""The offline synthesizer's search moves, shared by the Triton and C++ template coders.

A subclass says which template fits a problem (``space``), what its first drafts are
(``seed_params``), what is safer after a failure (``safer``) and how to render (``render``);
this base class turns memory modes into parameter moves:

- ``restart`` -> a fresh random configuration, possibly another variant (or a skill's),
  whatever the parent was;
- no usable parent (none, another language, free-form code) -> the first untried seed;
- a failed parent (static, compile, correctness, timing or sandbox) -> a safer variant;
- ``inherit`` -> mutate one or two parameters (sometimes toward a retrieved skill);
- ``combine`` -> parameters mixed from the parent and the best sibling;
- ``compare`` -> the parent moved one step toward the best sibling.

First drafts can also come from retrieved skills (``seed_from_skills``): a skill's params,
learned on another shape, are clamped to this problem's legal values (``clamp_params``).

Every move is deterministic given ``ctx.rng_seed`` and never returns a fingerprint in
``ctx.tried`` (it raises ``KevolveError`` only when the whole space has been tried).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from agents.coders.base import CoderContext, Draft, fingerprint
from agents.coders.kit.space import Params, Space, describe
from tools.errors import KevolveError, ProblemError
from tools.records import Candidate, EvalResult, Language, Problem, Skill, Target

logger = logging.getLogger(__name__)


SpecT = TypeVar("SpecT")
"""What a generator reads a problem into (an ``OpSpec``, a ``GemmSpec``, a ``RowProgram``...)."""


@dataclass(frozen=True)
class TemplateFunctions:
    """A generator's recogniser and parameter-space functions (module-level, testable alone)."""

    recognise: Callable[[Problem], Any] | None = None
    """``Problem -> spec``, raising ``ProblemError`` (``None``: ``analyze`` is overridden)."""
    space: Callable[[Any, Target], Space] | None = None
    seeds: Callable[[Any, Target], list[Params]] | None = None
    safer: Callable[[Params, Any, Target], list[Params]] | None = None
    """Each ``None``: the generator overrides the method instead."""


class TemplateGenerator(Generic[SpecT]):
    """Base class of the offline template generators (implements ``Coder`` and ``SkillSeeder``).

    A subclass reads a problem into its own spec type ``SpecT`` and says what the template
    space, first drafts, safer fallbacks and rendering are for that spec.
    """

    language: Language = "triton"
    """The language the templates write (a C++ generator says ``cpp``)."""
    name: str

    functions: ClassVar[TemplateFunctions | None] = None
    """The recogniser and space functions, for the methods a subclass does not override."""
    dtypes: ClassVar[Collection[str] | None] = None
    """Problem dtypes the templates handle (``spec.dtype``); ``None``: any the recogniser takes."""

    # ---- what subclasses provide (a method, or the function above) --------------------
    def analyze(self, problem: Problem) -> SpecT:
        """Read ``problem`` into this generator's spec (default: ``functions.recognise``).

        Raises:
            ProblemError: No template of this generator fits the problem; the message says why.
        """
        return self._function("recognise")(problem)

    def target_ok(self, target: Target) -> bool:
        """True when this generator's kernels can run on ``target`` (Triton: a Triton target)."""
        if self.language == "triton":
            return target.triton_target is not None
        raise NotImplementedError

    def spec_ok(self, spec: SpecT) -> bool:
        """True when a template of this generator handles ``spec`` (default: its dtype)."""
        return self.dtypes is None or getattr(spec, "dtype", None) in self.dtypes

    def space(self, spec: SpecT, target: Target) -> Space:
        """The parameter space of the template for this problem on this target."""
        return self._function("space")(spec, target)

    def seed_params(self, spec: SpecT, target: Target) -> list[Params]:
        """Two to four diverse legal first configurations, best guess first."""
        return self._function("seeds")(spec, target)

    def safer(self, params: Params, spec: SpecT, target: Target) -> list[Params]:
        """Configurations less likely to fail than ``params``, most conservative last."""
        return self._function("safer")(params, spec, target)

    def render(self, problem: Problem, spec: SpecT, target: Target, params: Params) -> str:
        """The complete ``ModelNew`` module for one configuration."""
        raise NotImplementedError

    def _function(self, what: str) -> Callable[..., Any]:
        function = getattr(self.functions, what, None)
        if function is None:
            name = type(self).__name__
            raise NotImplementedError(f"{name} sets no functions.{what} and overrides no method.")
        return function

    # ---- the Coder protocol --------------------------------------------------------------
    def supports(self, problem: Problem, target: Target) -> bool:
        """True when a template fits this problem and target."""
        if not self.target_ok(target):
            return False
        try:
            spec = self.analyze(problem)
        except ProblemError:
            return False
        return self.spec_ok(spec)

    def spec_for(self, problem: Problem, target: Target) -> SpecT:
        """The spec of ``problem`` when this generator writes it for ``target``.

        Raises:
            ProblemError: No template of this generator fits; the message says why.
        """
        spec = self.analyze(problem)
        if not self.target_ok(target) or not self.spec_ok(spec):
            raise ProblemError(
                f"The {self.name} coder has no template for {problem.name}"
                f" ({getattr(spec, 'op', type(spec).__name__)}, {getattr(spec, 'dtype', '?')})"
                f" on {target.name}."
            )
        return spec

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """First drafts: the template's default configurations for this shape and target."""
        spec = self.spec_for(problem, target)
        space = self.space(spec, target)
        drafts = []
        for params in self.seed_params(spec, target):
            if not space.is_legal(params):
                raise KevolveError(
                    f"Seed {params} of {space.template} is not legal; fix the seed rules."
                )
            text = f"initial {space.template} ({describe(None, params)})"
            drafts.append(self._draft(problem, spec, target, space, params, text))
        return drafts

    def templates_for(self, problem: Problem, target: Target) -> list[str]:
        """The template names this generator writes for ``problem`` (none when it refuses)."""
        try:
            return [self.space(self.spec_for(problem, target), target).template]
        except (ProblemError, KevolveError):
            return []

    def seed_from_skills(
        self, problem: Problem, target: Target, skills: list[Skill]
    ) -> list[Draft]:
        """First drafts rendered from skills' template and params, best gain first.

        A skill counts when its language and template are this coder's for ``problem``; params
        learned on another shape are clamped to this problem's legal values (see
        :func:`clamp_params`); a skill whose params cannot be made legal is skipped.
        """
        if not skills or not self.supports(problem, target):
            return []
        spec = self.spec_for(problem, target)
        space = self.space(spec, target)
        drafts: list[Draft] = []
        seen: list[Params] = []
        for skill in sorted(skills, key=lambda s: s.gain, reverse=True):
            if skill.language != self.language or skill.template != space.template:
                continue
            params = clamp_params(dict(skill.params), space)
            if params is None or params in seen:
                continue
            seen.append(params)
            clamped = "" if params == dict(skill.params) else ", clamped to this shape"
            text = (
                f"seed from skill {skill.id} ({skill.gain:.2f}x on {skill.chip}{clamped}): "
                f"{space.template} ({describe(None, params)})"
            )
            drafts.append(self._draft(problem, spec, target, space, params, text))
        return drafts

    def propose(self, ctx: CoderContext) -> Draft:
        """One child for the context's memory mode (see the module docstring)."""
        spec = self.spec_for(ctx.problem, ctx.target)
        space = self.space(spec, ctx.target)
        parent = ctx.parent
        rng = random.Random(f"{ctx.rng_seed}:{parent.id if parent else '-'}:{ctx.memory_mode}")
        tried = set(ctx.tried)
        base = _legal_params(parent, space)
        skill = _best_skill(ctx.skills, space)
        new: Params | None = None
        if ctx.memory_mode == "restart":  # the problem only: the parent is ignored
            new, text = self._restart(space, tried, rng, skill)
        elif base is None:
            new, text = self._fresh(spec, ctx.target, space, tried, rng, parent)
        elif _failed(ctx.parent_result):
            new, text = self._fallback(base, spec, ctx.target, space, tried, ctx.parent_result)
        elif ctx.memory_mode in ("combine", "compare"):
            new, text = self._with_sibling(base, ctx, space, rng)
        else:
            new, text = self._inherit(base, space, rng, skill)
        if new is None or not space.is_legal(new) or fingerprint(space.template, new) in tried:
            new, text = self._untried(base or new, space, tried, rng, text)
        return self._draft(ctx.problem, spec, ctx.target, space, new, text)

    # ---- moves ---------------------------------------------------------------------------
    def _fresh(
        self,
        spec: SpecT,
        target: Target,
        space: Space,
        tried: set[str],
        rng: random.Random,
        parent: Candidate | None,
    ) -> tuple[Params | None, str]:
        origin = f"rewrite {parent.language} candidate {parent.id} as" if parent else "initial"
        for params in self.seed_params(spec, target):
            if fingerprint(space.template, params) not in tried:
                return params, f"{origin} {space.template} ({describe(None, params)})"
        params = space.random_config(rng)
        return params, f"{origin} {space.template}, random configuration"

    def _fallback(
        self,
        base: Params,
        spec: SpecT,
        target: Target,
        space: Space,
        tried: set[str],
        result: EvalResult | None,
    ) -> tuple[Params | None, str]:
        stage = result.stage_failed.value if result and result.stage_failed else "correctness"
        for params in self.safer(base, spec, target):
            if space.is_legal(params) and fingerprint(space.template, params) not in tried:
                return params, f"fallback after {stage} failure: {describe(base, params)}"
        return None, f"fallback after {stage} failure"

    def _restart(
        self, space: Space, tried: set[str], rng: random.Random, skill: Skill | None
    ) -> tuple[Params | None, str]:
        if skill is not None:
            params = dict(skill.params)
            if fingerprint(space.template, params) not in tried:
                return params, f"restart from skill {skill.id} ({describe(None, params)})"
        params = space.random_config(rng)
        return params, f"restart: fresh random configuration ({describe(None, params or {})})"

    def _inherit(
        self, base: Params, space: Space, rng: random.Random, skill: Skill | None
    ) -> tuple[Params | None, str]:
        if skill is not None and rng.random() < 0.5:
            toward = space.step_toward(base, dict(skill.params))
            if toward != base and space.is_legal(toward):
                return toward, f"{describe(base, toward)} (toward skill {skill.id})"
        child = space.mutate(base, rng, n_changes=1 if rng.random() < 0.6 else 2)
        return child, describe(base, child) if child else "mutation found no legal neighbour"

    def _with_sibling(
        self, base: Params, ctx: CoderContext, space: Space, rng: random.Random
    ) -> tuple[Params | None, str]:
        best = _best_sibling(ctx, space)
        if best is None:
            child, text = self._inherit(base, space, rng, None)
            return child, f"{ctx.memory_mode}: no usable sibling; {text}"
        sibling, params = best
        if ctx.memory_mode == "combine":
            child = space.mix(base, params, rng)
            return child, f"combine with {sibling.id}: {describe(base, child)}"
        child = space.step_toward(base, params)
        return child, f"compare with {sibling.id}: step toward it, {describe(base, child)}"

    def _untried(
        self, base: Params | None, space: Space, tried: set[str], rng: random.Random, text: str
    ) -> tuple[Params, str]:
        """A legal, untried configuration near ``base`` (or anywhere), for when a move collided."""
        for n_changes in (1, 1, 2, 2, 3):
            if base is not None and space.is_legal(base):
                child = space.mutate(base, rng, n_changes)
                if child is not None and fingerprint(space.template, child) not in tried:
                    return child, f"{text}; already tried, so {describe(base, child)}"
        for _ in range(20):
            child = space.random_config(rng)
            if child is not None and fingerprint(space.template, child) not in tried:
                return (
                    child,
                    f"{text}; already tried, so random configuration ({describe(None, child)})",
                )
        for child in space.enumerate():
            if fingerprint(space.template, child) not in tried:
                return child, f"{text}; already tried, so next untried ({describe(None, child)})"
        raise KevolveError(
            f"Every configuration of {space.template} has been tried; stop this branch."
        )

    def _draft(
        self,
        problem: Problem,
        spec: SpecT,
        target: Target,
        space: Space,
        params: Params,
        text: str,
    ) -> Draft:
        source = self.render(problem, spec, target, params)
        logger.debug("%s: %s", space.template, text)
        return Draft(
            language=self.language,
            source=source,
            transformation=text,
            template=space.template,
            params=dict(params),
            author="offline",
            declared_flops=self.declared_flops(spec, params),
        )

    def declared_flops(self, spec: Any, params: Params) -> int | None:
        """FLOPs of the formulation ``params`` computes when a rewrite changes it.

        ``None`` (the default): the reference's formulation. A coder whose plans rewrite
        the algebra (``agents.coders.generators.gemm``) returns the rewritten plan's FLOPs, so the
        evaluator's FLOP floor follows the formulation the candidate declares.
        """
        return None


def _failed(result: EvalResult | None) -> bool:
    return result is not None and (result.stage_failed is not None or not result.correct)


def _legal_params(candidate: Candidate | None, space: Space) -> Params | None:
    if candidate is None or candidate.template != space.template:
        return None
    params: dict[str, Any] = dict(candidate.params)
    return params if space.is_legal(params) else None


def _best_skill(skills: list[Skill], space: Space) -> Skill | None:
    """The largest-gain skill of this template, its params clamped to this problem's space.

    A skill learnt on another shape still steers (``restart``, ``inherit``) once clamped, as it
    seeds (``seed_from_skills``); one whose params cannot be made legal is skipped.
    """
    usable: list[Skill] = []
    for skill in skills:
        if skill.template != space.template:
            continue
        params = clamp_params(dict(skill.params), space)
        if params is None:
            continue
        same = params == dict(skill.params)
        usable.append(skill if same else skill.model_copy(update={"params": params}))
    return max(usable, key=lambda s: s.gain) if usable else None


def _best_sibling(ctx: CoderContext, space: Space) -> tuple[Candidate, Params] | None:
    parent_id = ctx.parent.id if ctx.parent else None
    best: tuple[float, Candidate, Params] | None = None
    for candidate, result in ctx.siblings:
        params = _legal_params(candidate, space)
        if params is None or candidate.id == parent_id or not result.accepted:
            continue
        if best is None or result.reward > best[0]:
            best = (result.reward, candidate, params)
    return (best[1], best[2]) if best else None


def _nearest(value: Any, values: list[Any]) -> Any:
    """The legal value closest to ``value`` (the smaller on a tie; the middle one if not numeric)."""
    if value in values:
        return value
    if isinstance(value, (int, float)) and all(isinstance(v, (int, float)) for v in values):
        return min(values, key=lambda v: (abs(v - value), v))
    return values[len(values) // 2]


def clamp_params(params: Params, space: Space, max_steps: int = 8) -> Params | None:
    """The legal configuration of ``space`` nearest to ``params`` (learned on another shape).

    The variant is kept when the space has it (else the first variant in sorted order), every
    value snaps to its nearest legal value, keys the variant lacks are dropped and missing
    ones take their middle value; if a constraint across parameters still fails, parameters
    are stepped down (smaller tiles, fewer warps) breadth-first until ``space.is_legal``.

    Returns:
        A legal configuration, or ``None`` when none is within ``max_steps`` steps down.
    """
    if space.is_legal(params):
        return dict(params)
    variant = params.get("variant")
    if variant not in space.variants:
        variant = min(space.variants)
    choices = space.variants[variant]
    snapped: Params = {"variant": variant}
    for key, values in choices.items():
        legal = list(values)
        snapped[key] = _nearest(params[key], legal) if key in params else legal[len(legal) // 2]
    if space.is_legal(snapped):
        return snapped
    frontier, seen = [snapped], {fingerprint(space.template, snapped)}
    for _ in range(max_steps):
        nxt: list[Params] = []
        for p in frontier:
            for key, values in choices.items():
                legal = list(values)
                i = legal.index(p[key])
                if i == 0:
                    continue
                child = {**p, key: legal[i - 1]}
                fp = fingerprint(space.template, child)
                if fp in seen:
                    continue
                if space.is_legal(child):
                    return child
                seen.add(fp)
                nxt.append(child)
        frontier = nxt
    return None
