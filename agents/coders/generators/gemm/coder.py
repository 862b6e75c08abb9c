"""The offline GEMM generator: one matrix product with its epilogue fused, as one Triton kernel.

``GemmCoder`` plugs into :class:`~agents.coders.kit.generator.TemplateGenerator` (memory
modes become parameter moves over ``triton.gemm``) and into the Triton ``LanguageCoder`` next to the
op-family templates. It claims any problem whose reference traces (``make_fx`` on the meta
device) to one product plus an elementwise epilogue, or to a pattern a rewrite turns into
one (see :mod:`agents.coders.generators.gemm.match` and
:mod:`agents.coders.generators.gemm.rewrites`).
"""

from __future__ import annotations

from agents.coders.generators.gemm.emit import render_gemm
from agents.coders.generators.gemm.match import analyze_gemm
from agents.coders.generators.gemm.plan import GemmSpec
from agents.coders.generators.gemm.space import gemm_safer, gemm_seeds, gemm_space
from agents.coders.kit.dtypes import FLOAT_DTYPES
from agents.coders.kit.generator import TemplateFunctions, TemplateGenerator
from agents.coders.kit.space import Params
from tools.records import Problem, Target


class GemmCoder(TemplateGenerator[GemmSpec]):
    """Writes ``triton.gemm`` kernels: tiled, split-K or matrix-vector, epilogue fused."""

    name = "triton-gemm"
    functions = TemplateFunctions(analyze_gemm, gemm_space, gemm_seeds, gemm_safer)
    dtypes = FLOAT_DTYPES

    def spec_ok(self, spec: GemmSpec) -> bool:
        """fp32, fp16 and bf16 problems with at least one plan."""
        return isinstance(spec, GemmSpec) and super().spec_ok(spec) and bool(spec.plans)

    def declared_flops(self, spec: GemmSpec, params: Params) -> int | None:
        """The product's FLOPs under a rewrite (``sum_to_gemv``: 2MK, not 2MNK); else ``None``."""
        rewrite = params.get("rewrite", "none")
        if not isinstance(spec, GemmSpec) or rewrite == "none" or rewrite not in spec.plans:
            return None
        return spec.plans[rewrite].flops

    def render(self, problem: Problem, spec: GemmSpec, target: Target, params: Params) -> str:
        """The complete ``ModelNew`` module for one configuration."""
        return render_gemm(problem, spec, target, params)
