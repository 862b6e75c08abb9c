"""Timing uncertainty: a speedup with its interval, ties, and figures too odd to headline.

A speedup is a ratio of two medians measured side by side (``eager_ms / runtime_ms``). The
evaluator keeps the candidate's interquartile range (``runtime_spread_ms``); the reference was
timed in interleaved rounds on the same machine, so its relative spread is taken to be the same.
Half an IQR on each side, combined in quadrature, gives the ratio's relative half-width::

    w = sqrt(2) * (spread_ms / 2) / runtime_ms,   interval = [s * (1 - w), s * (1 + w)]

Re-measurements of the same kernel widen the interval to cover every measurement. A speedup
whose interval contains 1.0 is a **tie**: the kernel is not shown to be faster or slower.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

PASSTHROUGH_TOLERANCE = 0.10
"""The PyTorch passthrough is eager itself: a ratio vs eager further than this from 1.0 means
the machine was too loaded (or too noisy) for the run's ratios to be trusted as measured."""
COMPILE_BASELINE_SLOWDOWN = 2.0
"""A ``torch.compile`` reference this many times slower than eager is a broken baseline (a
compile fallback, a recompilation per call): a speedup against it is not a headline."""


class Speedup(BaseModel):
    """A speedup with its interval and what it means."""

    value: float
    low: float
    high: float
    samples: int = 1
    """Independent measurements it summarises (1: the search's own; more: re-measured)."""

    @property
    def tie(self) -> bool:
        """The interval contains 1.0: not shown to differ from the baseline."""
        return self.low <= 1.0 <= self.high

    @property
    def verdict(self) -> str:
        """``faster``, ``slower`` or ``tie``."""
        return "tie" if self.tie else ("faster" if self.low > 1.0 else "slower")

    def text(self) -> str:
        """``1.42x (1.35-1.49x)``, with ``, a tie`` when the interval contains 1.0."""
        body = f"{self.value:.2f}x ({self.low:.2f}-{self.high:.2f}x)"
        return f"{body}, a tie" if self.tie else body


def relative_halfwidth(runtime_ms: float | None, spread_ms: float | None) -> float:
    """Relative half-width of a ratio of two medians with this IQR (0 when unknown)."""
    if not runtime_ms or spread_ms is None or runtime_ms <= 0 or spread_ms < 0:
        return 0.0
    return math.sqrt(2.0) * (spread_ms / 2.0) / runtime_ms


def speedup(value: float, runtime_ms: float | None, spread_ms: float | None) -> Speedup:
    """One measured speedup with the interval its timing spread gives."""
    w = min(relative_halfwidth(runtime_ms, spread_ms), 0.99)
    return Speedup(value=value, low=value * (1.0 - w), high=value * (1.0 + w))


def combine(measurements: Sequence[Speedup]) -> Speedup:
    """Independent measurements of one speedup: the median, and an interval covering them all."""
    if not measurements:
        raise ValueError("no measurement to combine")
    values = sorted(m.value for m in measurements)
    mid = len(values) // 2
    median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return Speedup(
        value=median,
        low=min(m.low for m in measurements),
        high=max(m.high for m in measurements),
        samples=sum(m.samples for m in measurements),
    )


def passthrough_warning(ratio: float | None) -> str:
    """A warning when the passthrough's own ratio vs eager (the load probe) is not ~1.0."""
    if ratio is None or abs(ratio - 1.0) <= PASSTHROUGH_TOLERANCE:
        return ""
    return (
        f"the machine was loaded or noisy: the PyTorch passthrough (eager itself) measured "
        f"{ratio:.2f}x vs eager, not 1.00x, so ratios here are uncertain by about that much"
    )
