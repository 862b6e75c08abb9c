"""Candidates' places in the search tree: ids and parents for a coder's draft."""

from __future__ import annotations

import hashlib

from agents.coders.base import Draft
from tools.records import Candidate


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
    )
