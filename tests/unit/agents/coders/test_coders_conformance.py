"""Every generator behaves as a ``Coder`` on every suite problem (no kernel is run).

For each registered generator (``agents.coders.routes.GENERATORS``) and each problem of the
KernelBench H100 suite:

- it is a ``Coder``; a template generator is also a ``SkillSeeder`` and a ``TemplateOwner``,
  its ``supports`` agrees with its recogniser (``spec_for``, which refuses with
  ``ProblemError`` only) and with ``templates_for``, and an unsupported problem gets no seed;
- every seed renders, is of its language and template, passes the evaluator's static checks,
  and no two seeds share a fingerprint;
- ``propose`` never returns a fingerprint already in ``tried``, in any memory mode, after a
  correct parent or a failed one;
- the same context (seed, memory mode, parent) gives the same draft.

Traces and recognisers are cached per process, so each reference is traced once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.coders.base import Coder, CoderContext, Draft, SkillSeeder, TemplateOwner, fingerprint
from agents.coders.kit.generator import TemplateGenerator
from agents.coders.routes import GENERATORS
from tests.unit.agents.coders import proposals
from tools.errors import KevolveError, ProblemError
from tools.evaluator.static_checks import check_source
from tools.records import EvalResult, Stage

SUITE = sorted(
    p.stem
    for p in (Path(__file__).resolve().parents[4] / "evals/problems/kernelbench_h100").glob(
        "[0-9]*.py"
    )
)
MODES = ("seed", "inherit", "compare", "combine", "restart")
PROPOSALS = 2
"""Children proposed in a row per case, each added to ``tried`` before the next."""


def _result(cid: str, ok: bool, speedup: float = 1.0) -> EvalResult:
    """A correct evaluation, or one that failed to compile."""
    return proposals.eval_result(cid, ok, speedup, stage=Stage.COMPILE)


def _check_draft(draft: Draft, coder: Coder, templates: list[str], where: str) -> str:
    assert draft.language == coder.language, where
    assert draft.template in templates, (where, draft.template, templates)
    assert check_source(draft.source) == [], (where, check_source(draft.source))
    return fingerprint(draft.template, draft.params)


def test_suite_and_registry_are_not_empty() -> None:
    assert len(SUITE) >= 70 and len(GENERATORS) >= 10


@pytest.mark.parametrize("stem", SUITE)
@pytest.mark.parametrize("name", list(GENERATORS))
def test_generator_conforms(
    name: str, stem: str, generators: dict, suite_problem: object, target_for: object
) -> None:
    coder = generators[name]
    problem = suite_problem(stem)  # type: ignore[operator]
    target = target_for(coder.language)  # type: ignore[operator]
    assert isinstance(coder, Coder)
    supported = coder.supports(problem, target)
    if isinstance(coder, TemplateGenerator):
        assert isinstance(coder, SkillSeeder) and isinstance(coder, TemplateOwner)
        try:
            coder.spec_for(problem, target)
            recognised = True
        except ProblemError:
            recognised = False
        templates = coder.templates_for(problem, target)
        assert supported == recognised == bool(templates), (supported, recognised, templates)
        if not supported:
            with pytest.raises(ProblemError):
                coder.seed(problem, target)
    else:
        templates = list(getattr(coder, "templates", ()))
    if not supported:
        return

    seeds = coder.seed(problem, target)
    assert seeds, "a supported problem gets at least one seed"
    tried = [_check_draft(d, coder, templates, f"seed {i}") for i, d in enumerate(seeds)]
    assert len(set(tried)) == len(tried), f"seeds repeat a fingerprint: {tried}"

    parent = proposals.as_candidate(seeds[0], "c0")
    siblings = [
        (proposals.as_candidate(d, f"s{i}"), _result(f"s{i}", True, 1.5))
        for i, d in enumerate(seeds)
    ]
    cases = [(mode, True) for mode in MODES] + [("inherit", False)]
    for mode, ok in cases:
        ctx = CoderContext(
            problem=problem,
            target=target,
            memory_mode=mode,
            parent=parent,
            parent_result=_result("c0", ok),
            siblings=siblings[1:],
            tried=list(tried),
            rng_seed=7,
        )
        where = f"{mode} after a {'correct' if ok else 'failed'} parent"
        draft = coder.propose(ctx)
        if ok:
            assert coder.propose(ctx) == draft, f"{where}: the same context gave another draft"
        for n in range(PROPOSALS):
            fp = _check_draft(draft, coder, templates, f"{where}, proposal {n}")
            assert fp not in ctx.tried, f"{where}: propose repeated {fp}"
            ctx = ctx.model_copy(update={"tried": [*ctx.tried, fp]})
            if n + 1 < PROPOSALS:
                try:
                    draft = coder.propose(ctx)
                except KevolveError:  # the whole space has been tried: a clean stop
                    break
