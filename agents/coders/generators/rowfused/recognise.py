"""From a problem to a :class:`RowProgram`: trace, find the row space, build, tidy up.

Tidying: exp-sums whose shift is the running maximum of the same tile are marked *online*
(a looped kernel computes max and sum in one pass, like the online softmax), dead steps are
dropped, and only the operands still read are kept.
"""

from __future__ import annotations

import logging

import torch.fx

from agents.coders.generators.rowfused.aten_ops import REFUSED
from agents.coders.generators.rowfused.build import Builder
from agents.coders.generators.rowfused.ir import (
    Compute,
    Load,
    Op,
    Output,
    Reduce,
    RowProgram,
    defined,
    used,
)
from agents.coders.generators.rowfused.nodes import lower_call
from agents.coders.generators.rowfused.reduce import find_geometry
from agents.coders.generators.rowfused.trace import Traced, trace_aten
from agents.coders.generators.rowfused.values import KV, Whole
from agents.coders.kit.cache import RefusalCache, problem_key
from agents.coders.kit.fx import packet_name, tensor_val
from tools.errors import ProblemError
from tools.records import Problem

logger = logging.getLogger(__name__)

_PROGRAMS: RefusalCache[tuple[str, int | None], RowProgram] = RefusalCache("row program")


def recognise(problem: Problem, whole_split: int | None = None) -> RowProgram:
    """The row program of a problem (cached per problem content).

    ``whole_split``: see ``reduce.find_geometry`` (graphs with whole-tensor reductions only).

    Raises:
        ProblemError: One sentence saying what cannot be fused.
    """

    def build() -> RowProgram:
        try:
            return build_program(trace_aten(problem.source), problem.dtype, whole_split)
        except ProblemError:
            raise
        except Exception as e:  # a graph this reader does not expect: decline, never crash
            logger.warning("row-fused generator failed on %s", problem.name, exc_info=True)
            raise ProblemError(
                f"The row-fused generator could not read this graph ({type(e).__name__}: {e})."
            ) from e

    return _PROGRAMS.get((problem_key(problem), whole_split), build)


def build_program(
    traced: Traced, dtype: str = "float32", whole_split: int | None = None
) -> RowProgram:
    """Build the row program of a traced graph (``whole_split``: see ``find_geometry``).

    Raises:
        ProblemError: The graph is not one fusable row program; the message says why.
    """
    _refuse(traced.graph)
    geo = find_geometry(traced.graph, whole_split)
    b = Builder(traced, geo)
    index = 0
    outputs: tuple[Output, ...] = ()
    tuple_output = False
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            b.placeholder(node, index)
            index += 1
        elif node.op == "call_function":
            b.env[node.name] = lower_call(b, node)
        elif node.op == "output":
            outputs, tuple_output = _outputs(b, node)
        else:
            raise ProblemError(f"Graph node {node.name} ({node.op}) cannot be fused.")
    ops = _prune(_mark_online(b.ops), outputs, b)
    if not any(isinstance(op, Reduce) for op in ops):
        raise ProblemError(
            "The graph has no reduction; pure pointwise graphs belong to the pointwise generator."
        )
    kept = sorted({op.operand for op in ops if isinstance(op, Load) and op.operand >= 0})
    remap = {old: new for new, old in enumerate(kept)} | {-1: -1}
    operands = tuple(
        type(b.operands[old])(f"p{new}", *_operand_fields(b, old)) for new, old in enumerate(kept)
    )
    ops = [
        Load(op.var, remap[op.operand], op.terms, op.domain, op.kind, op.shape, op.index, op.width)
        if isinstance(op, Load)
        else op
        for op in ops
    ]
    summary = " -> ".join(_dedup(b.summary))
    return RowProgram(
        outer=geo.outer,
        n_len=geo.n_len,
        inner=geo.inner,
        operands=operands,
        ops=tuple(ops),
        outputs=outputs,
        partials=tuple(b.partials),
        forward_args=traced.forward_args,
        tuple_output=tuple_output,
        summary=summary,
        dtype=dtype,
        whole_shape=geo.whole,
    )


def _refuse(graph: torch.fx.Graph) -> None:
    """Name the first op that no row program computes (a matmul, a convolution, a scan)."""
    for node in graph.nodes:
        name = packet_name(node) if node.op == "call_function" else ""
        if name.rstrip("_") in REFUSED:
            raise ProblemError(
                f"The graph has {REFUSED[name.rstrip('_')]} (aten.{name}), which one row-fused"
                " kernel cannot compute."
            )


def _operand_fields(b: Builder, index: int) -> tuple:
    o = b.operands[index]
    return (o.expr, o.shape, o.dtype, o.is_input)


def _dedup(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out


def _outputs(b: Builder, node: torch.fx.Node) -> tuple[tuple[Output, ...], bool]:
    result = node.args[0]
    is_tuple = isinstance(result, (tuple, list))
    items = list(result) if is_tuple else [result]  # type: ignore[arg-type]
    outputs = []
    for item in items:
        if not isinstance(item, torch.fx.Node) or tensor_val(item) is None:
            raise ProblemError(
                "The reference returns something other than tensors; cannot fuse it."
            )
        m = tensor_val(item)
        assert m is not None
        dtype = str(m.dtype).removeprefix("torch.")
        shape = tuple(int(s) for s in m.shape)
        value = b.env[item.name]
        follows = isinstance(value, (KV, Whole)) and value.follows
        fixed = None if m.dtype.is_floating_point and follows else dtype
        if isinstance(value, Whole):
            outputs.append(Output("whole", shape, expr=value.expr, dtype=fixed))
        elif isinstance(value, KV) and isinstance(value.var, str) and value.domain != "const":
            kind = "full" if value.domain == "tile" else ("outer" if value.per_outer else "row")
            outputs.append(Output(kind, shape, var=value.var, dtype=fixed))  # type: ignore[arg-type]
        else:
            raise ProblemError(
                f"Output {item.name} does not depend on the rows; nothing to compute."
            )
    return tuple(outputs), is_tuple


def _producers(ops: list[Op]) -> dict[str, Op]:
    return {name: op for op in ops for name in defined(op)}


def _derives_only_from(var: str, root: str, producers: dict[str, Op]) -> bool:
    """True when ``var`` is ``root`` or computed from ``root`` and literals alone."""
    if var == root:
        return True
    op = producers.get(var)
    if not isinstance(op, Compute):
        return False
    names = [a for a in op.args if isinstance(a, str)]
    return bool(names) and all(_derives_only_from(n, root, producers) for n in names)


def _mark_online(ops: list[Op]) -> list[Op]:
    """Mark ``sum(exp(v - shift(max(v))))`` as an online exp-sum (one looped pass)."""
    producers = _producers(ops)
    partnered: set[str] = set()
    out: list[Op] = []
    for op in ops:
        if isinstance(op, Reduce) and op.kind == "sum" and op.online is None:
            found = _online_parts(op, producers)
            if found is not None and found[1] not in partnered:
                partnered.add(found[1])
                op = Reduce(op.outs, op.kind, op.arg, op.kinds, op.index, found)
        out.append(op)
    return out


def _online_parts(op: Reduce, producers: dict[str, Op]) -> tuple[str, str, str] | None:
    exp = producers.get(op.arg)
    if not (isinstance(exp, Compute) and exp.op == "exp" and isinstance(exp.args[0], str)):
        return None
    sub = producers.get(exp.args[0])
    if not (
        isinstance(sub, Compute) and sub.op == "sub" and all(isinstance(a, str) for a in sub.args)
    ):
        return None
    value, shift = str(sub.args[0]), str(sub.args[1])
    shift_op = producers.get(shift)
    if not (
        isinstance(shift_op, Reduce) or (isinstance(shift_op, Compute) and shift_op.domain == "row")
    ):
        return None
    for cand in producers.values():
        if isinstance(cand, Reduce) and cand.kind == "max" and cand.arg == value:
            maximum = cand.outs[0]
            if _derives_only_from(shift, maximum, producers):
                return value, maximum, shift
    return None


def _prune(ops: list[Op], outputs: tuple[Output, ...], b: Builder) -> list[Op]:
    needed = {o.var for o in outputs if o.var} | {p.var for p in b.partials}
    kept: list[Op] = []
    for op in reversed(ops):
        if not any(name in needed for name in defined(op)):
            continue
        kept.append(op)
        needed.update(used(op))
        if isinstance(op, Reduce) and op.online is not None:
            needed.update(op.online)
    return list(reversed(kept))
