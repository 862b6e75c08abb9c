"""Pointwise graphs with slices and concatenations, fused into one kernel (index remaps).

A slice of an input is a view: reading ``x[..., a:b]`` at position ``p`` reads ``x`` at
``p + a``. A concatenation of pointwise pieces is a select: ``cat([f(..), g(..)], dim)`` at
coordinate ``c`` along ``dim`` is ``f`` evaluated at ``c`` where ``c < split`` and ``g``
evaluated at ``c - split`` elsewhere. So a forward made of views (``getitem`` with slices,
ints, ``None``, ``...``; ``narrow``, ``unsqueeze``, ``transpose``...) of its inputs and
buffers, concatenations of pointwise functions of them, pointwise ops and the shape
arithmetic the slice bounds need, is one pointwise kernel in which every operand is a
strided load: its address is a dot product of the output coordinates with the operand's
own strides (0 along broadcast dims), shifted back by its piece's offset along the cat dim.

The views and the shape arithmetic stay Python in ``forward`` (they run no kernel: a view
is a new stride/offset over the same memory), so sizes and bounds are read at call time.
Graphs that need none of this are left to the plain pointwise coder.
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass

import torch
import torch.fx
from torch.fx.passes.shape_prop import TensorMetadata

from agents.coders.generators.pointwise.head import head_body_source, trace_module
from agents.coders.kit.chain import BOOLEAN_OPS, Chain, Operand
from agents.coders.kit.chain_trace import (
    ChainBuilder,
    canonical_call,
    lower_node,
    trace_chain,
)
from tools.errors import ProblemError

logger = logging.getLogger(__name__)

VIEW_METHODS = frozenset(
    {"narrow", "unsqueeze", "squeeze", "transpose", "permute", "expand", "view", "t", "select"}
)
"""Tensor methods that only re-stride their input (no kernel, no copy)."""
_CAT_FUNCTIONS = frozenset(f for f in (torch.cat, getattr(torch, "concat", None),
                                       getattr(torch, "concatenate", None)) if f is not None)  # fmt: skip
_SHAPE_FUNCTIONS = frozenset(
    {
        getattr,
        len,
        operator.getitem,
        operator.floordiv,
        operator.add,
        operator.sub,
        operator.mul,
        operator.neg,
        operator.mod,
    }
)
_SHAPE_METHODS = frozenset({"size", "dim"})
MULTI_VIEW_METHODS = frozenset({"chunk", "split", "unbind", "tensor_split"})
"""Tensor methods returning a tuple of views (``x1, x2 = x.chunk(2, -1)``)."""
_MULTI_VIEW_FUNCTIONS = frozenset({torch.chunk, torch.split, torch.unbind, torch.tensor_split})


@dataclass(frozen=True)
class Leaf:
    """One strided load: a view tensor read in one context (the main graph or a cat piece)."""

    operand: str
    """Kernel-side name (``in0``...)."""
    tensor: int
    """Index of the view among the wrapper's arguments."""
    cat: int = -1
    """Index of the concatenation whose piece reads it; -1 outside any piece."""
    piece: int = -1
    boolean: bool = False
    """A ``torch.bool`` tensor (loaded as a predicate)."""


@dataclass(frozen=True)
class Cat:
    """A concatenation of pointwise pieces."""

    var: str
    """The step value holding the concatenation."""
    dim: int
    """Concatenated dim, negative (counted from the last dim of the cat's own rank)."""
    pieces: tuple[str, ...]
    """The value of each piece (a step value or an operand)."""


@dataclass(frozen=True)
class RemapGraph:
    """A forward fused as strided loads, piece selects and pointwise steps."""

    chain: Chain
    """Steps over the leaves (``cat`` steps are selects of the ``cats``)."""
    leaves: tuple[Leaf, ...]
    cats: tuple[Cat, ...]
    prelude: str
    """``forward`` statements computing the views; they end by assigning ``_kv_h``."""
    n_tensors: int
    ndim: int
    """Rank of the output."""
    out_shape: tuple[int, ...]
    dtype: str
    has_view: bool


def _tensor(node: torch.fx.Node) -> bool:
    return isinstance(node.meta.get("tensor_meta"), TensorMetadata)


def _is_multi_view(node: torch.fx.Node) -> bool:
    """A split of a tensor into a tuple of views (``chunk``, ``split``, ``unbind``)."""
    if node.op == "call_method":
        hit = str(node.target) in MULTI_VIEW_METHODS
    else:
        hit = node.op == "call_function" and node.target in _MULTI_VIEW_FUNCTIONS
    base = node.args[0] if node.args else None
    return hit and isinstance(base, torch.fx.Node) and _tensor(base)


def _is_view(node: torch.fx.Node) -> bool:
    """A re-striding of a tensor: ``getitem`` with basic indices or a view method."""
    if not _tensor(node) or not node.args:
        return False
    base = node.args[0]
    if (
        node.op == "call_function"
        and node.target is operator.getitem
        and isinstance(base, torch.fx.Node)
        and _is_multi_view(base)
    ):
        return isinstance(node.args[1], int)
    if not isinstance(base, torch.fx.Node) or not _tensor(base):
        return False
    if node.op == "call_function" and node.target is operator.getitem:
        index = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
        for item in index:
            parts = (item.start, item.stop, item.step) if isinstance(item, slice) else (item,)
            for part in parts:
                if isinstance(part, torch.fx.Node) and _tensor(part):
                    return False  # a tensor index is a gather
                if isinstance(part, (list, tuple)):
                    return False
        return True
    return node.op == "call_method" and str(node.target) in VIEW_METHODS


def _is_shape(node: torch.fx.Node) -> bool:
    """Python arithmetic on sizes (``x.shape[-1] // 2``): no tensor out, no tensor work."""
    if _tensor(node):
        return False
    if node.op == "call_function":
        if node.target is getattr:
            return node.args[1] in ("shape", "ndim")
        return node.target in _SHAPE_FUNCTIONS
    return node.op == "call_method" and str(node.target) in _SHAPE_METHODS


def _is_cat(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and node.target in _CAT_FUNCTIONS


def _cat_args(node: torch.fx.Node) -> tuple[list[torch.fx.Node], int]:
    pieces = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if not isinstance(pieces, (list, tuple)) or not all(
        isinstance(p, torch.fx.Node) and _tensor(p) for p in pieces
    ):
        raise ProblemError("torch.cat is fused only over a list of tensors.")
    if not isinstance(dim, int):
        raise ProblemError("torch.cat is fused only along a constant dim.")
    rank = len(node.meta["tensor_meta"].shape)
    if not -rank <= dim < rank:
        raise ProblemError(f"torch.cat dim {dim} is out of range.")
    return list(pieces), dim - rank if dim >= 0 else dim


def _region(root: torch.fx.Node, loads: set[torch.fx.Node]) -> set[torch.fx.Node]:
    """Pointwise nodes a cat piece computes (ancestors of ``root`` up to the loads)."""
    found: set[torch.fx.Node] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node in found or node in loads or node.op in ("placeholder", "get_attr"):
            continue
        found.add(node)
        stack.extend(a for a in node.all_input_nodes if _tensor(a))
    return found


def classify(gm: torch.fx.GraphModule) -> tuple[set[torch.fx.Node], set[torch.fx.Node]]:
    """The graph's views and shape nodes; raises when a node is none of the fusable kinds."""
    views: set[torch.fx.Node] = set()
    shapes: set[torch.fx.Node] = set()

    def memory_only(node: torch.fx.Node) -> bool:
        """Its tensor inputs are inputs, buffers or views of them (it runs no tensor op)."""
        return all(
            a.op in ("placeholder", "get_attr") or a in views or a in shapes
            for a in node.all_input_nodes
        )

    for node in gm.graph.nodes:
        if node.op in ("placeholder", "get_attr", "output"):
            continue
        kind = None
        if _is_multi_view(node) or _is_view(node):
            kind = views
        elif _is_shape(node):
            kind = shapes
        if kind is not None:
            if not memory_only(node):
                raise ProblemError(
                    f"{node.name} views or measures a computed tensor; only inputs and buffers"
                    " are read through views."
                )
            kind.add(node)
        elif _is_cat(node) or (node.op == "call_function" and node.target is torch.full_like):
            continue
        else:
            canonical_call(node, gm)  # raises with the op that cannot be fused
            if not _tensor(node):
                raise ProblemError(f"Node {node.name} does not yield a tensor.")
    return views, shapes


def remap_graph(gm: torch.fx.GraphModule) -> RemapGraph:
    """Build the fused program of a traced, shape-propagated forward.

    Raises:
        ProblemError: A node is not a view, a cat, shape arithmetic or a pointwise op; a cat
            piece is used outside its cat or holds another cat; the output is not a float.
    """
    nodes = list(gm.graph.nodes)
    result = next(n for n in nodes if n.op == "output").args[0]
    if not isinstance(result, torch.fx.Node) or not _tensor(result):
        raise ProblemError("The reference does not return a single tensor.")
    if any(str(n.target).startswith("*") for n in nodes if n.op == "placeholder"):
        raise ProblemError("forward takes *args; cannot fuse it.")
    views, shapes = classify(gm)
    out_shape = tuple(int(s) for s in result.meta["tensor_meta"].shape)
    if not out_shape:
        raise ProblemError("The output is a 0-d tensor; nothing to tile.")
    # tensors the kernel reads: views, inputs and buffers read by compute nodes
    loads = {
        a for n in nodes if n.op in ("call_function", "call_method", "call_module")
        and n not in views and n not in shapes and n.target is not torch.full_like
        for a in n.all_input_nodes
        if _tensor(a) and (a in views or a.op in ("placeholder", "get_attr"))
    }  # fmt: skip
    if result in views or result.op in ("placeholder", "get_attr"):
        raise ProblemError("The output is a view of an input; nothing to compute.")
    cats = [n for n in nodes if _is_cat(n)]
    piece_of: dict[torch.fx.Node, tuple[int, int]] = {}
    for c, cat in enumerate(cats):
        pieces, _ = _cat_args(cat)
        for j, piece in enumerate(pieces):
            for node in _region(piece, loads):
                if _is_cat(node) or node in piece_of:
                    raise ProblemError("A cat piece holds another cat or is shared; not fused.")
                piece_of[node] = (c, j)
    for node, (c, j) in piece_of.items():
        for user in node.users:
            if user is not cats[c] and piece_of.get(user) != (c, j):
                raise ProblemError(f"{node.name} is used outside its cat piece; not fused.")
    tensors = sorted(loads, key=nodes.index)
    b = ChainBuilder(out_shape)
    leaves: list[Leaf] = []

    def bind(context: tuple[int, int], members: list[torch.fx.Node]) -> None:
        needed = {a for n in members if n.target is not torch.full_like
                  for a in n.all_input_nodes if a in loads}  # fmt: skip
        if context != (-1, -1):
            pieces, _ = _cat_args(cats[context[0]])
            if pieces[context[1]] in loads:
                needed.add(pieces[context[1]])
        for node in sorted(needed, key=nodes.index):
            name = f"in{len(b.operands)}"
            boolean = node.meta["tensor_meta"].dtype == torch.bool
            if not boolean and not node.meta["tensor_meta"].dtype.is_floating_point:
                raise ProblemError(f"{node.name} is neither a float nor a bool tensor.")
            b.operands.append(Operand(name=name, expr=node.name, kind="full"))
            leaves.append(Leaf(name, tensors.index(node), *context, boolean=boolean))
            b.names[node.name] = name

    def lower(node: torch.fx.Node) -> None:
        if node.op == "call_function" and node.target is torch.full_like:
            value = node.args[1] if len(node.args) > 1 else node.kwargs.get("fill_value")
            if (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not node.meta["tensor_meta"].dtype.is_floating_point
            ):
                raise ProblemError("full_like is fused only as a float constant.")
            b.names[node.name] = float(value)  # type: ignore[assignment]
            return
        b.names[node.name] = lower_node(b, node, gm)

    compute = [n for n in nodes if n.op in ("call_function", "call_method", "call_module")
               and n not in views and n not in shapes]  # fmt: skip
    cat_info: list[Cat] = []
    for c, cat in enumerate(cats):
        pieces, dim = _cat_args(cat)
        values = []
        for j, piece in enumerate(pieces):
            members = [n for n in compute if piece_of.get(n) == (c, j)]
            bind((c, j), members)
            for node in members:
                lower(node)
            value = b.names.get(piece.name)
            if not isinstance(value, str):
                raise ProblemError("A cat piece is a constant; not fused.")
            values.append(value)
        cat_info.append(Cat(var=f"v{len(b.steps)}", dim=dim, pieces=tuple(values)))
        b.names[cat.name] = b.emit("cat", *values)
    main = [n for n in compute if n not in piece_of and not _is_cat(n)]
    bind((-1, -1), main)
    for node in main:
        lower(node)
    out = b.names.get(result.name)
    if not isinstance(out, str) or any(s.var == out and s.op in BOOLEAN_OPS for s in b.steps):
        raise ProblemError("The forward does not yield a float tensor.")
    if out in {o.name for o in b.operands}:
        out = b.emit("identity", out)
    dtype = result.meta["tensor_meta"].dtype
    if not dtype.is_floating_point:
        raise ProblemError("The forward does not yield a float tensor.")
    chain = Chain(
        operands=tuple(b.operands),
        steps=tuple(b.steps),
        result=out,
        forward_args=tuple(str(n.target) for n in nodes if n.op == "placeholder"),
        summary=" -> ".join(b.ops),
    )
    return RemapGraph(
        chain=chain,
        leaves=tuple(leaves),
        cats=tuple(cat_info),
        prelude=head_body_source(gm, tensors),
        n_tensors=len(tensors),
        ndim=len(out_shape),
        out_shape=out_shape,
        dtype=str(dtype).removeprefix("torch."),
        has_view=bool(views),
    )


def analyze_remap(source: str) -> RemapGraph:
    """Fuse a reference whose forward needs views, cats or bool/constant operands.

    Raises:
        ProblemError: The plain pointwise coder already fuses it, or it is not fusable here.
    """
    try:
        trace_chain(source)
    except ProblemError:
        pass
    else:
        raise ProblemError("The whole forward is pointwise; the pointwise coder fuses it.")
    return remap_graph(trace_module(source))
