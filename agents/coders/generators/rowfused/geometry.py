"""Row-space geometry: where a broadcast operand's element lives, and which reductions fit.

The row space is ``(outer, n, inner)`` over the flat index ``f = (o * n + k) * inner + i`` of
the largest tensor (see ``ir``). A tensor of shape ``S`` broadcast into a shape ``T`` of the
same space reads, at flat index ``f``, the offset ``sum(((f // inner_run) % size) * stride)``
over *runs* of consecutive kept dims; :func:`simplify` turns each run into a term of the row
index ``r``, the column ``n`` or ``f`` itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agents.coders.generators.rowfused.ir import RowSpace, Term
from tools.errors import ProblemError

Run = tuple[int, int, int]
"""``(inner, size, stride)``: a block of dims read as ``((f // inner) % size) * stride``."""


@dataclass(frozen=True)
class Geometry(RowSpace):
    """The row space: ``outer * inner`` rows of ``n_len`` elements, ``inner`` apart."""

    outer: int
    n_len: int
    inner: int
    whole: tuple[int, ...] = field(default=(), compare=False)
    """The whole-reduced tensor's shape when rows split it (no row reduction), else ``()``."""


def runs(src: tuple[int, ...], dst: tuple[int, ...]) -> list[Run] | None:
    """How a contiguous ``src`` broadcast to ``dst`` is read, as runs (``None``: no broadcast).

    Size-1 dims of ``dst`` are skipped; dims that ``src`` broadcasts (1 in ``src``, more in
    ``dst``) end a run.
    """
    if len(src) > len(dst):
        if any(s != 1 for s in src[: len(src) - len(dst)]):
            return None
        src = src[len(src) - len(dst) :]
    pad = (1,) * (len(dst) - len(src)) + tuple(src)
    if any(p not in (1, d) for p, d in zip(pad, dst, strict=True)):
        return None
    out: list[Run] = []
    inner, stride = 1, 1
    current: list[int] | None = None  # [inner, size, stride] of the open run
    for p, d in zip(reversed(pad), reversed(dst), strict=True):
        if d == 1:
            continue
        if p == d:
            if current is None:
                current = [inner, 1, stride]
            current[1] *= d
            stride *= d
        elif current is not None:
            out.append((current[0], current[1], current[2]))
            current = None
        inner *= d
    if current is not None:
        out.append((current[0], current[1], current[2]))
    return out


def simplify(run: Run, geo: Geometry) -> Term:
    """The term reading one run of a tile-space broadcast, in the cheapest index."""
    inner, size, stride = run
    ni = geo.n_len * geo.inner
    top = inner * size >= geo.total
    if inner % ni == 0:  # digits of the outer index: a function of the row
        return Term("r", inner // ni * geo.inner, 0 if top else size, stride)
    if geo.inner > 1 and geo.inner % (inner * size) == 0:  # digits of the inner index
        return Term("r", inner, size, stride)
    if inner % geo.inner == 0 and ni % (inner * size) == 0:  # digits of the reduced index
        return Term("n", inner // geo.inner, 0 if inner * size == ni else size, stride)
    return Term("f", inner, 0 if top else size, stride)


def _broadcast_runs(src: tuple[int, ...], dst: tuple[int, ...]) -> list[Run]:
    """:func:`runs`, raising where ``src`` does not broadcast to ``dst``."""
    found = runs(src, dst)
    if found is None:
        raise ProblemError(f"Shape {list(src)} does not broadcast to {list(dst)}.")
    return found


def tile_terms(src: tuple[int, ...], dst: tuple[int, ...], geo: Geometry) -> tuple[Term, ...]:
    """Offset terms of ``src`` broadcast into the tile-space shape ``dst``.

    Raises:
        ProblemError: ``src`` does not broadcast to ``dst``.
    """
    return tuple(simplify(r, geo) for r in _broadcast_runs(src, dst))


def row_terms(src: tuple[int, ...], dst: tuple[int, ...], rows: int) -> tuple[Term, ...]:
    """Offset terms of ``src`` broadcast into the row-space shape ``dst`` (flat index = row).

    Raises:
        ProblemError: ``src`` does not broadcast to ``dst``.
    """
    return tuple(
        Term("r", inner, 0 if inner * size >= rows else size, stride)
        for inner, size, stride in _broadcast_runs(src, dst)
    )


def is_row_identity(terms: tuple[Term, ...], rows: int) -> bool:
    """True when the terms read element ``r`` for row ``r`` (a row value used as it is)."""
    if any(t.src != "r" for t in terms):
        return False
    expected_div = 1
    for t in sorted(terms, key=lambda t: t.div):
        if t.div != expected_div or t.mul != t.div:
            return False
        if t.mod == 0:
            return t is max(terms, key=lambda t: t.div) or False
        expected_div = t.div * t.mod
    return expected_div >= rows


def reduced_block(shape: tuple[int, ...], dims: set[int]) -> tuple[int, int, int] | None:
    """``(outer, n, inner)`` when ``dims`` (size-1 dims ignored) are one contiguous block.

    Returns ``None`` when the non-trivial reduced dims are not contiguous; ``n`` is 1 when
    only size-1 dims are reduced.
    """
    real = sorted(d for d in dims if shape[d] != 1)
    if not real:
        return math.prod(shape), 1, 1
    lo, hi = real[0], real[-1] + 1
    if any(shape[d] != 1 and d not in dims for d in range(lo, hi)):
        return None
    return math.prod(shape[:lo]), math.prod(shape[lo:hi]), math.prod(shape[hi:])


def _divisors(total: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(total) + 1) if total % d == 0]
    return sorted(set(small + [total // d for d in small]))


def whole_geometry(
    shape: tuple[int, ...], min_row: int = 1024, max_row: int = 65536, rows_wanted: int = 128
) -> Geometry:
    """Rows for a graph with whole-tensor reductions only.

    Any split of the flat elements into rows works (operands are indexed by the flat index):
    the trailing dims when they make rows of ``min_row..max_row`` elements and at least
    ``rows_wanted`` rows; otherwise the divisor of the element count closest to
    ``total / 1024`` (about a thousand rows to spread over the chip), kept within
    ``min_row..16384`` where the count allows.
    """
    total = math.prod(shape)
    n_len = 1
    for d in reversed(shape):
        n_len *= d
        if n_len >= min_row:
            break
    if min_row <= n_len <= max_row and total // n_len >= rows_wanted:
        return Geometry(outer=total // n_len, n_len=n_len, inner=1)
    if total <= min_row:
        return Geometry(outer=1, n_len=max(total, 1), inner=1)
    target = min(16384, max(min_row, total // 1024))
    candidates = [d for d in _divisors(total) if 64 <= d <= max_row] or [total]
    n_len = min(candidates, key=lambda d: (abs(d - target), -d))
    return Geometry(outer=total // n_len, n_len=n_len, inner=1)


def wrap_terms(terms: tuple[Term, ...], wrap: int) -> tuple[Term, ...]:
    """Terms reading ``offset % wrap`` where ``terms`` read ``offset`` (a repeated operand).

    The terms of a broadcast are the digits of a mixed-radix offset (each term's values stay
    below the next term's multiplier), so the modulo distributes over them when every
    multiplier divides ``wrap`` or is a multiple of it.

    Raises:
        ProblemError: A digit straddles the wrap, so no term reads it.
    """
    if wrap <= 0:
        return terms
    out: list[Term] = []
    for t in sorted(terms, key=lambda t: t.mul):
        if t.mul % wrap == 0:
            continue
        if wrap % t.mul:
            raise ProblemError(f"A repeated operand of {wrap} elements is read across its period.")
        period = wrap // t.mul
        if t.mod == 0 or t.mod % period == 0:
            out.append(Term(t.src, t.div, period, t.mul))
        elif t.mod <= period:
            out.append(t)
        else:
            raise ProblemError(f"A repeated operand of {wrap} elements is read across its period.")
    return tuple(out)
