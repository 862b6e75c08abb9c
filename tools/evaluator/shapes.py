"""Irregular shapes derived from a problem: a second reference at odd sizes.

A candidate that hard-codes the sizes of ``get_inputs()`` (a ``view(64, 1000)``, a grid
computed for one shape, a loop over the first rows) passes every seed at the problem's own
shape. Correctness is therefore also checked once at a shape no one tuned for: each size
``d`` becomes ``max(1, d // 2 + 3)`` (4096x8192 -> 2051x4099, 64x1000 -> 35x503), odd where
it can be, so power-of-two and multiple-of-block assumptions break.

Two kinds of problem can be re-shaped safely:

* a problem generated from a named op (``tools.problems.ops.render_op``): its source is
  re-rendered at the new size;
* a KernelBench file that declares its free sizes with a ``KEVOLVE_SIZES`` dict (the
  convention of ``tools.problems.resize``, used by the ``evals/problems`` suites): those
  module constants are rewritten, each to ``d // 2 + 3`` snapped down to its declared step.

Any other file has no safe way to change its sizes (they may be module constants,
``__init__`` arguments, or tied to each other), so it is checked at its own shape only and
the result says so in a note. Runs on the orchestrator side (the renderer needs jinja2,
which the worker does not import).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tools.errors import ProblemError
from tools.records.problem import Problem

logger = logging.getLogger(__name__)

NOT_RESHAPED_NOTE = (
    "irregular shapes not checked: the problem is not a generated named op and does not "
    "declare its resizable sizes (KEVOLVE_SIZES), so it has no safe way to be re-shaped; "
    "correctness was checked at its own shape only"
)


@dataclass(frozen=True)
class IrregularProblem:
    """The problem re-rendered at an irregular size."""

    source: str
    shape: list[int]
    """The size override passed to ``render_op`` (``MxNxK`` for matmul-like ops), or the
    new values of a file's declared sizes in the order they are assigned."""


def irregular_sizes(sizes: list[int]) -> list[int]:
    """Each size ``d`` becomes ``max(1, d // 2 + 3)``: smaller, and off every block size."""
    return [max(1, d // 2 + 3) for d in sizes]


def _declared_variant(source: str) -> IrregularProblem | None:
    """The irregular variant of a file that declares its sizes, else ``None``."""
    try:  # imported here: the worker imports this module and must not pull in tools.problems
        from tools.problems.resize import irregular_overrides, resize_source
    except ImportError as e:
        logger.info("irregular shapes not available: %s", e)
        return None

    overrides = irregular_overrides(source, lambda d: irregular_sizes([d])[0])
    if overrides is None:
        return None
    try:
        odd = resize_source(source, overrides)
    except ProblemError as e:
        logger.info("could not resize the problem's declared sizes: %s", e)
        return None
    return IrregularProblem(source=odd, shape=list(overrides.values()))


def _own_sizes(problem: Problem) -> list[int] | None:
    params = problem.params
    if all(k in params for k in ("M", "N", "K")):
        return [int(params["M"]), int(params["N"]), int(params["K"])]
    if problem.shapes:
        return [int(d) for d in problem.shapes[0]]
    return None


def irregular_variant(problem: Problem) -> IrregularProblem | None:
    """The problem at an irregular size, or ``None`` when it cannot be re-shaped safely.

    A file that declares its sizes (``KEVOLVE_SIZES``) is resized through
    ``tools.problems.resize``. A named op qualifies only when re-rendering it at its own
    sizes reproduces its source exactly (so nothing about it was edited by hand).

    Args:
        problem: The problem being evaluated.

    Returns:
        The re-rendered source and its size override, or ``None`` (see ``NOT_RESHAPED_NOTE``).
    """
    declared = _declared_variant(problem.source)
    if declared is not None:
        return declared
    sizes = _own_sizes(problem)
    if not problem.op or sizes is None:
        return None
    try:
        from tools.problems.ops import render_op
    except ImportError as e:  # the renderer needs jinja2; a bare worker host lacks it
        logger.info("irregular shapes not available: %s", e)
        return None
    try:
        own, _, _ = render_op(problem.op, shape=sizes, dtype=problem.dtype)
        if own != problem.source:
            return None
        odd = irregular_sizes(sizes)
        if odd == sizes:
            return None
        source, _, _ = render_op(problem.op, shape=odd, dtype=problem.dtype)
    except Exception as e:  # noqa: BLE001 - any renderer failure means "not re-shapeable"
        logger.info("could not re-render %s at an irregular shape: %s", problem.op, e)
        return None
    return IrregularProblem(source=source, shape=odd)
