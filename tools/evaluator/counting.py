"""Count what a forward call does: ATen ops, the bytes each touches, and FLOPs.

``OpCounter`` is a ``TorchDispatchMode``: it sees every ATen op of an eager call. Each op
that does work counts as one kernel launch and moves the bytes of its tensor inputs and
outputs (each tensor at most its storage's size, so a broadcast bias is counted once).
FLOPs: matmul-class ops (mm, bmm, addmm, convolution, attention) exactly, from
``torch.utils.flop_counter``'s formulas; every other computing op as 1 FLOP per element of
its largest tensor (a deliberate undercount for transcendental-heavy ops such as softmax,
which are memory-bound anyway); copies and fills as 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tools.evaluator.factories import EMPTY_FACTORIES, FILL_FACTORIES

try:
    from torch.utils.flop_counter import flop_registry as _FLOP_REGISTRY
except ImportError:  # pragma: no cover - very old torch
    _FLOP_REGISTRY = {}

_aten = torch.ops.aten
logger = logging.getLogger(__name__)

FREE_OPS = {
    *EMPTY_FACTORIES,
    "new_empty",
    "new_empty_strided",
    "detach",
    "lift_fresh",
    "set_",
    "alias",
    "_local_scalar_dense",
    "resize_",
    "is_same_size",
    "sym_size",
    "sym_stride",
    "sym_numel",
    "sym_storage_offset",
    "record_stream",
}
"""Ops that allocate or describe tensors without a kernel touching their data."""

NO_FLOP_OPS = {
    "clone",
    "_to_copy",
    "copy_",
    "copy",
    "contiguous",
    "fill_",
    "fill",
    "zero_",
    *FILL_FACTORIES,
    "index_select",
    "cat",
    "stack",
    "gather",
    "scatter",
    "_unsafe_view",
    "new_zeros",
    "new_ones",
    "new_full",
}
"""Ops that move data but do no arithmetic."""


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes a kernel must touch for ``t``: its elements, at most its storage's size."""
    own = t.numel() * t.element_size()
    try:
        return min(own, t.untyped_storage().nbytes())
    except (RuntimeError, NotImplementedError):
        return own


def _flat_tensors(obj: Any, out: list[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            _flat_tensors(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _flat_tensors(o, out)
    return out


def unique_bytes(obj: Any) -> int:
    """Bytes of the distinct tensors in a nest, a storage shared by several counted once.

    Meta tensors have no storage address; they are told apart by the id of their base.
    """
    seen: dict[Any, int] = {}
    for t in _flat_tensors(obj, []):
        if t.device.type == "meta":
            key: Any = ("meta", id(t._base if t._base is not None else t))
        else:
            try:
                key = t.untyped_storage().data_ptr()
            except (RuntimeError, NotImplementedError):
                key = id(t)
        seen[key] = max(seen.get(key, 0), tensor_bytes(t))
    return sum(seen.values())


@dataclass(kw_only=True)
class OpRecord:
    """One ATen op that did work."""

    name: str
    bytes: int
    flops: int
    row: int = 0
    """Last dimension of the op's first tensor argument (row length of row-wise ops)."""


@dataclass(kw_only=True)
class OpTrace:
    """Every working ATen op of one forward call, in order."""

    ops: list[OpRecord] = field(default_factory=list)

    @property
    def launches(self) -> int:
        return len(self.ops)

    @property
    def bytes(self) -> int:
        return sum(o.bytes for o in self.ops)

    @property
    def flops(self) -> int:
        return sum(o.flops for o in self.ops)

    @property
    def matmul_flops(self) -> int:
        return sum(o.flops for o in self.ops if o.name in _MATMUL_NAMES)


_MATMUL_NAMES = {getattr(p, "__name__", str(p)).split(".")[-1] for p in _FLOP_REGISTRY}


def _op_name(func: Any) -> str:
    packet = getattr(func, "_overloadpacket", func)
    return getattr(packet, "__name__", str(packet)).split(".")[-1]


def _op_flops(func: Any, name: str, args: Any, kwargs: Any, out: Any) -> int:
    packet = getattr(func, "_overloadpacket", None)
    formula = _FLOP_REGISTRY.get(packet) if packet is not None else None
    if formula is not None:
        try:
            return int(formula(*args, **kwargs, out_val=out) * _causal_fraction(func, args, kwargs))
        except Exception as e:  # noqa: BLE001 - a formula that does not fit these args
            logger.debug("flop formula for %s failed: %s", name, e)
    if name in NO_FLOP_OPS:
        return 0
    if "scaled_dot_product" in name and len(args) >= 3:
        return _attention_flops(func, args, kwargs)
    sizes = [t.numel() for t in _flat_tensors((args, kwargs, out), [])]
    return max(sizes, default=0)


def _attention_flops(func: Any, args: Any, kwargs: Any) -> int:
    """FLOPs of an attention forward without a registered formula: two matmuls, causal-aware."""
    q, k, v = args[0], args[1], args[2]
    batch = q.numel() // (q.shape[-2] * q.shape[-1])
    pairs = batch * q.shape[-2] * k.shape[-2]
    full = 2 * pairs * q.shape[-1] + 2 * pairs * v.shape[-1]
    return int(full * _causal_fraction(func, args, kwargs))


def _causal_fraction(func: Any, args: Any, kwargs: Any) -> float:
    """The share of an attention's score FLOPs that a causal mask leaves (1.0 when not causal).

    torch's SDPA FLOP formulas count every query-key pair; with ``is_causal`` only the pairs
    on or below the diagonal (aligned to the top-left, as SDPA does) are work.
    """
    schema = getattr(func, "_schema", None)
    if schema is None or "scaled_dot_product" not in schema.name:
        return 1.0
    names = [a.name for a in schema.arguments]
    if "is_causal" not in names:
        return 1.0
    pos = names.index("is_causal")
    causal = kwargs.get("is_causal", args[pos] if pos < len(args) else False)
    if not causal:
        return 1.0
    s_q, s_k = int(args[0].shape[-2]), int(args[1].shape[-2])
    # query i sees keys 0..i (at most s_k of them): a triangle, then full rows past s_k
    tri = min(s_q, s_k)
    kept = tri * (tri + 1) // 2 + (s_q - tri) * s_k
    return kept / float(s_q * s_k)


class OpCounter(TorchDispatchMode):
    """Record the working ATen ops of the calls made inside ``with OpCounter() as c:``.

    ``paused`` (an int) stops recording while positive: the worker raises it around Triton
    interpreter launches, whose host-side copies are not the kernel's work.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trace = OpTrace()
        self.paused = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.paused:
            return out
        name = _op_name(func)
        if name in FREE_OPS or getattr(func, "is_view", False):
            return out
        moved = sum(tensor_bytes(t) for t in _flat_tensors((args, kwargs), []))
        moved += sum(tensor_bytes(t) for t in _flat_tensors(out, []))
        first = _flat_tensors((args, kwargs), [])
        row = int(first[0].shape[-1]) if first and first[0].dim() > 0 else 0
        self.trace.ops.append(
            OpRecord(
                name=name, bytes=moved, flops=_op_flops(func, name, args, kwargs, out), row=row
            )
        )
        return out


@dataclass(kw_only=True)
class ReferenceCounts:
    """What a problem's reference must do, counted from one traced forward call."""

    bytes_floor: int
    """Inputs read once, outputs written once, parameters and buffers read once: no
    formulation of the problem can move fewer bytes (to and from memory)."""
    flops: int
    """FLOPs of the reference's own formulation (``OpTrace.flops``)."""
    matmul_flops: int
    """The part of ``flops`` done by matmul-class ops (mm, bmm, convolution, attention)."""
    launches: int
    """ATen ops that did work (kernel launches of the eager reference)."""


def count_reference(model: torch.nn.Module, inputs: list[Any]) -> ReferenceCounts:
    """Count one forward call of ``model`` (meta tensors work: nothing is allocated).

    Args:
        model: The problem's ``Model``, on the same device as ``inputs``.
        inputs: What ``get_inputs()`` returned.

    Returns:
        The bytes floor, FLOPs and launches of the reference.
    """
    with torch.no_grad(), OpCounter() as counter:
        out = model(*inputs)
    tensors = _flat_tensors(inputs, []) + _flat_tensors(out, [])
    tensors += list(model.parameters()) + list(model.buffers())
    trace = counter.trace
    return ReferenceCounts(
        bytes_floor=unique_bytes(tensors),
        flops=trace.flops,
        matmul_flops=trace.matmul_flops,
        launches=trace.launches,
    )
