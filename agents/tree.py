"""What a run has found so far, as the agents read it: one record for the curator, the
profiler-interpreter and the memory modes instead of the same four arguments each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tools.records import Candidate, EvalResult, Problem, Target


@dataclass(frozen=True, kw_only=True)
class RunTree:
    """A run's problem and chip, its flat candidate dict and its results."""

    problem: Problem
    target: Target
    candidates: Mapping[str, Candidate]
    """Every candidate by id; the tree is in their ``parent_ids``."""
    results: Mapping[str, EvalResult]
    """Evaluation results by candidate id (a candidate not evaluated yet has none)."""
