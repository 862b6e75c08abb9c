"""Tracing a KernelBench reference to an ATen graph on the meta device: the one tracer.

``Model(*get_init_inputs())`` and ``get_inputs()`` are built under
``tools.problems.materialize.meta_device`` (no storage is allocated, whatever device the
source names) and the forward is traced with ``make_fx``. Every node carries
``meta["val"]``, so shapes and dtypes are known (see :mod:`agents.coders.kit.fx`).

What a generator chooses (:class:`TraceOptions`):

- ``state``: parameters and buffers become placeholders (through
  ``torch.func.functional_call``), each named back to the expression ``ModelNew.forward``
  reads it by (``self.linear.weight``); otherwise they are constants of the graph;
- ``decompositions``: ``"core"`` (the core ATen table) or the ATen packets to decompose;
- ``functionalize``: in-place ops removed (``torch.func.functionalize``);
- ``no_grad``: traced under ``torch.no_grad()``;
- ``symbolic_retry``: a data-dependent op (``repeat_interleave`` without ``output_size``)
  cannot run on meta tensors; such graphs are traced again with symbolic shapes;
- ``symbolic``: always trace with symbolic shapes, one symbol per input dimension (no
  merging of equal sizes), for kernels that take every size as an argument; inputs whose
  ``get_inputs()`` cannot run on meta (sizes drawn from data) are built small on CPU.

Tensor inputs become placeholders in order; other inputs (ints, floats) are constants.
Traces are cached per source and options; a failure is cached as its ``ProblemError``.
"""

from __future__ import annotations

import contextlib
import inspect
import keyword
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import torch
from torch import fx

from agents.coders.kit.cache import cached_refusals
from agents.coders.kit.fx import first_line, output_node
from agents.coders.kit.reference import forward_arg_names
from tools.errors import ProblemError
from tools.problems.materialize import build_model, call_get_inputs, exec_source, meta_device

logger = logging.getLogger(__name__)

LeafKind = Literal["input", "param", "buffer"]


@dataclass(frozen=True)
class TraceOptions:
    """How to trace (see the module docstring); hashable, part of the cache key."""

    state: bool = False
    decompositions: Literal["core"] | tuple[Any, ...] = ()
    functionalize: bool = False
    no_grad: bool = False
    symbolic_retry: bool = False
    symbolic: bool = False


@dataclass(frozen=True)
class Leaf:
    """A graph input: a forward argument, or a parameter/buffer of the model."""

    expr: str
    """Python expression inside ``ModelNew.forward`` (``x``, ``self.emb.weight``)."""
    kind: LeafKind
    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass(frozen=True)
class AtenTrace:
    """A reference traced to ATen: the graph and what its placeholders stand for."""

    gm: fx.GraphModule
    forward_args: tuple[str, ...]
    """Positional argument names of ``Model.forward``, one per ``get_inputs()`` value."""
    placeholders: tuple[fx.Node, ...]
    leaves: dict[str, Leaf]
    """Placeholder node name -> the leaf it stands for (state first, then tensor inputs)."""
    inputs: tuple[Any, ...]
    """``get_inputs()`` values: meta tensors, or the constants passed as they are."""
    symbolic: bool
    """True when shapes had to be traced symbolically (a data-dependent op)."""
    training: bool
    """Whether any submodule of the reference is in training mode."""

    def output(self) -> fx.Node:
        """The single tensor the graph returns (see :func:`agents.coders.kit.fx.output_node`)."""
        return output_node(self.gm)

    @property
    def state_count(self) -> int:
        """How many placeholders are parameters or buffers (they come first)."""
        return sum(leaf.kind != "input" for leaf in self.leaves.values())


def state_expr(name: str, kind: LeafKind) -> str:
    """``self.a.b`` for an attribute path, or ``self.get_parameter('0.w')`` where it cannot be."""
    parts = name.split(".")
    if all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        return "self." + name
    getter = "get_buffer" if kind == "buffer" else "get_parameter"
    return f"self.{getter}({name!r})"


@cache
def _table(decompositions: Literal["core"] | tuple[Any, ...]) -> dict[Any, Any]:
    if decompositions == "core":
        from torch._decomp import core_aten_decompositions

        return dict(core_aten_decompositions())
    from torch._decomp import get_decompositions

    return get_decompositions([op for op in decompositions if hasattr(op, "overloads")])


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


def _forward_names(model: torch.nn.Module, count: int) -> tuple[str, ...]:
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(names) < count or any(p.kind == p.VAR_POSITIONAL for p in params):
        raise ProblemError("Model.forward takes *args; name its inputs.")
    return tuple(names[:count])


def _make_fx(
    fn: Any, flat: list[torch.Tensor], options: TraceOptions
) -> tuple[fx.GraphModule, bool]:
    from torch.fx.experimental.proxy_tensor import make_fx

    if options.functionalize:
        fn = torch.func.functionalize(fn, remove="mutations")
    table = _table(options.decompositions)
    grad = torch.no_grad() if options.no_grad else contextlib.nullcontext()
    if options.symbolic:
        import torch.fx.experimental._config as fx_config

        try:
            with fx_config.patch(use_duck_shape=False), meta_device(), grad:
                return make_fx(fn, decomposition_table=table, tracing_mode="symbolic")(*flat), True
        except Exception as e:
            raise ProblemError(f"The reference does not trace to ATen ({first_line(e)}).") from e
    try:
        with meta_device(), grad:
            return make_fx(fn, decomposition_table=table, tracing_mode="real")(*flat), False
    except (Exception, SystemExit) as e:
        if not options.symbolic_retry:
            raise ProblemError(f"The reference does not trace to ATen ({first_line(e)}).") from e
        first = e
    logger.debug("meta trace failed (%s); retrying with symbolic shapes", first)
    try:
        with meta_device(), grad:
            return make_fx(fn, decomposition_table=table, tracing_mode="symbolic")(*flat), True
    except Exception as e:
        raise ProblemError(f"The reference does not trace to ATen ({first_line(first)}).") from e


def _built_on_cpu(source: str, meta_error: BaseException) -> tuple[torch.nn.Module, tuple[Any, ...]]:
    """The model on meta and ``get_inputs()`` built on CPU (sizes drawn from data), as meta."""
    from tools.problems.loader import read_inputs

    try:
        namespace, inputs = read_inputs(source, "<reference>")
        with meta_device(), _no_distribution_checks():
            model = build_model(namespace)
    except (Exception, SystemExit) as e:
        raise ProblemError(
            f"The reference does not run on the meta device ({first_line(meta_error)})."
        ) from e
    return model, tuple(x.to("meta") if isinstance(x, torch.Tensor) else x for x in inputs)


def _trace(key: tuple[str, TraceOptions]) -> AtenTrace:
    source, options = key
    try:
        with meta_device(), _no_distribution_checks():
            namespace = exec_source(source, "<reference>")
            model = build_model(namespace)
            inputs = tuple(call_get_inputs(namespace))
    except (Exception, SystemExit) as e:
        if not options.symbolic:
            raise ProblemError(
                f"The reference does not run on the meta device ({first_line(e)})."
            ) from e
        model, inputs = _built_on_cpu(source, e)
    names = _forward_names(model, len(inputs))
    state: dict[str, torch.Tensor] = {}
    kinds: dict[str, LeafKind] = {}
    if options.state:
        for name, t in model.named_parameters():
            state[name], kinds[name] = t, "param"
        for name, t in model.named_buffers():
            state.setdefault(name, t)
            kinds.setdefault(name, "buffer")
    state_names = list(state)
    tensor_pos = [i for i, x in enumerate(inputs) if isinstance(x, torch.Tensor)]

    def run(*flat: torch.Tensor) -> Any:
        args = list(inputs)
        for pos, t in zip(tensor_pos, flat[len(state_names) :], strict=True):
            args[pos] = t
        if not options.state:
            return model(*args)
        tensors = dict(zip(state_names, flat[: len(state_names)], strict=True))
        return torch.func.functional_call(model, tensors, tuple(args))

    flat = [*state.values(), *(inputs[i] for i in tensor_pos)]
    gm, symbolic = _make_fx(run, flat, options)
    gm.graph.eliminate_dead_code()
    placeholders = tuple(n for n in gm.graph.nodes if n.op == "placeholder")
    if len(placeholders) != len(flat):
        raise ProblemError("The traced graph's inputs do not match the model's tensors.")
    leaves: dict[str, Leaf] = {}
    for i, node in enumerate(placeholders):
        t = flat[i]
        if i < len(state_names):
            name = state_names[i]
            leaf = Leaf(state_expr(name, kinds[name]), kinds[name], tuple(t.shape), t.dtype)
        else:
            expr = names[tensor_pos[i - len(state_names)]]
            leaf = Leaf(expr, "input", tuple(t.shape), t.dtype)
        leaves[node.name] = leaf
    logger.debug("traced %d ATen nodes", len(gm.graph.nodes))
    training = any(m.training for m in model.modules())
    return AtenTrace(gm, names, placeholders, leaves, inputs, symbolic, training)


_cached_trace = cached_refusals(_trace, "ATen trace")


def trace_aten(source: str, options: TraceOptions = TraceOptions()) -> AtenTrace:
    """Trace ``Model`` of a KernelBench source to ATen on the meta device (cached).

    Args:
        source: The reference source; it is executed on the meta device (it is the user's
            own trusted code, as in ``tools.problems``).
        options: What to decompose and how (see :class:`TraceOptions`).

    Returns:
        The traced graph with its leaves. The graph is shared by every caller with the same
        source and options: read it, never change it.

    Raises:
        ProblemError: The source does not run or trace on the meta device; the message says
            why.
    """
    return _cached_trace((source, options))


CORE = TraceOptions(decompositions="core")
"""The core ATen decompositions, parameters as graph constants (attention, pooling)."""


def trace_tensor_inputs(source: str, options: TraceOptions = CORE) -> AtenTrace:
    """:func:`trace_aten` for generators that need one tensor per named forward argument.

    Raises:
        ProblemError: ``forward`` takes ``*args``, ``**kwargs`` or keyword-only arguments,
            ``get_inputs()`` returns a non-tensor or a different count, or the trace fails.
    """
    names = forward_arg_names(source)
    if names is None:
        raise ProblemError(
            "Model.forward takes *args, **kwargs or keyword-only arguments; name its inputs."
        )
    trace = trace_aten(source, options)
    if len(trace.inputs) != len(names) or not all(
        isinstance(t, torch.Tensor) for t in trace.inputs
    ):
        raise ProblemError(
            "get_inputs() must return one tensor per argument of Model.forward"
            f" ({len(names)}) for these generators."
        )
    return trace
