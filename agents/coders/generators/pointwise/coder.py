"""The offline Triton coder: op-family templates plus parameter search (no LLM needed).

Families and their templates (``templates/triton/``):

- ``pointwise``: named gelu/silu/relu and any traced elementwise chain, fused into one kernel;
- ``softmax``: softmax/log_softmax, ``single`` tile or ``looped`` online max/sum;
- ``reduce``: sum/mean/max over the last dim, ``single`` or ``looped``;
- ``norm``: layer_norm/rms_norm, ``single`` or ``looped`` multi-pass;
- ``cumsum``: ``single`` ``tl.cumsum`` or ``looped`` with a carry;
- ``matmul``: matmul and linear+bias+relu, tiled ``tl.dot`` with grouped ordering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.coders.generators.pointwise.spaces import (
    matmul_safer,
    matmul_seeds,
    matmul_space,
    pointwise_safer,
    pointwise_seeds,
    pointwise_space,
    row_safer,
    row_seeds,
    row_space,
)
from agents.coders.kit.dtypes import FLOAT_DTYPES
from agents.coders.kit.forward import forward_source, kernel_call
from agents.coders.kit.generator import TemplateFunctions, TemplateGenerator
from agents.coders.kit.opspec import OpSpec, analyze
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import LAUNCH_KEYS, base_variables, render_template
from agents.coders.kit.space import Params, Space
from tools.records import Problem, Target

TEMPLATES = Path(__file__).parent / "templates"
"""This generator's templates (they extend the kit's ``triton/_base.py.j2``)."""


_TITLES = {
    "pointwise": "Fused pointwise kernel",
    "softmax": "Row-wise softmax kernel",
    "reduce": "Row reduction kernel",
    "norm": "Row normalisation kernel",
    "cumsum": "Row prefix-sum kernel",
    "matmul": "Tiled matrix-multiply kernel",
}


class TritonOfflineCoder(TemplateGenerator[OpSpec]):
    """Writes Triton ``ModelNew`` modules from templates; tunes their meta-parameters."""

    name = "triton-offline"
    functions = TemplateFunctions(recognise=analyze)
    dtypes = FLOAT_DTYPES
    """Every family has a template in each of these dtypes."""

    def space(self, spec: OpSpec, target: Target) -> Space:
        """The family's space (see ``triton_spaces``)."""
        if spec.family == "pointwise":
            return pointwise_space(spec, target)
        if spec.family == "matmul":
            return matmul_space(spec, target)
        return row_space(spec, target)

    def seed_params(self, spec: OpSpec, target: Target) -> list[Params]:
        """Two to four first configurations from the shape and the target."""
        if spec.family == "pointwise":
            return pointwise_seeds(spec, target)
        if spec.family == "matmul":
            return matmul_seeds(spec, target)
        return row_seeds(spec, target)

    def safer(self, params: Params, spec: OpSpec, target: Target) -> list[Params]:
        """Smaller tiles, looped variants, shallower pipelines."""
        if spec.family == "pointwise":
            return pointwise_safer(params, spec, target)
        if spec.family == "matmul":
            return matmul_safer(params, spec, target)
        return row_safer(params, spec, target)

    def render(self, problem: Problem, spec: OpSpec, target: Target, params: Params) -> str:
        """Render the family template for one configuration."""
        common: dict[str, Any] = {
            **base_variables(
                f"{_TITLES[spec.family]} for {problem.name} ({spec.op}, {spec.dtype})"
                f" on {target.display_name}.",
                f"triton.{spec.family}",
                params,
                target,
                LAUNCH_KEYS,
            ),
            "op": spec.op,
            **params,
        }
        wrapper, variables = kernel_call(spec, "triton")
        model = model_new_block(problem.source, forward_source(spec, wrapper))
        return render_template(
            TEMPLATES, f"triton/{spec.family}.py.j2", model_block=model, **common, **variables
        )
