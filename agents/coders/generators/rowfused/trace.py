"""Tracing a KernelBench reference to an ATen graph on the meta device.

``Model(*get_init_inputs())`` and ``get_inputs()`` are built on ``meta`` (no storage), the
forward is run through ``torch.func.functional_call`` under ``make_fx`` with a chosen set of
decompositions: composite ops that hide reductions (softmax, log_softmax, layer/group/batch
norm, the losses, logsumexp, norm) become ``amax``/``sum``/``var_mean``/``gather`` and
elementwise ATen ops; the reductions the generator knows stay whole (``var_mean``,
``linalg_vector_norm``, ``argmax``...). Parameters and buffers become placeholders, so the
graph sees every tensor the forward reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.fx

from agents.coders.kit.cache import cached_refusals
from agents.coders.kit.trace import TraceOptions
from agents.coders.kit.trace import trace_aten as kit_trace
from tools.errors import ProblemError

aten = torch.ops.aten

_DECOMPOSE = [
    aten._softmax,
    aten._log_softmax,
    aten.native_layer_norm,
    aten.native_group_norm,
    aten.native_batch_norm,
    aten._native_batch_norm_legit,
    aten._native_batch_norm_legit_functional,
    aten._native_batch_norm_legit_no_training,
    aten.nll_loss_forward,
    aten.mse_loss,
    aten.l1_loss,
    aten.smooth_l1_loss,
    aten.huber_loss,
    aten.kl_div,
    aten.xlogy,
    aten.logsumexp,
    aten.norm,
    aten.std,
    aten.std_mean,
    aten.silu,
    aten.gelu,
    aten.mish,
    aten.hardswish,
    aten.hardsigmoid,
    aten.hardtanh,
    aten.softplus,
    aten.elu,
    aten.leaky_relu,
    aten.binary_cross_entropy,
    aten.soft_margin_loss,
    aten.addcmul,
    aten.addcdiv,
    aten.lerp,
]
"""Composite ATen ops rewritten into the ops the recogniser reads."""


@dataclass(frozen=True)
class Placeholder:
    """One graph input: a forward argument, a parameter or a buffer."""

    expr: str
    """Python expression inside ``ModelNew.forward`` that yields it (``x``, ``self.ln.weight``)."""
    shape: tuple[int, ...]
    dtype: torch.dtype
    is_input: bool
    """True for a forward argument, False for a parameter or buffer."""


@dataclass(frozen=True)
class Traced:
    """A reference traced to ATen: the graph, its placeholders in order, the forward args."""

    graph: torch.fx.Graph
    placeholders: tuple[Placeholder, ...]
    forward_args: tuple[str, ...]


ROW_TRACE = TraceOptions(state=True, no_grad=True, decompositions=tuple(_DECOMPOSE))
"""Parameters and buffers as placeholders, composite reductions decomposed, no autograd."""


def _traced(source: str) -> Traced:
    trace = kit_trace(source, ROW_TRACE)
    if not all(isinstance(t, torch.Tensor) for t in trace.inputs):
        raise ProblemError(
            "get_inputs() returns a non-tensor; the row-fused generator needs tensors."
        )
    placeholders = tuple(
        Placeholder(leaf.expr, leaf.shape, leaf.dtype, leaf.kind == "input")
        for leaf in trace.leaves.values()
    )
    return Traced(graph=trace.gm.graph, placeholders=placeholders, forward_args=trace.forward_args)


trace_aten = cached_refusals(_traced, "row-fused trace")
"""Trace ``Model`` from a KernelBench source to ATen on the meta device (cached).

Returns:
    The ATen graph with dead code removed, and what each placeholder is.

Raises:
    ProblemError: The source does not build or run on the meta device, or its inputs are
        not all tensors.
"""
