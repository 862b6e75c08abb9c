"""Recognising a scan in an arbitrary KernelBench reference and planning its kernel.

The reference is traced to ATen (:mod:`agents.coders.generators.scans.aten`); the graph must contain
exactly one ``cumsum``/``cumprod`` whose input (the prologue) and whose users up to the
output (the epilogue) are elementwise ops, flips, slices, pads and cats along the scan dim
(see :mod:`agents.coders.generators.scans.scan_lower`). The epilogue is first evaluated symbolically
to find where it reads the scan: at the output index itself (an inclusive scan), mirrored
(a reverse scan: loads and stores run backwards), or one step behind (an exclusive scan:
the scan of the input shifted by one). Anything else raises ``ProblemError`` naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.fx

from agents.coders.generators.scans.aten import strip_trailing, trace_scan
from agents.coders.generators.scans.pointwise import Emitter, Val, as_float
from agents.coders.generators.scans.scan_lower import IDENT, Affine, Operand, ScanLowering
from agents.coders.generators.scans.span import TORCH_DTYPES, SpanSpec
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.fx import arg, is_call, static_shape, val
from agents.coders.kit.trace import AtenTrace
from tools.errors import ProblemError
from tools.records import Problem

aten = torch.ops.aten
SCAN_OPS = {aten.cumsum.default: "cumsum", aten.cumprod.default: "cumprod"}
_IDENTITY = {"cumsum": "0.0", "cumprod": "1.0"}
_TL_SCAN = {"cumsum": "tl.cumsum", "cumprod": "tl.cumprod"}
_COMBINE = {"cumsum": "+", "cumprod": "*"}


@dataclass(frozen=True)
class ScanOperand:
    """A tensor the scan kernel reads."""

    name: str
    expr: str
    """Expression inside ``ModelNew.forward`` (a forward arg or ``self.<param>``, with views)."""
    full: bool
    """True when it has the scan's full shape (then it fixes the runtime shape)."""


@dataclass(frozen=True, kw_only=True)
class ScanSpec(SpanSpec):
    """A recognised scan (``op``: ``cumsum`` or ``cumprod``), ready to render."""

    dim: int
    layout: str
    """``rows`` (scan along the contiguous last dim) or ``cols`` (a strided dim)."""
    operands: tuple[ScanOperand, ...]
    body: tuple[str, ...]
    """Kernel lines per tile: prologue, the scan into ``scan_y``, epilogue."""
    result: str
    """The fp32 value stored."""
    store_index: str
    """Where it is stored along the scan dim (``jj``, or ``(-jj + (n_l - 1))`` reversed)."""
    static_len: int
    """The scan length the kernel was planned for; 0 when any length works."""
    reverse_lanes: bool = False
    """Lanes run against the scan order (``jj = start + BLOCK_L - 1 - lane``) for reversed output."""
    carry_of: str = "scan_y"
    """The tile holding the inclusive prefix (the next chunk's carry): ``scan_c`` when an
    exclusive sum is computed as the inclusive one minus the input."""
    family: str = "scan"

    @property
    def span(self) -> tuple[int, int]:
        """The scan dim alone."""
        return self.dim, self.dim


def _find_scan(trace: AtenTrace) -> torch.fx.Node:
    scans = [n for n in trace.gm.graph.nodes if n.op == "call_function" and n.target in SCAN_OPS]
    if not scans:
        raise ProblemError("The reference computes no cumsum or cumprod.")
    if len(scans) > 1:
        raise ProblemError("The reference computes several scans; one kernel fuses only one.")
    return scans[0]


def recognise(problem: Problem) -> ScanSpec:
    """Read a problem into a :class:`ScanSpec`.

    Raises:
        ProblemError: The reference is not one scan with fusable surroundings; the message
            names what is not supported.
    """
    trace = trace_scan(problem.source)
    scan = _find_scan(trace)
    if trace.symbolic:
        raise ProblemError("The scan's shapes are data-dependent; the kernel needs static ones.")
    op = SCAN_OPS[scan.target]
    shape = static_shape(scan)
    if not shape:
        raise ProblemError("The scan input has no static shape (a 0-d scan is a copy).")
    dim = int(arg(scan, 1, "dim")) % len(shape)
    out_val = val(scan)
    if not out_val.dtype.is_floating_point or out_val.dtype == torch.float64:
        raise ProblemError(
            f"The scan produces {out_val.dtype}; only fp32/fp16/bf16 scans are fused."
        )
    result_node, trailing = strip_trailing(trace)
    result_shape = static_shape(result_node)
    if result_shape != shape:
        raise ProblemError(
            f"The output before views has shape {list(result_shape or ())}, not the scan's"
            f" {list(shape)}; only same-shape epilogues are fused."
        )
    layout = "rows" if math.prod(shape[dim + 1 :]) == 1 and dim == len(shape) - 1 else "cols"
    axis = 1 if layout == "rows" else 0

    # Dry run: where does the epilogue read the scan, as a map of the output index?
    requests: list[Affine] = []

    def record(idx: Affine) -> Val:
        requests.append(idx)
        return Val("scan_y")

    dry = ScanLowering(trace, dim, shape, record, scan_node=scan)
    dry.value(result_node, IDENT)
    if len(set(requests)) != 1:
        raise ProblemError("The epilogue reads the scan at several offsets; only one is fused.")
    request = requests[0]
    if request.a == 1 and request.f == 0:
        out_idx, shift = IDENT, request.c
    elif request.a == -1 and request.f == 1:
        out_idx, shift = Affine(-1, 0, 1), request.c
    else:
        raise ProblemError("The epilogue reads the scan at a position the kernel cannot map.")
    if shift > 0:
        raise ProblemError("The epilogue reads the scan ahead of the output; not a prefix scan.")

    low = ScanLowering(trace, dim, shape, lambda idx: Val(""), scan_node=scan)
    ident = _IDENTITY[op]
    # A reversed output walks each chunk with lanes against the scan order, so that memory
    # (jr) ascends with the lane and loads/stores stay contiguous; the scan then runs reversed.
    reverse = out_idx != IDENT
    flag = ", reverse=True" if reverse else ""

    # A sum read one step behind is the inclusive sum minus the input at the same index:
    # the loads stay aligned with the stores (16-byte vectors) instead of one element off.
    minus = op == "cumsum" and shift == -1 and not reverse

    def emit_scan(idx: Affine) -> Val:
        if idx != Affine(1, shift, 0):
            raise ProblemError("The epilogue reads the scan at inconsistent positions.")
        if minus:
            p = low.value(scan.args[0], IDENT)
            low.em.lines.append(f"scan_p = tl.where(omask & jmask, {as_float(p)}, 0.0)")
            low.em.lines.append(f"scan_c = tl.cumsum(scan_p, axis={axis}) + carry")
            low.em.lines.append("scan_y = scan_c - scan_p")
            return Val("scan_y")
        p = low.value(scan.args[0], idx)
        valid = "omask & jmask" + (f" & (jj - {-shift} >= 0)" if shift else "")
        low.em.lines.append(f"scan_p = tl.where({valid}, {as_float(p)}, {ident})")
        scan_fn = f"{_TL_SCAN[op]}(scan_p, axis={axis}{flag})"
        low.em.lines.append(f"scan_y = {scan_fn} {_COMBINE[op]} carry")
        return Val("scan_y")

    low.on_scan = emit_scan
    low.em = Emitter()
    result = low.value(result_node, out_idx)
    if result.kind == "b":
        raise ProblemError("The reference returns a boolean tensor; only float outputs are fused.")
    if not low.operands:
        raise ProblemError("The scan reads no input tensor; nothing to compute.")
    operands = tuple(_operand(o, shape) for o in low.operands.values())
    summary = f"{op} over dim {dim} of {list(shape)}"
    if out_idx != IDENT:
        summary += ", stored in reverse"
    if shift:
        summary += f", read {-shift} step(s) behind (exclusive)"
    if low.ops:
        summary += f", with {', '.join(dict.fromkeys(low.ops))}"
    return ScanSpec(
        op=op,
        dtype=problem.dtype,
        shape=shape,
        dim=dim,
        layout=layout,
        forward_args=trace.forward_args,
        operands=operands,
        body=tuple(low.em.lines),
        result=as_float(result),
        store_index=out_idx.code(),
        reverse_lanes=reverse,
        carry_of="scan_c" if minus else "scan_y",
        static_len=shape[dim] if low.structural else 0,
        out_dtype=_out_dtype(trace, low.operands.values(), val(result_node).dtype),
        trailing=trailing,
        summary=summary,
    )


def _operand(o: Operand, shape: tuple[int, ...]) -> ScanOperand:
    full = tuple(o.shape) == tuple(shape)
    return ScanOperand(name=o.name, expr=o.expr, full=full)


def _out_dtype(trace: AtenTrace, operands: object, traced: torch.dtype) -> str:
    """The output dtype when the reference fixes it (a cast), else '' (the inputs' promotion)."""
    casts = any(
        is_call(n, aten._to_copy.default) or (n.target in SCAN_OPS and "dtype" in n.kwargs)
        for n in trace.gm.graph.nodes
    )
    floats = [o.dtype for o in operands if o.dtype.is_floating_point]  # type: ignore[attr-defined]
    if casts or not floats:
        return TORCH_DTYPES.get(traced, "torch.float32")
    return ""


analyze_scan = cached_recogniser(recognise, "scan")
"""``recognise``, cached per problem content (raises ``ProblemError`` as it does)."""
