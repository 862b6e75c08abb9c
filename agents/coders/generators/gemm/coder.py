"""The offline GEMM generator: one matrix product with its epilogue fused, as one Triton kernel.

``GemmCoder`` plugs into :class:`~agents.coders.kit.generator.TemplateCoder` (memory modes become
parameter moves over ``triton.gemm``) and into the Triton ``LanguageCoder`` next to the
op-family templates. It claims any problem whose reference traces (``make_fx`` on the meta
device) to one product plus an elementwise epilogue, or to a pattern a rewrite turns into
one (see :mod:`agents.coders.generators.gemm.match` and :mod:`agents.coders.generators.gemm.rewrites`).
"""

from __future__ import annotations

from typing import Any

from agents.coders.generators.gemm.emit import render_gemm
from agents.coders.generators.gemm.match import analyze_gemm
from agents.coders.generators.gemm.plan import GemmSpec
from agents.coders.generators.gemm.space import gemm_safer, gemm_seeds, gemm_space
from agents.coders.kit.generator import TemplateCoder
from agents.coders.kit.space import Params, Space
from tools.records import Language, Problem, Target

SUPPORTED_DTYPES = frozenset({"float32", "float16", "bfloat16"})


class GemmCoder(TemplateCoder):
    """Writes ``triton.gemm`` kernels: tiled, split-K or matrix-vector, epilogue fused."""

    language: Language = "triton"
    name = "triton-gemm"

    def analyze(self, problem: Problem) -> GemmSpec:
        """Trace the reference and match a product plus epilogue (cached per problem).

        Raises:
            ProblemError: The reference is not a product with a fusable epilogue; the message
                says what is not handled.
        """
        return analyze_gemm(problem)

    def target_ok(self, target: Target) -> bool:
        """Triton kernels need a GPU target with a Triton compile target."""
        return target.triton_target is not None

    def spec_ok(self, spec: Any) -> bool:
        """fp32, fp16 and bf16 problems with at least one plan."""
        return isinstance(spec, GemmSpec) and spec.dtype in SUPPORTED_DTYPES and bool(spec.plans)

    def space(self, spec: Any, target: Target) -> Space:
        """``triton.gemm``: ``tiled``, ``splitk`` and ``gemv`` variants, each with ``rewrite``."""
        return gemm_space(spec, target)

    def seed_params(self, spec: Any, target: Target) -> list[Params]:
        """What an expert writes first for this shape and chip (2-4 configurations)."""
        return gemm_seeds(spec, target)

    def safer(self, params: Params, spec: Any, target: Target) -> list[Params]:
        """Smaller tiles and shallower pipelines, then the plainest configuration."""
        return gemm_safer(params, spec, target)

    def render(self, problem: Problem, spec: Any, target: Target, params: Params) -> str:
        """The complete ``ModelNew`` module for one configuration."""
        return render_gemm(problem, spec, target, params)
