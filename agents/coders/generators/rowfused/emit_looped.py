"""Accumulators of the ``looped`` variant: init before the chunk loop, update per chunk, finish.

``sum``/``max``/``min``/``prod``/``gather`` fold each chunk's reduction into a ``[BLOCK_M, 1]``
accumulator; ``argmax``/``argmin`` keep the best value and its column (first one on ties);
``welford`` merges each chunk's mean and squared deviations (Chan et al.), so variance needs
one pass and stays exact for large means; an online exp-sum rescales with its running
maximum (guarding rows that are ``-inf`` so far).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.coders.generators.rowfused.ir import Reduce

if TYPE_CHECKING:
    from agents.coders.generators.rowfused.emit_kernel import KernelWriter

NEG_INF = '-float("inf")'
POS_INF = 'float("inf")'
IDENT = {
    "sum": "0.0",
    "max": NEG_INF,
    "min": POS_INF,
    "prod": "1.0",
    "argmax": NEG_INF,
    "argmin": POS_INF,
}
"""Identity of each reduction, written into padding columns."""


def init_lines(w: KernelWriter, r: Reduce) -> list[str]:
    """Accumulators of one reduction, before the chunk loop."""
    acc = f"acc_{r.outs[0]}"
    dt = "tl.int64" if r.kinds[0] != "f" and r.kind in ("sum", "gather") else "tl.float32"
    if r.online is not None:
        return [f"{acc} = tl.zeros([BLOCK_M, 1], tl.float32)"]
    if r.kind in ("sum", "gather"):
        return [f"{acc} = tl.zeros([BLOCK_M, 1], {dt})"]
    if r.kind in ("max", "min", "prod"):
        return [f"{acc} = tl.full([BLOCK_M, 1], {IDENT[r.kind]}, tl.float32)"]
    if r.kind in ("argmax", "argmin"):
        return [
            f"{acc} = tl.zeros([BLOCK_M, 1], tl.int64)",
            f"best_{r.outs[0]} = tl.full([BLOCK_M, 1], {IDENT[r.kind]}, tl.float32)",
        ]
    if r.kind == "welford":
        return [
            f"{acc} = tl.zeros([BLOCK_M, 1], tl.float32)",
            f"m2_{r.outs[0]} = tl.zeros([BLOCK_M, 1], tl.float32)",
        ]
    raise ValueError(f"unknown reduction {r.kind}")


def update_lines(w: KernelWriter, r: Reduce, lo: str = "0", end: str = "N") -> list[str]:
    """How one chunk updates a reduction's accumulators (inside the chunk loop).

    ``lo``/``end``: the column range the loop walks (a column range of the ``split`` variant).
    """
    a, out = r.arg, r.outs[0]
    acc = f"acc_{out}"
    if r.online is not None:
        return []  # updated with its maximum
    if r.kind == "max" and out in w.partner:
        return _online_update(w, out, w.partner[out])
    if r.kind == "sum":
        return [f"{acc} += tl.sum({w.masked(a, '0.0')}, axis=1)[:, None]"]
    if r.kind in ("max", "min"):
        fn = "maximum" if r.kind == "max" else "minimum"
        return [
            f"{acc} = tl.{fn}({acc}, tl.{r.kind}({w.masked(a, IDENT[r.kind])}, axis=1)[:, None])"
        ]
    if r.kind == "prod":
        return [f"{acc} = {acc} * tl.reduce({w.masked(a, '1.0')}, 1, _kv_mul)[:, None]"]
    if r.kind in ("argmax", "argmin"):
        vals = w.masked(a, IDENT[r.kind])
        fn, cmp = ("max", ">") if r.kind == "argmax" else ("min", "<")
        best = f"best_{out}"
        return [
            f"cv_{out} = {vals}",
            f"cm_{out} = tl.{fn}(cv_{out}, axis=1)[:, None]",
            f"ci_{out} = tl.{r.kind}(cv_{out}, axis=1)[:, None].to(tl.int64) + start",
            f"up_{out} = cm_{out} {cmp} {best}",
            f"{acc} = tl.where(up_{out}, ci_{out}, {acc})",
            f"{best} = tl.where(up_{out}, cm_{out}, {best})",
        ]
    if r.kind == "welford":
        cnt = f"{float(w.lay.block_n)!r}" if w.even_n else f"tl.minimum({end} - start, BLOCK_N) * 1.0"
        seen = "start * 1.0" if lo == "0" else f"(start - {lo}) * 1.0"
        dev = w.masked(a, "0.0", f"{a} - cm_{out}")
        return [
            f"cnt_{out} = {cnt}",
            f"cm_{out} = tl.sum({w.masked(a, '0.0')}, axis=1)[:, None] / cnt_{out}",
            f"cd_{out} = {dev}",
            f"seen_{out} = {seen}",
            f"tot_{out} = seen_{out} + cnt_{out}",
            f"delta_{out} = cm_{out} - {acc}",
            f"{acc} = {acc} + delta_{out} * (cnt_{out} / tot_{out})",
            (
                f"m2_{out} = m2_{out} + tl.sum(cd_{out} * cd_{out}, axis=1)[:, None]"
                f" + delta_{out} * delta_{out} * (seen_{out} * cnt_{out} / tot_{out})"
            ),
        ]
    if r.kind == "gather":
        return [f"{acc} += {w._gather_chunk(r)}"]
    raise ValueError(f"unknown reduction {r.kind}")


def _online_update(w: KernelWriter, maximum: str, s: Reduce) -> list[str]:
    """Running max and rescaled exp-sum in one pass (the online softmax update)."""
    value = s.online[0]  # type: ignore[index]
    m_acc, s_acc = f"acc_{maximum}", f"acc_{s.outs[0]}"
    vals = w.masked(value, NEG_INF)
    safe = f"safe_{maximum}"
    terms = w.masked(value, "0.0", f"tl.exp({value} - {safe})")
    return [
        f"new_{maximum} = tl.maximum({m_acc}, tl.max({vals}, axis=1)[:, None])",
        f"{safe} = tl.where(new_{maximum} == {NEG_INF}, 0.0, new_{maximum})",
        f"{s_acc} = {s_acc} * tl.exp({m_acc} - {safe}) + tl.sum({terms}, axis=1)[:, None]",
        f"{m_acc} = new_{maximum}",
    ]


def finish_lines(w: KernelWriter, r: Reduce) -> list[str]:
    """The reduction's results from its accumulators, after the chunk loop."""
    out = r.outs[0]
    acc = f"acc_{out}"
    if r.online is not None:
        _value, maximum, shift = r.online
        if shift == maximum:
            return [f"{out} = {acc}"]
        safe = f"tl.where({maximum} == {NEG_INF}, 0.0, {maximum})"
        return [f"{out} = {acc} * tl.exp({safe} - {shift})"]
    if r.kind == "welford":
        return [f"{r.outs[0]} = {acc}", f"{r.outs[1]} = m2_{out}"]
    return [f"{out} = {acc}"]
