"""The offline GEMM generator: matrix products with fused elementwise epilogues (Triton).

Public API:

- :class:`GemmCoder` -- the ``TemplateGenerator`` behind template ``triton.gemm`` (variants
  ``tiled``, ``splitk``, ``gemv``; parameter ``rewrite`` picks a plan);
- :func:`analyze_gemm` -- trace a problem and match it into a :class:`GemmSpec`;
- :mod:`agents.coders.generators.gemm.rewrites` -- the algebraic rewrites (``fold_scale``,
  ``sum_to_gemv``, ``merge_linears``);
- :mod:`agents.coders.generators.gemm.normalize` -- ``F.normalize``-d factors (over K) folded as row /
  column scales of the accumulator, 0-dim parameter factors as scalar epilogue factors;
- :mod:`agents.coders.generators.gemm.shapes` -- reshapes and output shapes evaluated at call time.
"""

from agents.coders.generators.gemm.coder import GemmCoder
from agents.coders.generators.gemm.match import analyze_gemm
from agents.coders.generators.gemm.plan import GemmPlan, GemmSpec

__all__ = ["GemmCoder", "GemmPlan", "GemmSpec", "analyze_gemm"]
