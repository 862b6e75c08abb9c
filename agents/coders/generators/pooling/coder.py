"""The offline pooling generator: max/average pooling and global average pooling in Triton.

A reference computing ``F.max_pool1d/2d/3d``, ``F.avg_pool1d/2d/3d`` (3-D with a depth window
of 1; or their ``nn`` modules) or ``adaptive_avg_pool{1,2}d(x, 1)`` is recognised from its
ATen graph (see ``recognize``) and written as one Triton kernel (``templates/pool.py.j2``):
``pair`` (column stride 2, 2- or 3-wide windows: contiguous row loads split into even/odd
columns, strips of output rows carrying the shared input row), ``window`` (any window, one
program per output tile) or ``global`` (mean over the trailing dims).
"""

from __future__ import annotations

from pathlib import Path

from agents.coders.generators.pooling.recognize import PoolSpec, recognise_pool
from agents.coders.generators.pooling.space import TEMPLATE, pool_safer, pool_seeds, pool_space
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.fx import output_node
from agents.coders.kit.generator import TemplateFunctions, TemplateGenerator
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import base_variables, render_template
from agents.coders.kit.space import Params
from agents.coders.kit.trace import trace_tensor_inputs
from tools.records import Problem, Target

TEMPLATES = Path(__file__).parent / "templates"


def _recognise(problem: Problem) -> PoolSpec:
    trace = trace_tensor_inputs(problem.source)
    out = output_node(trace.gm)
    return recognise_pool(trace.gm, trace.placeholders, out, trace.forward_args)


analyze_pool = cached_recogniser(_recognise, "pooling")
"""Recognise pooling in a KernelBench problem (cached per problem content).

Raises ``ProblemError`` when the problem is a named op of the other templates, does not
trace, or is not pooling the template handles; the message says which.
"""


def forward_source(spec: PoolSpec) -> str:
    """``forward``: the input (unsqueezed as the reference does) through the kernel, then views."""
    x = spec.forward_args[spec.arg] + "".join(f".unsqueeze({d})" for d in spec.pre)
    call = f"_kv_pool({x})"
    if spec.groups is not None:
        call = f"_kv_regroup_view({call}, {spec.groups!r})"
    return f"def forward(self, {', '.join(spec.forward_args)}):\n    return {call}\n"


def _describe(spec: PoolSpec) -> str:
    if spec.kind == "global_avg":
        return f"global average pooling over the last {spec.reduce_dims} dim(s)"
    what = "max" if spec.kind == "max" else "average"
    k, s, p = spec.kernel, spec.stride, spec.padding
    if spec.dims == 1:
        text = f"{what} pooling 1-D, kernel {k[1]}, stride {s[1]}, padding {p[1]}"
        return text + (f", dilation {spec.dilation[1]}" if spec.dilation[1] != 1 else "")
    text = f"{what} pooling 2-D, kernel {k}, stride {s}, padding {p}"
    return text + (f", dilation {spec.dilation}" if spec.dilation != (1, 1) else "")


class PoolingCoder(TemplateGenerator[PoolSpec]):
    """Writes Triton pooling kernels for pooling references; tunes their tiles."""

    name = "triton-pooling"
    functions = TemplateFunctions(analyze_pool, pool_space, pool_seeds, pool_safer)

    def render(self, problem: Problem, spec: PoolSpec, target: Target, params: Params) -> str:
        """The ``ModelNew`` module for one configuration."""
        what = _describe(spec)
        return render_template(
            TEMPLATES,
            "pool.py.j2",
            **base_variables(
                f"{what[0].upper()}{what[1:]} for {problem.name} ({spec.dtype})"
                f" on {target.display_name}.",
                TEMPLATE,
                params,
                target,
                ("num_warps", "waves_per_eu"),
            ),
            doc=f"{what[0].upper()}{what[1:]} in one kernel launch.",
            is_max=spec.kind == "max",
            kernel=spec.kernel,
            stride=spec.stride,
            padding=spec.padding,
            dilation=spec.dilation,
            count_include_pad=spec.count_include_pad,
            divisor=spec.divisor,
            reduce_dims=spec.reduce_dims,
            keepdim=spec.keepdim,
            model_block=model_new_block(problem.source, forward_source(spec)),
            **params,
        )
