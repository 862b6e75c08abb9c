"""``RowFusedCoder``: the row-fused program generator behind the ``TemplateGenerator`` moves.

It claims problems whose forward traces to elementwise ops and reductions along one block
of dims (softmax, norms, losses, reductions...), except generated named-op problems (the op
templates handle them) and pure pointwise graphs (the pointwise template handles them).

Modules are shape-generic when the reference has size constants (``tools.problems.resize``):
the problem is traced again at other sizes and every size-derived number is rewritten as an
expression of the call's input sizes (``rowfused.generic``); a pattern that cannot be made
generic is declined. A reference without size constants (never re-shaped by the evaluator)
gets a kernel for its traced shapes.
"""

from __future__ import annotations

import logging
import math

from agents.coders.generators.rowfused import generic
from agents.coders.generators.rowfused import params as rp
from agents.coders.generators.rowfused.emit_module import module_source
from agents.coders.generators.rowfused.ir import RowProgram
from agents.coders.generators.rowfused.recognise import recognise
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.chip import is_hip
from agents.coders.kit.dtypes import FLOAT_DTYPES
from agents.coders.kit.generator import TemplateGenerator
from agents.coders.kit.space import Params, Space
from tools.errors import ProblemError
from tools.records import Problem, Target

TEMPLATE = "triton.rowfused"
_SPLIT_GENERIC: dict[RowProgram, bool] = {}
"""``False`` for a program whose ``split`` seeds could not be made shape-generic."""
logger = logging.getLogger(__name__)


def whole_split(shape: tuple[int, ...], min_row: int = 1024) -> int:
    """Trailing dims that make a row of a whole-reduced tensor, the same at every size.

    The fewest trailing dims holding ``min_row`` elements, leaving the first dim to the rows
    when the tensor has more than one.
    """
    for k in range(1, len(shape) + 1):
        if math.prod(shape[len(shape) - k :]) >= min_row:
            return max(1, min(k, len(shape) - 1))
    return max(1, len(shape) - 1)


def _generic_programs(problem: Problem) -> tuple[RowProgram, list[RowProgram] | None]:
    program = recognise(problem)
    resized = generic.resized_problems(problem)
    if resized is None:
        return program, None
    split = whole_split(program.whole_shape) if program.whole_shape else None
    if split is not None:
        program = recognise(problem, split)
    out = []
    for other in resized:
        try:
            found = recognise(other, split)
        except ProblemError as e:
            raise ProblemError(
                f"At other sizes the reference is not one row program ({e}); the kernel cannot"
                " be made shape-generic."
            ) from e
        same = [(o.expr, len(o.shape)) for o in found.operands] == [
            (o.expr, len(o.shape)) for o in program.operands
        ]
        if not same or len(found.ops) != len(program.ops):
            raise ProblemError(
                "At other sizes the reference traces to another row program; the kernel cannot"
                " be made shape-generic."
            )
        out.append(found)
    _check_seeds(problem, program, out)
    return program, out


_generic = cached_recogniser(_generic_programs, "shape-generic row-fused")


def generic_programs(problem: Problem) -> tuple[RowProgram, list[RowProgram] | None]:
    """The row program, and the same program at the resized sizes (``None``: no size constants).

    Cached per problem content.

    Raises:
        ProblemError: The problem is not one row program, or not the same one at other sizes
            (the pattern is not generic).
    """
    return _generic(problem)


def _check_seeds(problem: Problem, program: RowProgram, others: list[RowProgram]) -> None:
    """Decline now (not at render) when the seed configurations are not shape-generic."""
    from tools.hardware import load_target

    target = load_target("h100")
    seeds = rp.seeds(program, target)
    split = rp.split_seed(program, target)
    if split is not None and all(p["variant"] != "split" for p in seeds):
        seeds.append(split)  # the search may still draw a split configuration: check it too
    for params in seeds:
        if params["variant"] != "split":
            _generic_text(problem, [program, *others], target, params, hip=False)
            continue
        try:  # a split seed that cannot be generic is dropped, not the problem
            _generic_text(problem, [program, *others], target, params, hip=False)
        except ProblemError as e:
            logger.info("split seeds dropped for %s: %s", problem.name, e)
            _SPLIT_GENERIC[program] = False


def generic_module(
    problem: Problem, spec: RowProgram, target: Target, params: Params, hip: bool
) -> str:
    """The module of one configuration, shape-generic when the problem has size constants.

    Raises:
        ProblemError: The module cannot be made shape-generic; the message says why.
    """
    _, others = generic_programs(problem)
    if others is None:
        return module_source(problem, spec, target, params, hip)
    return _generic_text(problem, [spec, *others], target, params, hip)


def _generic_text(
    problem: Problem, programs: list[RowProgram], target: Target, params: Params, hip: bool
) -> str:
    int64 = any(p.total >= 2**31 for p in programs)
    texts = [module_source(problem, p, target, params, hip, int64=int64) for p in programs]
    shapes = [[tuple(o.shape) for o in p.operands] for p in programs]
    geos = [(p.outer, p.n_len, p.inner) for p in programs]
    return generic.generalise(texts, shapes, geos)


def _reshaped_by_evaluator(problem: Problem) -> bool:
    """True when the evaluator re-renders this problem at other sizes (a generated named op)."""
    if not problem.op or not problem.origin.startswith("op:"):
        return False
    try:
        from tools.evaluator.shapes import irregular_variant
    except ImportError:  # pragma: no cover - the orchestrator always has it
        return True
    return irregular_variant(problem) is not None


class RowFusedCoder(TemplateGenerator[RowProgram]):
    """Fuses a graph of elementwise ops and row reductions into one Triton kernel."""

    name = "triton-rowfused"
    dtypes = FLOAT_DTYPES

    def analyze(self, problem: Problem) -> RowProgram:
        """The problem's row program.

        Raises:
            ProblemError: The problem is not one fusable row program; the message says why.
        """
        if _reshaped_by_evaluator(problem):
            raise ProblemError(
                f"{problem.name} is a generated {problem.op} problem the evaluator re-shapes;"
                " the op templates handle it."
            )
        return generic_programs(problem)[0]

    def space(self, spec: RowProgram, target: Target) -> Space:  # type: ignore[override]
        """``single``, ``looped`` and ``split`` configurations (see ``rowfused.params``).

        ``split`` is left out when its kernels could not be made shape-generic.
        """
        sp = rp.space(spec, target)
        if _SPLIT_GENERIC.get(spec, True) or "split" not in sp.variants:
            return sp
        variants = {k: v for k, v in sp.variants.items() if k != "split"}
        return Space(sp.template, variants, sp.check)

    def seed_params(self, spec: RowProgram, target: Target) -> list[Params]:  # type: ignore[override]
        """The expert configuration for the shape first, then alternatives.

        ``split`` seeds are left out when they could not be made shape-generic.
        """
        seeds = rp.seeds(spec, target)
        if _SPLIT_GENERIC.get(spec, True):
            return seeds
        return [p for p in seeds if p["variant"] != "split"]

    def safer(self, params: Params, spec: RowProgram, target: Target) -> list[Params]:  # type: ignore[override]
        """One row a program, no persistent grid, then ever smaller looped chunks."""
        return rp.safer(params, spec, target)

    def render(self, problem: Problem, spec: RowProgram, target: Target, params: Params) -> str:  # type: ignore[override]
        """The complete ``ModelNew`` module for one configuration."""
        return generic_module(problem, spec, target, params, is_hip(target))
