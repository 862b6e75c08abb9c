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

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
from torch._decomp import get_decompositions
from torch.fx.experimental.proxy_tensor import make_fx

from tools.errors import ProblemError
from tools.problems.materialize import build_model, call_get_inputs, exec_source, meta_device

logger = logging.getLogger(__name__)

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


def _attr_expr(path: str) -> str:
    """``self.a.b`` for a dotted attribute path, or ``self.get_parameter(...)`` when needed."""
    parts = path.split(".")
    if all(p.isidentifier() for p in parts):
        return "self." + path
    return f"self.get_parameter({path!r})"


def _forward_arg_names(model: torch.nn.Module, count: int) -> tuple[str, ...]:
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(names) < count or any(p.kind == p.VAR_POSITIONAL for p in params):
        raise ProblemError("Model.forward takes *args; the row-fused generator needs named inputs.")
    return tuple(names[:count])


def trace_aten(source: str) -> Traced:
    """Trace ``Model`` from a KernelBench source to ATen on the meta device (cached).

    Args:
        source: The reference source; it is executed (the reference is trusted input).

    Returns:
        The ATen graph with dead code removed, and what each placeholder is.

    Raises:
        ProblemError: The source does not build or run on the meta device, or its inputs are
            not all tensors.
    """
    key = hashlib.sha1(source.encode()).hexdigest()
    found = _CACHE.get(key)
    if found is None:
        try:
            found = _trace(source)
        except ProblemError as e:
            found = e
        _CACHE[key] = found
    if isinstance(found, ProblemError):
        raise ProblemError(str(found)) from found
    return found


_CACHE: dict[str, Traced | ProblemError] = {}


@contextlib.contextmanager
def _no_distribution_checks() -> Iterator[None]:
    """Skip ``torch.distributions`` argument checks (they call ``.item()``, impossible on meta)."""
    from torch.distributions import Distribution

    before = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(before)


def _trace(source: str) -> Traced:
    try:
        with meta_device(), _no_distribution_checks():
            namespace = exec_source(source, "<reference>")
            inputs = call_get_inputs(namespace)
            model = build_model(namespace)
    except (Exception, SystemExit) as e:
        raise ProblemError(
            f"The reference does not build on the meta device ({type(e).__name__}: {e})."
        ) from e
    if not all(isinstance(t, torch.Tensor) for t in inputs):
        raise ProblemError(
            "get_inputs() returns a non-tensor; the row-fused generator needs tensors."
        )
    forward_args = _forward_arg_names(model, len(inputs))
    state = dict(model.named_parameters()) | dict(model.named_buffers())
    names = list(state)

    def forward(*flat: torch.Tensor) -> Any:
        tensors = dict(zip(names, flat[: len(names)], strict=True))
        return torch.func.functional_call(model, tensors, tuple(flat[len(names) :]))

    table = get_decompositions(_DECOMPOSE)
    try:
        with torch.no_grad():
            gm = make_fx(forward, decomposition_table=table)(*state.values(), *inputs)
    except Exception as e:
        raise ProblemError(
            f"The reference could not be traced to ATen ({type(e).__name__}: {e})."
        ) from e
    gm.graph.eliminate_dead_code()
    placeholders = [
        Placeholder(_attr_expr(n), tuple(t.shape), t.dtype, False) for n, t in state.items()
    ]
    placeholders += [
        Placeholder(a, tuple(t.shape), t.dtype, True)
        for a, t in zip(forward_args, inputs, strict=True)
    ]
    logger.debug("traced %d ATen nodes", len(gm.graph.nodes))
    return Traced(graph=gm.graph, placeholders=tuple(placeholders), forward_args=forward_args)
