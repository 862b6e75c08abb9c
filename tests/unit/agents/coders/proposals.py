"""Search moves of the coder tests: drafts as stored candidates, their evaluations, and a walk
of proposals each made from the one before.

Imported as ``from tests.unit.agents.coders import proposals``.
"""

from __future__ import annotations

from typing import Any

from agents.coders import CoderContext, fingerprint
from tools.records import Candidate, EvalResult, Stage


def as_candidate(draft: Any, cid: str, parent: str | None = None) -> Candidate:
    """``draft`` stored as candidate ``cid`` (a child of ``parent`` when given)."""
    return Candidate(id=cid, parent_ids=[parent] if parent else [], **draft.model_dump())


def eval_result(
    cid: str, ok: bool = True, speedup: float = 1.0, stage: Stage = Stage.CORRECTNESS
) -> EvalResult:
    """The evaluation of candidate ``cid``: correct at ``speedup`` over eager, or (not ``ok``)
    failed at ``stage`` (compiled unless that stage is the compile)."""
    return EvalResult(
        candidate_id=cid,
        target="t",
        static_ok=True,
        compiled=ok or stage != Stage.COMPILE,
        correct=ok,
        stage_failed=None if ok else stage,
        speedup_vs_eager=speedup if ok else None,
    )


def propose_chain(
    coder: Any, problem: Any, target: Any, modes: list[str], steps: int, fail_every: int = 0
) -> list[Any]:
    """``steps`` proposals in a row, each made from the one before (its parent), in memory
    modes ``modes`` in turn, with every fingerprint tried so far (the seeds' first) in
    ``tried``; every ``fail_every``-th parent failed its correctness check (0: none did).

    Asserts that the seeds and every proposal are new fingerprints and legal in the
    generator's space; returns the proposals.
    """
    space = coder.space(coder.spec_for(problem, target), target)
    seeds = coder.seed(problem, target)
    tried = [fingerprint(d.template, d.params) for d in seeds]
    assert len(set(tried)) == len(tried), tried
    parent = as_candidate(seeds[0], "c0")
    drafts = []
    for step in range(steps):
        ok = not fail_every or step % fail_every != fail_every - 1
        ctx = CoderContext(
            problem=problem,
            target=target,
            memory_mode=modes[step % len(modes)],
            parent=parent,
            parent_result=eval_result(parent.id, ok),
            tried=list(tried),
            rng_seed=step,
        )
        draft = coder.propose(ctx)
        key = fingerprint(draft.template, draft.params)
        assert key not in tried, (step, draft.transformation)
        assert space.is_legal(draft.params), draft.params
        tried.append(key)
        drafts.append(draft)
        parent = as_candidate(draft, f"c{step + 1}", parent.id)
    return drafts
