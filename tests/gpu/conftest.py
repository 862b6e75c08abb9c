"""Fixtures of the GPU tests: the local chip, and a generator's seeds evaluated on it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

logger = logging.getLogger(__name__)


@pytest.fixture
def gpu_target() -> Any:
    """The visible GPU's target record; skips where the GPU is not in the hardware registry."""
    from tools.hardware import detect_local_gpu

    target = detect_local_gpu()
    if target is None:
        pytest.skip("the visible GPU is not in the hardware registry")
    return target


@pytest.fixture
def accepted_seeds(gpu_target: Any, tmp_path: Path) -> Callable[..., list[tuple[Any, Any]]]:
    """``accepted_seeds(coder, problem)``: every seed of ``coder`` for ``problem``, evaluated on
    the GPU, each asserted accepted and measured there; ``(draft, result)`` pairs, in order.
    Each result's speedups are logged (``-o log_cli=true``) for the bench record."""

    def evaluate_seeds(coder: Any, problem: Any) -> list[tuple[Any, Any]]:
        import torch

        from tools.evaluator import EvalOptions, evaluate
        from tools.records import Candidate

        out = []
        for i, draft in enumerate(coder.seed(problem, gpu_target)):
            cand = Candidate(id=f"{problem.name}{i}", language="triton", source=draft.source)
            opts = EvalOptions(work_dir=str(tmp_path / str(i)), timeout_s=600)
            result = evaluate(problem, cand, gpu_target, opts)
            assert result.accepted, (draft.params, result.error)
            assert result.measured_on == torch.cuda.get_device_name()
            logger.warning(
                "%s %s: %.3fx vs eager, %s vs compile (%s)", problem.name, draft.params,
                result.speedup_vs_eager, result.speedup_vs_compile, draft.transformation,
            )  # fmt: skip
            out.append((draft, result))
        return out

    return evaluate_seeds
