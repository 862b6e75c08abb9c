"""The row program: a small IR of one fused row kernel (loads, elementwise steps, reductions).

Every tensor of the traced graph lives in one *row space*: the flat elements of the largest
tensor, seen as ``(outer, n, inner)`` with the reduced axis ``n`` in the middle (``inner`` is 1
for reductions along the last dim). A kernel *row* is one ``(outer, inner)`` pair, ``r = o *
inner + i``; its ``n`` elements are reduced together. Values have a domain:

- ``tile``: one value per element (a ``[BLOCK_M, BLOCK_N]`` tile, or ``[1, BLOCK_N]`` for an
  operand that depends on the column only);
- ``row``: one value per row (``[BLOCK_M, 1]``), e.g. a reduction's result;
- ``const``: one value for everything (a scalar operand, a literal).

Operands are read at an offset made of :class:`Term` s of the row index ``r``, the column
``n`` or the flat index ``f = (o * n_len + n) * inner + i``. Outputs are full tensors, one
value per row, or one value for the whole tensor: rows then write partials (sum, max, min or
product of their elements) and the wrapper combines them and finishes the scalar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from agents.coders.kit.dtypes import DtypeSized

Domain = Literal["const", "row", "tile"]
Kind = Literal["f", "i", "b"]
"""Register type: ``f`` float (fp32 math), ``i`` integer (int64), ``b`` boolean."""
Shape = Literal["scalar", "row", "col", "tile"]
"""Register shape: scalar, ``[BLOCK_M, 1]``, ``[1, BLOCK_N]`` or ``[BLOCK_M, BLOCK_N]``."""
Arg = str | float | int | bool
"""An op argument: a value name, or a literal."""


def kind_of(dtype: torch.dtype) -> Kind:
    """Register type of a torch dtype."""
    if dtype == torch.bool:
        return "b"
    return "f" if dtype.is_floating_point else "i"


@dataclass(frozen=True)
class Term:
    """One part of an offset: ``((src // div) % mod) * mul`` (``mod`` 0: no modulo)."""

    src: Literal["r", "n", "f"]
    div: int = 1
    mod: int = 0
    mul: int = 1


@dataclass(frozen=True)
class Operand:
    """A tensor the kernel reads: a forward input, a parameter or a buffer."""

    name: str
    """Kernel pointer name (``p0``...)."""
    expr: str
    """Python expression in ``forward`` that yields it (``x``, ``self.ln.weight``)."""
    shape: tuple[int, ...]
    dtype: str
    """torch dtype name at trace time (``float32``, ``int64``, ``bool``)."""
    is_input: bool = True


@dataclass(frozen=True)
class Load:
    """``var = operand[offset]``."""

    var: str
    operand: int
    """Index into ``RowProgram.operands``; ``-1``: no load, the offset itself (``arange``)."""
    terms: tuple[Term, ...]
    domain: Domain
    kind: Kind
    shape: Shape
    index: str | None = None
    """A gathered row: the integer value ``index`` picks the row (offset ``index * width``)."""
    width: int = 0
    """Row length of a gathered load (elements between consecutive ``index`` values)."""


@dataclass(frozen=True)
class Compute:
    """``var = op(*args)``, elementwise (see ``emit.FORMULAS``)."""

    var: str
    op: str
    args: tuple[Arg, ...]
    domain: Domain
    kind: Kind
    shape: Shape


@dataclass(frozen=True)
class Reduce:
    """A reduction along the row; its results are row values.

    ``welford`` yields ``(mean, m2)``; ``gather`` sums the element whose column equals the
    row value ``index``; ``online`` marks a ``sum`` of ``exp(value - shift)`` where ``shift``
    derives from ``maximum`` (a ``max`` of ``value``): a looped kernel then computes both in one
    pass with a running rescale.
    """

    outs: tuple[str, ...]
    kind: str
    arg: str
    kinds: tuple[Kind, ...] = ("f",)
    index: str | None = None
    online: tuple[str, str, str] | None = None
    """``(value, maximum, shift)`` for an online exp-sum, else ``None``."""


Op = Load | Compute | Reduce


@dataclass(frozen=True)
class Partial:
    """A row value written per row and combined over rows by the wrapper."""

    var: str
    combine: Literal["sum", "max", "min", "prod"]


@dataclass(frozen=True)
class Output:
    """One tensor the forward returns."""

    kind: Literal["full", "row", "whole", "outer"]
    """``outer``: one value per outer index (a reduction over the inner rows), at ``o``."""
    shape: tuple[int, ...]
    var: str = ""
    """The kernel value stored (``full``/``row``)."""
    expr: str = ""
    """``whole``: a Python expression over ``_kv_w[k]`` (combined partials), in fp32."""
    dtype: str | None = None
    """A fixed torch dtype name, or ``None`` for the promoted float dtype of the operands."""


class RowSpace:
    """``outer * inner`` rows of ``n_len`` elements, ``inner`` apart (see the module docstring)."""

    outer: int
    n_len: int
    inner: int

    @property
    def rows(self) -> int:
        """M: kernel rows (``outer * inner``)."""
        return self.outer * self.inner

    @property
    def total(self) -> int:
        """Elements of the row space."""
        return self.outer * self.n_len * self.inner


@dataclass(frozen=True)
class RowProgram(RowSpace, DtypeSized):
    """One fused row kernel, as recognised from a reference (the generator's spec)."""

    outer: int
    n_len: int
    inner: int
    operands: tuple[Operand, ...]
    ops: tuple[Op, ...]
    outputs: tuple[Output, ...]
    partials: tuple[Partial, ...]
    forward_args: tuple[str, ...]
    tuple_output: bool
    summary: str
    dtype: str = "float32"
    """The problem's float dtype (what the evaluator feeds)."""
    whole_shape: tuple[int, ...] = ()
    """Shape of the whole-reduced tensor whose split makes the rows (no row reduction)."""

    op = "rowfused"
    """Op name for messages shared with the other generators."""

    def tile_loads(self) -> int:
        """Distinct operands read with a per-element offset (register pressure, traffic)."""
        return len(
            {
                op.operand
                for op in self.ops
                if isinstance(op, Load) and op.shape == "tile" and op.operand >= 0
            }
        )

    def reduces_inner(self) -> bool:
        """True when a reduction runs over the inner rows of a tile (``inner_*`` kinds)."""
        return any(r.kind.startswith("inner_") for r in self.reductions())

    def reductions(self) -> list[Reduce]:
        """The reductions, in program order."""
        return [op for op in self.ops if isinstance(op, Reduce)]


def defined(op: Op) -> tuple[str, ...]:
    """Names an op defines."""
    return op.outs if isinstance(op, Reduce) else (op.var,)


def used(op: Op) -> tuple[str, ...]:
    """Value names an op reads."""
    if isinstance(op, Load):
        return (op.index,) if op.index else ()
    if isinstance(op, Compute):
        return tuple(a for a in op.args if isinstance(a, str))
    names = [op.arg] + ([op.index] if op.index else [])
    return tuple(names)


def levels(program: RowProgram) -> dict[str, int]:
    """Pass level of every value: 0 before any reduction, k after the k-th reduction pass.

    A reduction runs in the pass after the rows it needs are known; an online exp-sum runs
    in the same pass as its maximum.
    """
    level: dict[str, int] = {}
    for op in program.ops:
        if isinstance(op, Reduce):
            if op.online is not None:
                base = level[op.online[0]]
            else:
                base = max(level[n] for n in used(op))
            for out in op.outs:
                level[out] = base + 1
        else:
            level[op.var] = max((level[n] for n in used(op)), default=0)
    return level
