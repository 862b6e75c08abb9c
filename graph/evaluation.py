"""The offline :class:`graph.ports.Evaluator`: one fresh sandboxed subprocess per candidate.

Evaluations run side by side as far as the graph's ``max_concurrency`` allows; the timing
lock under the data dir keeps timed sections one at a time on each device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.context import EvalSettings
from tools.evaluator import evaluate as sandboxed_evaluate
from tools.evaluator.backend import evaluator_for
from tools.evaluator.options import EvalOptions
from tools.records import Candidate, EvalResult, Problem, Target


def correctness_seeds(run_id: str, cand_id: str, count: int) -> list[int]:
    """Fresh but reproducible seeds for one candidate (a resumed run draws the same)."""
    base = int(hashlib.sha1(f"{run_id}/{cand_id}".encode()).hexdigest()[:8], 16)
    return [(base + 7919 * i) % (2**31) for i in range(count)]


@dataclass(frozen=True, kw_only=True)
class SubprocessEvaluator:
    """Evaluates on this machine with ``tools.evaluator`` (work dirs and caches in ``data_dir``)."""

    data_dir: Path
    settings: EvalSettings
    extra_options: Mapping[str, Any] = field(default_factory=dict)
    """Further ``EvalOptions`` fields for every evaluation (``measure_compile=False`` skips the
    ``torch.compile`` reference for a quick check)."""

    def options(
        self, run_id: str, cand_id: str, allow_lower_precision: bool, remeasure: int | None = None
    ) -> EvalOptions:
        """Evaluation options for one candidate (or its ``remeasure``-th re-measurement)."""
        key = cand_id if remeasure is None else f"{cand_id}/confirm-{remeasure}"
        options = EvalOptions.in_data_dir(
            self.data_dir,
            timeout_s=self.settings.eval_timeout_s,
            seeds=correctness_seeds(run_id, key, self.settings.eval_seeds),
            rep_ms=self.settings.eval_rep_ms,
            allow_lower_precision=allow_lower_precision,
        )
        return options.model_copy(update=dict(self.extra_options)) if self.extra_options else options

    def evaluate(
        self,
        problem: Problem,
        candidate: Candidate,
        target: Target,
        *,
        run_id: str,
        allow_lower_precision: bool = False,
        remeasure: int | None = None,
    ) -> EvalResult:
        """Evaluate in a fresh sandboxed subprocess (see ``tools.evaluator.evaluate``)."""
        options = self.options(run_id, candidate.id, allow_lower_precision, remeasure)
        evaluate = evaluator_for(self.settings.ray_address, sandboxed_evaluate)
        return evaluate(problem, candidate, target, options)
