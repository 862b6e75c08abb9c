"""What a graph node is while the row program is built: a kernel value, pending, or whole.

- :class:`KV`: a value the kernel holds (a name or a literal) in a domain (``const``, ``row``,
  ``tile``) with the logical shape of the graph node;
- :class:`Pend`: an expression over small operands (weights, per-row targets) whose index
  is known only once it meets a row or tile value (then it is *materialised* into loads);
- :class:`Whole`: a scalar over the whole tensor, finished by the wrapper from row partials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agents.coders.generators.rowfused.ir import Arg, Domain, Kind, Shape


@dataclass(frozen=True)
class KV:
    """A kernel value: a name (or literal) with its domain, logical shape and register type."""

    var: Arg
    domain: Domain
    shape: tuple[int, ...]
    kind: Kind
    rshape: Shape
    follows: bool = False
    """True when its float dtype follows the operands' (False: fixed by a cast, or not float)."""
    per_outer: bool = False
    """A row value reduced over the inner rows: one value per outer index."""

    @property
    def numel(self) -> int:
        """Elements of the logical shape."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class Leaf:
    """An operand read as the logical shape ``shape`` (a view of its contiguous storage)."""

    operand: int
    """Index into the builder's operands; ``-1`` for an index sequence (``arange``)."""
    shape: tuple[int, ...]
    wrap: int = 0
    """Element ``j`` of the logical view reads storage ``j % wrap`` (a ``repeat``); 0: no wrap."""
    index: Pend | None = None
    """An embedding lookup: element ``(..., k)`` reads row ``index[...]`` of a 2-D operand."""

    @property
    def iota(self) -> bool:
        """True when the leaf is its own flat index (``arange``), not a load."""
        return self.operand < 0


@dataclass(frozen=True)
class PendOp:
    """An elementwise op over pending values and literals."""

    op: str
    args: tuple[Pend | Arg, ...]
    kind: Kind


@dataclass(frozen=True)
class Pend:
    """A pending value: a leaf or an op tree, with the logical shape of its graph node."""

    node: Leaf | PendOp
    shape: tuple[int, ...]
    kind: Kind
    follows: bool = False

    def leaves(self) -> list[Leaf]:
        """Every leaf under this value."""
        if isinstance(self.node, Leaf):
            return [self.node] + (self.node.index.leaves() if self.node.index else [])
        out: list[Leaf] = []
        for a in self.node.args:
            if isinstance(a, Pend):
                out.extend(a.leaves())
        return out

    def reshaped(self, shape: tuple[int, ...]) -> Pend | None:
        """The same value viewed as ``shape`` (``None`` when a leaf broadcasts inside it)."""
        numel = math.prod(self.shape)
        if isinstance(self.node, Leaf):
            index = self.node.index
            if index is not None:  # rows keep their length; the index takes the other dims
                if not shape or shape[-1] != self.shape[-1]:
                    return None
                index = index.reshaped(shape[:-1])
                if index is None:
                    return None
            leaf = Leaf(self.node.operand, shape, self.node.wrap, index)
            return Pend(leaf, shape, self.kind, self.follows)
        args: list[Pend | Arg] = []
        for a in self.node.args:
            if isinstance(a, Pend):
                if math.prod(a.shape) == 1:
                    args.append(a)
                    continue
                target = shape
                if math.prod(a.shape) != numel:
                    found = squeeze_map(a.shape, self.shape, shape)
                    if found is None:
                        return None
                    target = found
                inner = a.reshaped(target)
                if inner is None:
                    return None
                args.append(inner)
            else:
                args.append(a)
        return Pend(
            PendOp(self.node.op, tuple(args), self.node.kind), shape, self.kind, self.follows
        )


@dataclass(frozen=True)
class Whole:
    """A whole-tensor value: a Python expression over the combined partials ``_kv_w[k]``."""

    expr: str
    shape: tuple[int, ...]
    kind: Kind
    follows: bool = False


Value = KV | Pend | Whole


def squeeze_map(
    arg: tuple[int, ...], old: tuple[int, ...], new: tuple[int, ...]
) -> tuple[int, ...] | None:
    """The shape of a broadcast argument of an ``old``-shaped op when the op is viewed as ``new``.

    Only views that insert or drop size-1 dims are followed (``None`` otherwise): the
    argument's dims move with the op's non-trivial dims.
    """
    keep_old = [i for i, d in enumerate(old) if d != 1]
    keep_new = [i for i, d in enumerate(new) if d != 1]
    if [old[i] for i in keep_old] != [new[i] for i in keep_new] or len(arg) > len(old):
        return None
    padded = (1,) * (len(old) - len(arg)) + tuple(arg)
    if any(padded[i] != 1 for i in range(len(old)) if old[i] == 1):
        return None
    out = [1] * len(new)
    for i, j in zip(keep_old, keep_new, strict=True):
        out[j] = padded[i]
    return tuple(out)


def join_shapes(shapes: list[Shape]) -> Shape:
    """The register shape of an elementwise result."""
    found = set(shapes)
    if "tile" in found or {"row", "col"} <= found:
        return "tile"
    if "row" in found:
        return "row"
    if "col" in found:
        return "col"
    return "scalar"
