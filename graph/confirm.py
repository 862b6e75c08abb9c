"""The winner is measured again before it is reported.

The search ranks candidates by one measurement each, so the best of many is also the one
whose noise happened to favour it most. Before the report names it, the winning kernel is
evaluated again :data:`CONFIRM_MEASUREMENTS` time(s) in a fresh sandbox (fresh seeds, fresh
interleaved timing rounds against eager and ``torch.compile``); its speedup is then the median
of all its measurements, with an interval covering each one's own spread
(:mod:`graph.noise`). A winner that fails its re-check is not reported as the winner.
Modeled times are not re-measured (the model is deterministic). Re-measurements are kept in
the run's recorder, so a resumed run reuses them.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field

from graph.context import RunContext
from graph.noise import Speedup, combine, speedup
from tools.records import Candidate, EvalResult, Problem, Target

log = logging.getLogger(__name__)

CONFIRM_MEASUREMENTS = 1
"""Fresh re-measurements of the winner before it is reported (each: 3 interleaved rounds)."""


class Confirmation(BaseModel):
    """The winner's measurements and the speedups they give."""

    measurements: list[EvalResult] = Field(default_factory=list)
    """The search's own measurement first, then the re-measurements."""
    failed: EvalResult | None = None
    """A re-measurement that did not accept the kernel (wrong on fresh seeds, a crash)."""

    @property
    def accepted(self) -> bool:
        """Every re-measurement accepted the kernel."""
        return self.failed is None

    def vs(self, baseline: str) -> Speedup | None:
        """Speedup vs ``eager`` or ``compile`` over every measurement (``None``: not measured)."""
        field = "speedup_vs_eager" if baseline == "eager" else "speedup_vs_compile"
        found = [
            speedup(getattr(r, field), r.runtime_ms, r.runtime_spread_ms)
            for r in self.measurements
            if getattr(r, field) is not None
        ]
        return combine(found) if found else None

    @property
    def runtime_ms(self) -> float | None:
        """Median runtime over the measurements."""
        times = sorted(r.runtime_ms for r in self.measurements if r.runtime_ms is not None)
        return times[len(times) // 2] if times else None


def confirm_best(
    run_id: str,
    cand: Candidate,
    result: EvalResult,
    problem: Problem,
    target: Target,
    ctx: RunContext,
    allow_lower_precision: bool = False,
) -> Confirmation:
    """Measure the winning candidate again (not when its times are modeled)."""
    found = Confirmation(measurements=[result])
    if result.measured_on == "modeled":
        return found
    for i in range(CONFIRM_MEASUREMENTS):
        again = ctx.recorder.load_remeasurement(run_id, cand.id, i)
        if again is None:
            ctx.emit("evaluating", candidate_id=f"{cand.id} (re-measuring the winner)")
            again = ctx.evaluator.evaluate(
                problem, cand, target, run_id=run_id,
                allow_lower_precision=allow_lower_precision, remeasure=i,
            )  # fmt: skip
            # A stopped run refuses to keep it (its sandbox may have been killed).
            ctx.recorder.save_remeasurement(run_id, cand.id, i, again)
        if not again.accepted:
            log.warning("the winner %s failed its re-measurement: %s", cand.id, again.error[:200])
            found.failed = again
            return found
        found.measurements.append(again)
    return found
