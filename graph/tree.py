"""Candidates' places in the search tree: ids and parents for a coder's draft, and the
PyTorch reference passthrough's place among them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from agents.coders.base import Draft
from tools.records import Candidate, EvalResult


def candidate_id(generation: int, index: int, source: str) -> str:
    """Deterministic id: generation, slot, and a hash of the source (so reruns match)."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:6]
    return f"g{generation:02d}-{index:02d}-{digest}"


def draft_to_candidate(
    draft: Draft, *, generation: int, index: int, parents: list[str], memory_mode: str
) -> Candidate:
    """Give a coder's draft its place in the tree."""
    return Candidate(
        id=candidate_id(generation, index, draft.source),
        parent_ids=parents,
        generation=generation,
        language=draft.language,
        memory_mode=memory_mode,
        source=draft.source,
        transformation=draft.transformation,
        author=draft.author,
        template=draft.template,
        params=draft.params,
        declared_flops=draft.declared_flops,
    )


def passthrough_id(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
) -> str | None:
    """The PyTorch reference passthrough that was evaluated, if any."""
    return next(
        (cid for cid, c in sorted(cands.items()) if c.language == "pytorch" and cid in results),
        None,
    )


def reference_failure(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
) -> str | None:
    """One sentence on why the reference passthrough's evaluation failed, or ``None``
    (not evaluated yet, or measured)."""
    ref = passthrough_id(cands, results)
    if ref is None or results[ref].accepted:
        return None
    res = results[ref]
    stage = res.stage_failed.value if res.stage_failed else "flags " + ", ".join(res.flags)
    first = (res.error.splitlines() or [""])[0][:240]
    return f"the PyTorch reference could not be evaluated ({stage}: {first})"
