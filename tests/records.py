"""Evaluation records the tests build by hand (no evaluator run)."""

from __future__ import annotations

from typing import Any

from tools.records import EvalResult


def passed(cid: str, target: str = "t", **fields: Any) -> EvalResult:
    """The result of candidate ``cid`` that passed the static checks, compiled and was
    correct on ``target``; ``fields`` add the rest (times, speedups, diagnostics)."""
    return EvalResult(
        candidate_id=cid, target=target, static_ok=True, compiled=True, correct=True, **fields
    )
