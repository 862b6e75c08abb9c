"""The run's typed state: plain JSON data with explicit reducers.

Records (Candidate, EvalResult, ...) are kept as their JSON dicts so checkpoints hold only
primitive data (nothing that unpickles into code); helpers turn them back into records.
The search tree is the flat ``candidates`` dict keyed by id, each record naming its parents.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from agents.memory.schemas import ChildPlan
from agents.planner.schemas import DEFAULT_BUDGET, RunRequest
from agents.tree import RunTree
from tools.records import Candidate, EvalResult, Problem, Target

__all__ = [
    "ChildPlan",
    "CodeTask",
    "EvalTask",
    "RunRequest",
    "RunState",
    "merge_dicts",
]


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: union of two id-keyed dicts; the right side wins on the same key."""
    out = dict(left or {})
    out.update(right or {})
    return out


class CodeTask(BaseModel):
    """Payload of one ``Send("code", ...)``: everything a coder may read for one child."""

    run_id: str
    child: ChildPlan
    context: dict[str, Any]
    """A ``CoderContext`` as JSON."""


class EvalTask(BaseModel):
    """Payload of one ``Send("evaluate", ...)``."""

    run_id: str
    candidate: dict[str, Any]
    problem: dict[str, Any]
    target: dict[str, Any]
    allow_lower_precision: bool = False
    """The request allows fp16/bf16/TF32 math for an fp32 reference."""


class RunState(BaseModel):
    """The state of one optimization run (LangGraph channels, one per field)."""

    run_id: str
    request: RunRequest
    problem: dict[str, Any] = Field(default_factory=dict)
    target: dict[str, Any] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=list)
    budget: int = DEFAULT_BUDGET
    documents: list[str] = Field(default_factory=list)
    """Retrieved chip-manual excerpts with citations."""
    document_refs: list[dict[str, Any]] = Field(default_factory=list)
    """Where each of ``documents`` came from: chip, source, source_path, section, page."""
    skills: list[dict[str, Any]] = Field(default_factory=list)
    candidates: Annotated[dict[str, dict[str, Any]], merge_dicts] = Field(default_factory=dict)
    results: Annotated[dict[str, dict[str, Any]], merge_dicts] = Field(default_factory=dict)
    insights: Annotated[dict[str, dict[str, Any]], merge_dicts] = Field(default_factory=dict)
    generation: int = 0
    frontier: list[ChildPlan] = Field(default_factory=list)
    """Children planned by the last ``select`` (replaced each generation)."""
    mode_stats: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Memory-mode bandit: mode -> {"pulls": n, "wins": w}."""
    credited: list[str] = Field(default_factory=list)
    """Candidate ids already credited to the bandit."""
    best_history: list[float] = Field(default_factory=list)
    """Best accepted reward after each generation (plateau detection)."""
    stop_reason: str = ""
    new_skills: list[dict[str, Any]] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)

    # Typed views -------------------------------------------------------------------------
    def problem_record(self) -> Problem:
        """The resolved Problem."""
        return Problem.model_validate(self.problem)

    def target_record(self) -> Target:
        """The resolved Target."""
        return Target.model_validate(self.target)

    def candidate_records(self) -> dict[str, Candidate]:
        """All candidates as records, keyed by id."""
        return {k: Candidate.model_validate(v) for k, v in self.candidates.items()}

    def result_records(self) -> dict[str, EvalResult]:
        """All evaluation results as records, keyed by candidate id."""
        return {k: EvalResult.model_validate(v) for k, v in self.results.items()}

    def tree(self) -> RunTree:
        """The run so far as the agents read it: problem, chip, candidates and results."""
        return RunTree(
            problem=self.problem_record(),
            target=self.target_record(),
            candidates=self.candidate_records(),
            results=self.result_records(),
        )
