"""Memory modes: which part of the search tree a coder sees when writing one child.

- ``inherit``: the parent and its lineage (ancestors with their results and moves tried).
- ``compare``: the parent and its siblings with their results (what made winners win).
- ``combine``: the parent plus the best sibling, to merge their ideas.
- ``restart``: the problem and chip facts only, to escape a local optimum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.coders.base import CoderContext, fingerprint
from agents.memory.schemas import ChildPlan
from agents.tree import RunTree
from tools.records import Candidate, EvalResult, Skill

MAX_LINEAGE = 6
MAX_SIBLINGS = 6


def lineage(cid: str, candidates: Mapping[str, Candidate]) -> list[str]:
    """Ancestors of ``cid``, oldest first (``cid`` excluded)."""
    chain: list[str] = []
    seen = {cid}
    current = candidates[cid]
    while current.parent_ids and current.parent_ids[0] in candidates:
        pid = current.parent_ids[0]
        if pid in seen:
            break
        seen.add(pid)
        chain.append(pid)
        current = candidates[pid]
    return list(reversed(chain))


def siblings(cid: str, candidates: Mapping[str, Candidate]) -> list[str]:
    """Candidates sharing ``cid``'s first parent (or, for seeds, the other seeds)."""
    parent = candidates[cid].parent_ids[:1]
    return sorted(
        other
        for other, cand in candidates.items()
        if other != cid and cand.parent_ids[:1] == parent and cand.language != "pytorch"
    )


def assemble_context(
    *,
    child: ChildPlan,
    tree: RunTree,
    skills: Sequence[Mapping[str, Any]] = (),
    documents: Sequence[str] = (),
    insights: Mapping[str, Mapping[str, Any]] | None = None,
) -> CoderContext:
    """Build exactly the context ``child.memory_mode`` allows the coder to see of ``tree``."""
    mode, candidates = child.memory_mode, tree.candidates
    tried = sorted(
        {fingerprint(c.template, c.params) for c in candidates.values() if c.template}
    )
    skill_records = [Skill.model_validate(s) for s in skills]
    base: dict[str, Any] = dict(
        problem=tree.problem,
        target=tree.target,
        memory_mode=mode,
        skills=skill_records,
        documents=list(documents),
        tried=tried,
        rng_seed=child.rng_seed,
    )
    pid = child.parent_id
    if mode == "restart" or pid is None or pid not in candidates:
        return CoderContext(**base)
    ctx = _assemble(mode, pid, base, candidates, tree.results)
    if insights:
        shown = {pid, *(c.id for c, _ in ctx.lineage), *(c.id for c, _ in ctx.siblings)}
        ctx = ctx.model_copy(
            update={"insights": {k: dict(v) for k, v in insights.items() if k in shown}}
        )
    return ctx


def _assemble(
    mode: str,
    pid: str,
    base: dict[str, Any],
    candidates: Mapping[str, Candidate],
    results: Mapping[str, EvalResult],
) -> CoderContext:
    parent, parent_result = candidates[pid], results.get(pid)
    evaluated = lambda ids: [(candidates[i], results[i]) for i in ids if i in results]  # noqa: E731
    if mode == "inherit":
        return CoderContext(
            **base,
            parent=parent,
            parent_result=parent_result,
            lineage=evaluated(lineage(pid, candidates))[-MAX_LINEAGE:],
        )
    sibs = evaluated(siblings(pid, candidates))
    sibs.sort(key=lambda pair: pair[1].reward, reverse=True)
    if mode == "compare":
        return CoderContext(
            **base, parent=parent, parent_result=parent_result, siblings=sibs[:MAX_SIBLINGS]
        )
    if mode == "combine":
        best = [pair for pair in sibs if pair[1].accepted][:1]
        return CoderContext(**base, parent=parent, parent_result=parent_result, siblings=best)
    raise ValueError(f"unknown memory mode {mode!r}")
