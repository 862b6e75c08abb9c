"""What one GEMM kernel computes: the records the matcher and the rewrites produce.

A :class:`GemmPlan` is a matrix product ``A @ B`` in "matmul space" -- ``(batch, M, N)``
with contraction ``K`` -- followed by an elementwise epilogue (``Step`` s over the
accumulator ``acc`` and the operands ``e0``, ``e1``...). Inputs are :class:`Source` s:
Python expressions inside ``ModelNew.forward`` with the view ops that reach the tensor the
kernel reads. A rewrite may precompute tensors (summed or merged weights) on the device
before the product; they are :class:`Precompute` s, cached when they depend only on
parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from agents.coders.generators.gemm.trace import View
from agents.coders.kit.chain import Step
from agents.coders.kit.dtypes import DtypeSized

MatmulKind = Literal["mm", "bmm", "mv", "dot"]
"""How the product's own output is shaped: (M, N), (batch, M, N), (M,) or ()."""
PrecomputeKind = Literal["rowsum", "matmul"]


@dataclass(frozen=True)
class Source:
    """A tensor the kernel reads: a ``forward`` expression plus replayed views."""

    base: str
    """``x``, ``self.linear.weight``, or a precomputed local such as ``_kv_p0``."""
    views: tuple[View, ...] = ()
    shape: tuple[int, ...] = ()
    """Shape after the views, as traced."""
    stable: bool = False
    """True for parameters and buffers: values derived from them may be cached."""

    def render(self) -> str:
        """The Python expression (``self.linear.weight.t()``)."""
        text = self.base
        for method, args in self.views:
            if method == "narrow_step":
                dim, start, end, step = args
                index = "slice(None), " * dim + f"slice({start}, {end}, {step})"
                text = f"{text}[({index},)]"
            elif method == "kv_reshape":
                text = f"_kv_reshape({text}, {args[0]!r})"
            else:
                text += f".{method}({', '.join(repr(a) for a in args)})"
        return text


@dataclass(frozen=True)
class MatInput:
    """One factor of the product and the constant scalings applied to it before the product."""

    source: Source
    prologue: tuple[tuple[str, float], ...] = ()
    """``("mul", c)`` or ``("div", c)`` in order, applied elementwise on load."""
    norm_eps: float | None = None
    """Set when the factor is ``F.normalize``-d over K: ``x / max(||x||_2, eps)``, folded as a
    per-row (A) or per-column (B) scale of the accumulator (:mod:`.normalize`)."""
    norm_views: tuple[View, ...] = ()
    """Views applied between the normalisation and the product (checked against K)."""
    scalars: tuple[str, ...] = ()
    """Names of 0-dim parameter-only nodes multiplying the factor (scalar epilogue factors)."""


@dataclass(frozen=True)
class Operand:
    """A tensor the epilogue reads, broadcast into matmul space."""

    name: str
    source: Source
    cur_shape: tuple[int, ...] | None
    """Shape it broadcasts to where it is used; ``None``: the product's own output shape."""
    keep: tuple[bool, bool, bool]
    """Whether its value varies along (batch, M, N) of matmul space."""
    promotes: bool = True
    """False for 0-dim tensors, which do not take part in dtype promotion."""


@dataclass(frozen=True)
class Precompute:
    """A tensor computed on the device before the product (a rewrite's folded weights)."""

    name: str
    """Local variable in ``forward`` (``_kv_p0``)."""
    kind: PrecomputeKind
    """``rowsum``: fp32 sums over the last dim of a 2-D source; ``matmul``: src0 @ src1."""
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class GemmPlan:
    """One way to compute the reference with a single product and an epilogue."""

    rewrite: str
    kind: MatmulKind
    a: MatInput
    b: MatInput
    batch: int
    m: int
    n: int
    k: int
    operands: tuple[Operand, ...]
    steps: tuple[Step, ...]
    result: str
    out_shape: tuple[int, ...] | None = None
    """The reference's output shape when views follow the product; ``None``: the product's."""
    out_dtype: str | None = None
    """An explicit cast at the end of the reference; ``None``: torch's type promotion."""
    precompute: tuple[Precompute, ...] = ()
    thin_only: bool = False
    """True when only the matrix-vector variant computes it (a rewrite's output is thin)."""
    summary: str = ""
    note: str = ""
    """What the rewrite did and why it is exact (up to float reassociation)."""

    @property
    def tiled_only(self) -> bool:
        """True when only the tiled variant computes it (it alone applies the norm scales)."""
        return self.a.norm_eps is not None or self.b.norm_eps is not None

    @property
    def flops(self) -> int:
        """Multiply-adds of the product, times two."""
        return 2 * self.batch * self.m * self.n * self.k

    @property
    def thin(self) -> int:
        """The smaller output dim (1 for a matrix-vector product)."""
        return min(self.m, self.n)


@dataclass(frozen=True)
class GemmSpec(DtypeSized):
    """A problem as the GEMM generator sees it: one plan per applicable rewrite."""

    pattern: str
    """``matmul+epilogue``, ``linear+sum`` or ``linear+linear``."""
    dtype: str
    forward_args: tuple[str, ...]
    plans: Mapping[str, GemmPlan] = field(default_factory=dict)

    @property
    def op(self) -> str:
        """A short label for messages (``gemm:matmul+epilogue``)."""
        return f"gemm:{self.pattern}"

    @property
    def rewrites(self) -> tuple[str, ...]:
        """The applicable rewrites, ``none`` first when the plain plan exists."""
        return tuple(sorted(self.plans, key=lambda r: (r != "none", r)))


def numel(shape: tuple[int, ...]) -> int:
    """Elements of a shape."""
    return math.prod(shape)
