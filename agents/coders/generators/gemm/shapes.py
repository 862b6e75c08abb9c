"""Shapes a rendered kernel computes at call time instead of baking the traced sizes in.

The reference is traced at one size, but a candidate is checked (and run) at others: a
problem that declares ``KEVOLVE_SIZES`` is also evaluated at irregular sizes. A reshape
(``x.reshape(18, 40)``) or an output shape (``(8192,)``) written as literals breaks there.
:func:`shape_spec` turns a traced ``src -> dst`` reshape into a *spec*: one entry per ``dst``
dim, either a ``(i, j)`` pair (the product of ``src[i:j]`` at call time: merged dims, kept
dims) or an int literal (size-1 dims, and the fixed parts of a split; one split part is
``-1``, inferred from the element count). ``_kv_shape`` in the rendered module evaluates it.
"""

from __future__ import annotations

import math

SpecEntry = int | tuple[int, int]
Spec = tuple[SpecEntry, ...]

RUNTIME_HELPER = '''def _kv_shape(shape, spec):
    """A shape from a spec: (i, j) is prod(shape[i:j]) at call time, an int is literal, -1 inferred."""
    dims = [math.prod(shape[e[0]:e[1]]) if isinstance(e, tuple) else e for e in spec]
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = math.prod(shape) // max(known, 1)
    return tuple(dims)
'''
"""The call-time evaluator of a spec, pasted into every rendered module."""


def shape_spec(src: tuple[int, ...], dst: tuple[int, ...]) -> Spec:
    """How ``dst`` (a reshape of ``src``) follows ``src`` when ``src`` changes size.

    Consecutive dims are grouped so each group of ``src`` and of ``dst`` has the same
    product. A ``dst`` dim that is a whole group is ``(i, j)``: the product of ``src[i:j]``
    at call time. A group split into several ``dst`` dims keeps its sizes literal except its
    first non-1 dim, ``-1`` (at most one ``-1`` per spec). Size-1 ``dst`` dims stay ``1``.
    When the element counts differ (a broadcast) or a size is 0, ``dst`` is returned as is.
    """
    src, dst = tuple(int(d) for d in src), tuple(int(d) for d in dst)
    if math.prod(src) != math.prod(dst) or 0 in src or 0 in dst:
        return dst
    out: list[SpecEntry] = []
    inferred = False
    i = j = 0
    while j < len(dst):
        if dst[j] == 1:
            out.append(1)
            j += 1
            continue
        while src[i] == 1:
            i += 1
        i0, j0 = i, j
        pi, pj = src[i], dst[j]
        i, j = i + 1, j + 1
        while pi != pj:
            if pi < pj:
                pi *= src[i]
                i += 1
            else:
                pj *= dst[j]
                j += 1
        if j - j0 == 1:
            out.append((i0, i))
            continue
        for d in dst[j0:j]:
            if d != 1 and not inferred:
                out.append(-1)
                inferred = True
            else:
                out.append(d)
    return tuple(out)


def eval_spec(shape: tuple[int, ...], spec: Spec) -> tuple[int, ...]:
    """What ``_kv_shape(shape, spec)`` returns in a rendered module (for tests and checks)."""
    dims = [math.prod(shape[e[0] : e[1]]) if isinstance(e, tuple) else e for e in spec]
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = math.prod(shape) // max(known, 1)
    return tuple(dims)
