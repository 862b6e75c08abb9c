"""``RowFusedCoder``: the row-fused program generator behind the ``TemplateCoder`` moves.

It claims problems whose forward traces to elementwise ops and reductions along one block
of dims (softmax, norms, losses, reductions...), except generated named-op problems (the
evaluator re-shapes those, and these kernels are specialised to the traced shapes; the op
templates handle them) and pure pointwise graphs (the pointwise template handles them).
"""

from __future__ import annotations

from agents.coders.offline import TemplateCoder
from agents.coders.rowfused import params as rp
from agents.coders.rowfused.emit_module import module_source
from agents.coders.rowfused.ir import RowProgram
from agents.coders.rowfused.recognise import recognise
from agents.coders.space import Params, Space
from agents.coders.triton_spaces import is_hip
from tools.errors import ProblemError
from tools.records import Language, Problem, Target

SUPPORTED_DTYPES = frozenset({"float32", "float16", "bfloat16"})
TEMPLATE = "triton.rowfused"


def _reshaped_by_evaluator(problem: Problem) -> bool:
    """True when the evaluator re-renders this problem at other sizes (a generated named op)."""
    if not problem.op or not problem.origin.startswith("op:"):
        return False
    try:
        from tools.evaluator.shapes import irregular_variant
    except ImportError:  # pragma: no cover - the orchestrator always has it
        return True
    return irregular_variant(problem) is not None


class RowFusedCoder(TemplateCoder):
    """Fuses a graph of elementwise ops and row reductions into one Triton kernel."""

    language: Language = "triton"
    name = "triton-rowfused"

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
        return recognise(problem)

    def target_ok(self, target: Target) -> bool:
        """Triton kernels need a GPU target with a Triton compile target."""
        return target.triton_target is not None

    def spec_ok(self, spec: RowProgram) -> bool:  # type: ignore[override]
        """fp32, fp16 and bf16 problems."""
        return spec.dtype in SUPPORTED_DTYPES

    def space(self, spec: RowProgram, target: Target) -> Space:  # type: ignore[override]
        """``single`` and ``looped`` configurations (see ``rowfused.params``)."""
        return rp.space(spec, target)

    def seed_params(self, spec: RowProgram, target: Target) -> list[Params]:  # type: ignore[override]
        """The expert configuration for the shape first, then alternatives."""
        return rp.seeds(spec, target)

    def safer(self, params: Params, spec: RowProgram, target: Target) -> list[Params]:  # type: ignore[override]
        """One row a program, no persistent grid, then ever smaller looped chunks."""
        return rp.safer(params, spec, target)

    def render(self, problem: Problem, spec: RowProgram, target: Target, params: Params) -> str:  # type: ignore[override]
        """The complete ``ModelNew`` module for one configuration."""
        return module_source(problem, spec, target, params, is_hip(target))
