"""Tracing a KernelBench reference to an ATen graph on the meta device (shared by generators).

``Model(*get_init_inputs())`` and ``get_inputs()`` are built under
``tools.problems.materialize.meta_device`` (no storage is allocated, whatever device the
source names), then traced with ``make_fx`` and the core ATen decompositions, so
``F.scaled_dot_product_attention``, ``q @ k.transpose(-2, -1)`` or ``nn.MaxPool1d`` all
become a small set of ATen ops (``bmm``, ``_softmax``, ``max_pool2d_with_indices``...).
Every node carries ``meta["val"]`` (a meta tensor), so shapes and dtypes are known.
Traces are cached per problem source; a failure is cached as its ``ProblemError``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import fx

from agents.coders.kit.reference import forward_arg_names
from tools.errors import ProblemError
from tools.problems.materialize import build_model, call_get_inputs, exec_source, meta_device

logger = logging.getLogger(__name__)

aten = torch.ops.aten

VIEW_OPS = frozenset(
    {
        aten.view.default,
        aten._unsafe_view.default,
        aten.reshape.default,
        aten.expand.default,
        aten.clone.default,
        aten.alias.default,
        aten.squeeze.dim,
        aten.squeeze.dims,
        aten.squeeze.default,
        aten.unsqueeze.default,
        aten.flatten.using_ints,
    }
)
"""Ops that only reshape (or copy) their first argument."""


@dataclass(frozen=True)
class AtenTrace:
    """A reference traced to ATen: the graph and what its placeholders are."""

    gm: fx.GraphModule
    forward_args: tuple[str, ...]
    """Names of ``Model.forward``'s positional arguments, in order (one per placeholder)."""
    placeholders: tuple[fx.Node, ...]


def shape_of(node: Any) -> tuple[int, ...] | None:
    """The static shape of a traced node's value, or ``None`` when it is not one tensor."""
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    if not isinstance(val, torch.Tensor):
        return None
    try:
        return tuple(int(s) for s in val.shape)
    except (TypeError, ValueError):  # symbolic sizes
        return None


def dtype_of(node: Any) -> torch.dtype | None:
    """The dtype of a traced node's value, or ``None`` when it is not one tensor."""
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    return val.dtype if isinstance(val, torch.Tensor) else None


def op_name(node: fx.Node) -> str:
    """A short name of a node's target for messages (``aten.bmm``, ``getitem``)."""
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target.overloadpacket.__name__}"
    return getattr(target, "__name__", str(target))


@lru_cache(maxsize=1)
def _decompositions() -> dict[Any, Any]:
    """The core ATen decomposition table (built once: it takes most of a second)."""
    from torch._decomp import core_aten_decompositions

    return dict(core_aten_decompositions())


def _trace(source: str) -> AtenTrace:
    names = forward_arg_names(source)
    if names is None:
        raise ProblemError(
            "Model.forward takes *args, **kwargs or keyword-only arguments; name its inputs."
        )
    try:
        from torch.fx.experimental.proxy_tensor import make_fx

        with meta_device():
            namespace = exec_source(source, "<reference>")
            model = build_model(namespace)
            inputs = call_get_inputs(namespace)
            if len(inputs) != len(names) or not all(isinstance(t, torch.Tensor) for t in inputs):
                raise ProblemError(
                    "get_inputs() must return one tensor per argument of Model.forward"
                    f" ({len(names)}) for these generators."
                )
            gm = make_fx(model, decomposition_table=_decompositions())(*inputs)
    except ProblemError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ProblemError(
            f"The reference could not be traced to ATen on the meta device"
            f" ({type(e).__name__}: {first[:200]})."
        ) from e
    gm.graph.eliminate_dead_code()
    placeholders = tuple(n for n in gm.graph.nodes if n.op == "placeholder")
    if len(placeholders) != len(names):
        raise ProblemError("The traced graph's inputs do not match Model.forward's arguments.")
    return AtenTrace(gm=gm, forward_args=tuple(names), placeholders=placeholders)


_CACHE: dict[str, AtenTrace | ProblemError] = {}


def trace_aten(source: str) -> AtenTrace:
    """Trace ``Model`` of a KernelBench source to a core-ATen graph (cached per source).

    Args:
        source: The reference source; it is executed on the meta device (it is the user's
            own trusted code, as in ``tools.problems``).

    Returns:
        The traced graph with its placeholders and forward argument names.

    Raises:
        ProblemError: The source does not run or trace on the meta device.
    """
    key = hashlib.sha1(source.encode()).hexdigest()
    if key not in _CACHE:
        try:
            _CACHE[key] = _trace(source)
        except ProblemError as e:
            logger.debug("ATen trace failed: %s", e)
            _CACHE[key] = e
    found = _CACHE[key]
    if isinstance(found, ProblemError):
        raise ProblemError(str(found)) from found
    return found


def output_node(gm: fx.GraphModule) -> fx.Node:
    """The single tensor the graph returns.

    Raises:
        ProblemError: The graph returns several values or no tensor.
    """
    out = next(n for n in gm.graph.nodes if n.op == "output")
    value = out.args[0]
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ProblemError("The reference returns several outputs; these generators need one.")
        value = value[0]
    if not isinstance(value, fx.Node) or shape_of(value) is None:
        raise ProblemError("The reference does not return a single tensor.")
    return value
