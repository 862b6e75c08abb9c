"""Count a problem's reference (bytes floor, FLOPs) from its source, without allocating.

The problem is built and called on the meta device under the evaluator's op counter
(``tools.evaluator.counting``); a problem the meta device cannot run is run on CPU for real
when it is small (under ``CPU_COUNT_BYTES``). These counts are what classifies a problem
as memory- or compute-bound (``tools.ceilings.bound_kind``), named op or not.
"""

from __future__ import annotations

import logging

import torch

from tools.evaluator.counting import ReferenceCounts, count_reference
from tools.problems.materialize import cpu_guard, instantiate, meta_device

logger = logging.getLogger(__name__)

CPU_COUNT_BYTES = 256 * 2**20
"""Byte cap of the CPU run used when the meta device cannot run a problem."""

__all__ = ["problem_counts"]


def _count(source: str) -> ReferenceCounts:
    model, inputs = instantiate(source, "<counts>")
    return count_reference(model, inputs)


def problem_counts(source: str) -> ReferenceCounts | None:
    """The reference's counts, or ``None`` when the problem cannot be run to count them.

    Args:
        source: KernelBench source.
    """
    try:
        with meta_device():
            return _count(source)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the problem's own code
        logger.debug("meta count failed (%s); trying a small CPU run", e)
    try:
        torch.manual_seed(0)
        with cpu_guard(CPU_COUNT_BYTES):
            return _count(source)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the problem's own code
        logger.info("cannot count the reference: %s", e)
        return None
