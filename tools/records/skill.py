"""The Skill record: an optimization that paid off, kept for later runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Skill(BaseModel):
    """A learned optimization for an op family on a chip in one language."""

    model_config = ConfigDict(frozen=True)

    id: str
    op_family: str
    chip: str
    language: str
    summary: str
    """What to do, in a sentence or two."""
    code_excerpt: str = ""
    template: str = ""
    params: dict[str, object] = {}
    gain: float
    """Measured (or modeled, see ``measured_on``) speedup of the child over its parent."""
    measured_on: str
    run_id: str
    candidate_id: str
