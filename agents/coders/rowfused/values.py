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

from agents.coders.rowfused.ir import Arg, Domain, Kind, Shape


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

    @property
    def numel(self) -> int:
        """Elements of the logical shape."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class Leaf:
    """An operand read as the logical shape ``shape`` (a view of its contiguous storage)."""

    operand: int
    shape: tuple[int, ...]


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
            return [self.node]
        out: list[Leaf] = []
        for a in self.node.args:
            if isinstance(a, Pend):
                out.extend(a.leaves())
        return out

    def reshaped(self, shape: tuple[int, ...]) -> Pend | None:
        """The same value viewed as ``shape`` (``None`` when a leaf broadcasts inside it)."""
        numel = math.prod(self.shape)
        if isinstance(self.node, Leaf):
            return Pend(Leaf(self.node.operand, shape), shape, self.kind, self.follows)
        args: list[Pend | Arg] = []
        for a in self.node.args:
            if isinstance(a, Pend):
                if math.prod(a.shape) == 1:
                    args.append(a)
                    continue
                if math.prod(a.shape) != numel:
                    return None
                inner = a.reshaped(shape)
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
