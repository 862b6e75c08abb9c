"""The Coder seam: every coder (offline synthesizer or LLM) turns a context into drafts.

Optional abilities are Protocols too (``SkillSeeder``, ``TemplateOwner``), checked with
``isinstance`` rather than looked up by attribute name.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from tools.records import Candidate, EvalResult, Language, MemoryMode, Problem, Skill, Target


class Draft(BaseModel):
    """A kernel a coder wrote; the graph turns it into a Candidate by giving it an id."""

    language: Language
    source: str
    """A complete KernelBench ``ModelNew`` module."""
    transformation: str
    """One line: what this draft changes relative to its parent (or "initial <template>")."""
    template: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    author: str = "offline"
    declared_flops: int | None = None
    """FLOPs of a declared rewrite's formulation (``Candidate.declared_flops``)."""


class CoderContext(BaseModel):
    """Everything a coder may see when writing one child."""

    problem: Problem
    target: Target
    memory_mode: MemoryMode
    parent: Candidate | None = None
    parent_result: EvalResult | None = None
    lineage: list[tuple[Candidate, EvalResult]] = Field(default_factory=list)
    """Ancestors of the parent, oldest first (memory mode ``inherit``)."""
    siblings: list[tuple[Candidate, EvalResult]] = Field(default_factory=list)
    """Evaluated children of the parent's parent (``compare``) or the best sibling (``combine``)."""
    skills: list[Skill] = Field(default_factory=list)
    documents: list[str] = Field(default_factory=list)
    """Retrieved chip-manual excerpts, each already prefixed with its source citation."""
    insights: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Profiler-interpreter Insights (as JSON) for the parent, lineage and siblings, by id."""
    tried: list[str] = Field(default_factory=list)
    """Fingerprints (template + params) already in the tree, so coders avoid duplicates."""
    rng_seed: int = 0


@runtime_checkable
class Coder(Protocol):
    """A coder for one language."""

    language: Language
    name: str

    def supports(self, problem: Problem, target: Target) -> bool:
        """True when this coder can write kernels for this problem on this target."""
        ...

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """First drafts for a fresh run (templates with default parameters)."""
        ...

    def propose(self, ctx: CoderContext) -> Draft:
        """One child: fix a failed parent, improve a correct one, or write afresh."""
        ...


@runtime_checkable
class SkillSeeder(Protocol):
    """A coder that can render first drafts from retrieved skills (template + params)."""

    def seed_from_skills(
        self, problem: Problem, target: Target, skills: list[Skill]
    ) -> list[Draft]:
        """Drafts rendered from the skills this coder owns (their template is its), best first."""
        ...


@runtime_checkable
class TemplateOwner(Protocol):
    """A coder whose drafts are instances of named templates."""

    def templates_for(self, problem: Problem, target: Target) -> list[str]:
        """The template names it writes for ``problem`` on ``target`` (none when it refuses)."""
        ...


def fingerprint(template: str, params: dict[str, Any]) -> str:
    """A stable key for a template instance, used to avoid evaluating duplicates."""
    items = ",".join(f"{k}={params[k]}" for k in sorted(params))
    return f"{template}({items})"
