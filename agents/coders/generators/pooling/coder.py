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
from typing import Any

from agents.coders.generators.attention.aten import output_node, trace_aten
from agents.coders.generators.pooling.recognize import PoolSpec, recognise_pool
from agents.coders.generators.pooling.space import TEMPLATE, pool_safer, pool_seeds, pool_space
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.chip import is_hip
from agents.coders.kit.generator import TemplateCoder
from agents.coders.kit.opspec import FAMILIES
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import render_template
from agents.coders.kit.space import Params, Space
from tools.errors import ProblemError
from tools.records import Language, Problem, Target

TEMPLATES = Path(__file__).parent / "templates"


def _recognise(problem: Problem) -> PoolSpec:
    if problem.op in FAMILIES or problem.op == "pointwise_chain":
        raise ProblemError(f"{problem.op} is a named op of the row and matmul templates.")
    trace = trace_aten(problem.source)
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


class PoolingCoder(TemplateCoder):
    """Writes Triton pooling kernels for pooling references; tunes their tiles."""

    language: Language = "triton"
    name = "triton-pooling"

    def analyze(self, problem: Problem) -> Any:
        """The problem's :class:`PoolSpec` (see :func:`analyze_pool`)."""
        return analyze_pool(problem)

    def target_ok(self, target: Target) -> bool:
        """A GPU target with a Triton compile target."""
        return target.triton_target is not None

    def spec_ok(self, spec: Any) -> bool:
        """Any recognised pooling (dtype limits are checked by the analysis)."""
        return isinstance(spec, PoolSpec)

    def space(self, spec: Any, target: Target) -> Space:
        """See :func:`pool_space`."""
        return pool_space(spec, target)

    def seed_params(self, spec: Any, target: Target) -> list[Params]:
        """See :func:`pool_seeds`."""
        return pool_seeds(spec, target)

    def safer(self, params: Params, spec: Any, target: Target) -> list[Params]:
        """See :func:`pool_safer`."""
        return pool_safer(params, spec, target)

    def render(self, problem: Problem, spec: Any, target: Target, params: Params) -> str:
        """The ``ModelNew`` module for one configuration."""
        hip = is_hip(target)
        launch = {k: params[k] for k in ("num_warps", "waves_per_eu") if k in params}
        what = _describe(spec)
        return render_template(
            TEMPLATES,
            "pool.py.j2",
            title=f"{what[0].upper()}{what[1:]} for {problem.name} ({spec.dtype})"
            f" on {target.display_name}.",
            template=TEMPLATE,
            params_text=", ".join(f"{k}={v}" for k, v in params.items()),
            hip=hip,
            num_cus=target.compute_units,
            target_name=target.name,
            launch=repr(launch),
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
