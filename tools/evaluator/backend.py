"""The evaluator seam: one typed callable the graph evaluates through, local or on Ray.

``evaluator_for(ray_address)`` picks the backend from settings alone: ``None`` is the local
sandboxed pool (``tools.evaluator.api.evaluate``); an address (``auto`` or ``host:port``)
sends each evaluation to a Ray cluster as a task (``tools.evaluator.ray_backend``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from tools.evaluator.api import evaluate
from tools.evaluator.options import EvalOptions
from tools.records.candidate import Candidate
from tools.records.eval_result import EvalResult
from tools.records.problem import Problem
from tools.records.target import Target

Evaluator: TypeAlias = Callable[[Problem, Candidate, Target, EvalOptions], EvalResult]
"""``evaluator(problem, candidate, target, options)`` judges one candidate for one target;
every failure of the candidate is a result. ``tools.evaluator.api.evaluate`` and
``RayEvaluator`` are the two."""


def evaluator_for(ray_address: str | None, local: Evaluator = evaluate) -> Evaluator:
    """``local`` (the sandboxed ``evaluate``), or the Ray evaluator when ``ray_address`` is set."""
    if not ray_address:
        return local
    from tools.evaluator.ray_backend import RayEvaluator

    return RayEvaluator.connect(ray_address)
