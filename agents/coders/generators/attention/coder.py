"""The offline attention generator: a flash-attention forward kernel for KernelBench files.

A reference computing ``F.scaled_dot_product_attention(q, k, v[, attn_mask, is_causal,
scale])`` or the explicit ``softmax(q @ k.transpose(-2, -1) * scale [masks]) @ v`` is
recognised from its ATen graph (see ``recognize``) and written as one Triton kernel that
never stores the score matrix (``templates/attention.py.j2``). k/v heads repeated to the
query heads (grouped-query attention) are read in place (head ``h // group``); a mask
passed as an input (boolean or additive, broadcast over heads/queries) is read per key
block, and key blocks past a key-padding mask's last visible key are skipped.
"""

from __future__ import annotations

import math
from pathlib import Path

from agents.coders.generators.attention.recognize import recognise
from agents.coders.generators.attention.space import (
    TEMPLATE,
    attention_safer,
    attention_seeds,
    attention_space,
)
from agents.coders.generators.attention.spec import AttentionSpec, spec_from
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.fx import output_node
from agents.coders.kit.generator import TemplateFunctions, TemplateGenerator
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import LAUNCH_KEYS, base_variables, render_template
from agents.coders.kit.space import Params
from agents.coders.kit.trace import trace_tensor_inputs
from tools.records import Problem, Target

TEMPLATES = Path(__file__).parent / "templates"
MASK_CODES = {"keep": 1, "drop": 2, "add": 3}
"""The kernel's ``MASK`` constexpr per mask-input kind."""


def _analyze(problem: Problem) -> AttentionSpec:
    trace = trace_tensor_inputs(problem.source)
    out = output_node(trace.gm)
    result, offset = recognise(trace.gm, trace.placeholders, out)
    return spec_from(result, offset, trace.placeholders, out, trace.forward_args)


analyze_attention = cached_recogniser(_analyze, "attention")
"""Recognise attention in a KernelBench problem (cached per problem content).

Raises ``ProblemError`` when the problem is a named op of the other templates, does not
trace, or is not attention the template handles; the message says which.
"""


def _scale_expr(spec: AttentionSpec) -> str:
    """SDPA's default ``1/sqrt(D)`` follows the runtime head dim; any other scale is a literal."""
    if math.isclose(spec.scale, spec.head_dim**-0.5, rel_tol=1e-6):
        return "head_dim ** -0.5"
    return repr(spec.scale)


def forward_source(spec: AttentionSpec) -> str:
    """``forward`` handing q, k, v (by their names in the reference) to the kernel wrapper."""
    q, k, v = (spec.forward_args[i] for i in spec.args)
    mask = f", {spec.forward_args[spec.mask_arg]}" if spec.mask_arg is not None else ""
    return (
        f"def forward(self, {', '.join(spec.forward_args)}):\n"
        f"    return _kv_attention({q}, {k}, {v}{mask})\n"
    )


class AttentionCoder(TemplateGenerator[AttentionSpec]):
    """Writes flash-attention Triton kernels for attention references; tunes their tiles."""

    name = "triton-attention"
    functions = TemplateFunctions(
        analyze_attention, attention_space, attention_seeds, attention_safer
    )

    def render(self, problem: Problem, spec: AttentionSpec, target: Target, params: Params) -> str:
        """The ``ModelNew`` module for one configuration."""
        mask = f"causal (key j <= query i + {spec.causal_offset})" if spec.causal else "no mask"
        if spec.mask_kind:
            mask += f", {spec.mask_kind} mask input"
        if spec.group > 1:
            mask += f", {spec.group} query heads per k/v head"
        doc = (
            f"softmax(q @ k^T * scale{' + causal mask' if spec.causal else ''}) @ v in one"
            " kernel; the score matrix is never stored."
        )
        return render_template(
            TEMPLATES,
            "attention.py.j2",
            **base_variables(
                f"Flash attention for {problem.name} ({spec.form}, {mask}, {spec.dtype},"
                f" head dim {spec.head_dim}) on {target.display_name}.",
                TEMPLATE,
                params,
                target,
                LAUNCH_KEYS,
            ),
            doc=doc,
            out_dtype="q.dtype" if spec.out_dtype == spec.dtype else f"torch.{spec.out_dtype}",
            scale_expr=_scale_expr(spec),
            causal=spec.causal,
            causal_offset=spec.causal_offset,
            mask_code=MASK_CODES.get(spec.mask_kind, 0),
            mask_scale=repr(float(spec.mask_scale)),
            guard=spec.form == "sdpa" and bool(spec.mask_kind),
            model_block=model_new_block(problem.source, forward_source(spec)),
            **params,
        )
