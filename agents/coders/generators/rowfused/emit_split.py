"""The ``split`` variant: few long rows, each cut into column ranges reduced by separate programs.

A row program whose reductions all run in one pass over the row (argmax over a vocabulary,
the norm of a whole vector, the statistics of a LayerNorm or a softmax over millions of
elements...) may split each row into ``n_split`` column ranges: the main kernel (grid
``tiles x n_split``) folds one range into partial accumulators, a combine kernel merges the
partials of every row in split order (deterministic, no atomics) and runs the row steps after
the reductions. Partials merge exactly or stably: sums, extremes and products directly,
``welford`` ``(mean, m2)`` pairs by Chan's parallel formula (counts from the range bounds), an
online exp-sum as ``(max, sum relative to it)`` rescaled to the row maximum. A program with
full outputs (a norm, a softmax) launches the combine kernel on the same ``tiles x n_split``
grid: each program merges its rows' partials (a few values) and then normalises and stores its
own column range, so the row is read twice in all, as by the ``looped`` kernel, but by
``n_split`` times more programs. Arg-reductions keep
torch's semantics: the first index of the extreme value, and the first NaN when a row has one.
Rows may be ``INNER`` apart (a reduction over a middle dim): a tile then holds ``BLOCK_M``
neighbouring inner rows, read as contiguous runs.
"""

from __future__ import annotations

from agents.coders.generators.rowfused.emit_kernel import KernelWriter, Layout
from agents.coders.generators.rowfused.emit_looped import IDENT, init_lines, update_lines
from agents.coders.generators.rowfused.ir import Reduce, RowProgram

COMBINE = "_kv_rowfused_combine"
SPLIT_KINDS = frozenset({"sum", "max", "min", "prod", "argmax", "argmin", "welford"})
"""Reductions whose partials merge (arg-reductions as ``(value, first index)``, ``welford`` as
``(mean, m2)``, an online exp-sum with its maximum)."""
BIG_INDEX = "9223372036854775807"
"""An index past every column (int64 max): 'no NaN seen', and padding splits."""


def split_ok(program: RowProgram) -> bool:
    """True when every reduction reads the row once and merges across column ranges.

    Full outputs are allowed: they depend on the rows only through the merged reductions.
    """
    reds = program.reductions()
    if not reds:
        return False
    writer = KernelWriter(program, _layout(1))
    if any(writer.level[r.outs[0]] != 1 for r in reds):
        return False
    for r in reds:
        if r.kind not in SPLIT_KINDS or r.arg in writer.partner:
            return False
        if r.kind in ("sum", "max", "min", "prod", "welford") and r.kinds[0] != "f":
            return False
        if writer.kind.get(r.online[0] if r.online else r.arg, "f") != "f":
            return False
    return True


def slots(program: RowProgram) -> dict[str, int]:
    """Value-partial slot of each reduction result (``m2_<mean>`` for a welford's second)."""
    out: dict[str, int] = {}
    for r in program.reductions():
        out[r.outs[0]] = len(out)
        if r.kind == "welford":
            out[f"m2_{r.outs[0]}"] = len(out)
    return out


def has_full(program: RowProgram) -> bool:
    """True when the program stores a full tensor (the combine kernel walks column ranges)."""
    return any(o.kind == "full" for o in program.outputs)


def _layout(block_n: int, stages: int = 1, block_m: int = 1) -> Layout:
    return Layout("looped", block_m, block_n, True, stages=stages, ragged=True)


def _arg_update(r: Reduce) -> list[str]:
    """Fold one chunk into ``(best, first index, first NaN)`` of an arg-reduction.

    Columns inside the chunk are int32 (``lidx``; ``BLOCK_N`` means none) so the tile stays
    narrow; padding columns hold the identity and come after the real ones, so a first-index
    minimum never picks them.
    """
    out, ident = r.outs[0], IDENT[r.kind]
    fn, cmp = ("max", ">") if r.kind == "argmax" else ("min", "<")
    return [
        f"cv_{out} = tl.where(col_mask, {r.arg}, {ident})",
        f"nan_{out} = cv_{out} != cv_{out}",
        f"cn_{out} = tl.min(tl.where(nan_{out}, lidx, BLOCK_N), axis=1)[:, None]",
        f"ck_{out} = tl.where(nan_{out}, {ident}, cv_{out})",
        f"cm_{out} = tl.{fn}(ck_{out}, axis=1)[:, None]",
        f"ci_{out} = tl.min(tl.where(ck_{out} == cm_{out}, lidx, BLOCK_N), axis=1)[:, None]",
        f"up_{out} = cm_{out} {cmp} best_{out}",
        f"acc_{out} = tl.where(up_{out}, ci_{out}.to(tl.int64) + start, acc_{out})",
        f"best_{out} = tl.where(up_{out}, cm_{out}, best_{out})",
        f"cn_{out} = tl.where(cn_{out} < BLOCK_N, cn_{out}.to(tl.int64) + start, {BIG_INDEX})",
        f"fnan_{out} = tl.minimum(fnan_{out}, cn_{out})",
    ]


def main_kernel(program: RowProgram, block_m: int, block_n: int, stages: int) -> str:
    """``_kv_rowfused_kernel``: one column range of a tile of rows, into partial accumulators."""
    w = KernelWriter(program, _layout(block_n, stages, block_m))
    reds = program.reductions()
    w.lines = ["@triton.jit", "def _kv_rowfused_kernel("]
    w.put(1, "spart_ptr, sidx_ptr, " + ", ".join(f"{o.name}_ptr" for o in program.operands) + ",")
    w.put(1, f"n_rows, n_split, chunk,  # rows: {program.outer} x {program.inner}, cut in ranges")
    w.put(1, "N: tl.constexpr, INNER: tl.constexpr,")
    w.put(1, "BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,")
    w.lines.append("):")
    w.put(1, f'"""Partial reductions of one column range ({program.summary}); fp32 math."""')
    w.put(1, "pid = tl.program_id(0)")
    w.put(1, "n_progs = tl.num_programs(0)")
    w.put(1, "sid = tl.program_id(1)")
    w.put(1, "lo = sid.to(tl.int64) * chunk")
    w.put(1, "hi = tl.minimum(lo + chunk, N)")
    w.put(1, "lidx = tl.arange(0, BLOCK_N)[None, :]  # column inside a chunk")
    hoisted = w._hoisted()
    for op in hoisted:
        w.put(1, w.op_line(op))
    w._tile_loop_head()
    rest = [op for op in program.ops if op not in hoisted]
    w._row_ops([op for op in rest if not isinstance(op, Reduce)], 0)
    for r in reds:
        if r.kind in ("argmax", "argmin"):
            w.put(2, f"acc_{r.outs[0]} = tl.zeros([BLOCK_M, 1], tl.int64) + lo")
            w.put(2, f"best_{r.outs[0]} = tl.full([BLOCK_M, 1], {IDENT[r.kind]}, tl.float32)")
            w.put(2, f"fnan_{r.outs[0]} = tl.full([BLOCK_M, 1], {BIG_INDEX}, tl.int64)")
        else:
            for line in init_lines(w, r):
                w.put(2, line)
    stage = f", num_stages={stages}" if stages > 1 else ""
    w.put(2, f"for start in tl.range(lo, hi, BLOCK_N{stage}):")
    w.put(3, "cols = start + tl.arange(0, BLOCK_N)[None, :]")
    w.put(3, "col_mask = cols < hi")
    ops = w._closure([r.online[0] if r.online else r.arg for r in reds])
    if w.uses_flat(ops, False):
        w.put(3, w.flat_line())
    for op in ops:
        w.put(3, w.op_line(op))
    for r in reds:
        if r.kind in ("argmax", "argmin"):
            lines = _arg_update(r)
        else:
            lines = update_lines(w, r, lo="lo", end="hi")
        for line in lines:
            w.put(3, line)
    mask = "" if w.even_m else ", mask=row_mask"
    arg_k = 0
    slot_of = slots(program)
    for r in reds:
        out = r.outs[0]
        val_k = slot_of[out]
        slot = "({k} * n_split + sid) * n_rows + rows"
        if r.kind in ("argmax", "argmin"):
            w.put(2, f"has_nan_{out} = fnan_{out} < {BIG_INDEX}")
            w.put(2, f"best_{out} = tl.where(has_nan_{out}, float('nan'), best_{out})")
            w.put(2, f"acc_{out} = tl.where(has_nan_{out}, fnan_{out}, acc_{out})")
            w.put(2, f"tl.store(sidx_ptr + {slot.format(k=arg_k)}, acc_{out}{mask})")
            arg_k += 1
            value = f"best_{out}"
        else:
            value = f"acc_{out}"
        w.put(2, f"tl.store(spart_ptr + {slot.format(k=val_k)}, {value}{mask})")
        if r.kind == "welford":
            m2_k = slot_of[f"m2_{out}"]
            w.put(2, f"tl.store(spart_ptr + {slot.format(k=m2_k)}, m2_{out}{mask})")
    return "\n".join(w.lines) + "\n"


def _combine_lines(r: Reduce, slot_of: dict[str, int], arg_k: int) -> list[str]:
    """Merge the ``n_split`` partials of each row into ``acc_<out>`` (``SPLIT``: a power of two).

    The reduction's own finish (``finish_lines``) then reads the accumulators, as after the
    ``looped`` chunk loop.
    """
    out = r.outs[0]
    at = "(({k} * n_split + s) * n_rows + rows)"
    vals = f"spart_ptr + {at.format(k=slot_of[out])}"
    acc = f"acc_{out}"
    if r.kind in ("argmax", "argmin"):
        ident = IDENT[r.kind]
        fn = "max" if r.kind == "argmax" else "min"
        return [
            f"pv_{out} = tl.load({vals}, mask=smask, other={ident})",
            f"pi_{out} = tl.load(sidx_ptr + {at.format(k=arg_k)}, mask=smask, other={BIG_INDEX})",
            f"pn_{out} = pv_{out} != pv_{out}",
            f"fn_{out} = tl.min(tl.where(pn_{out}, pi_{out}, {BIG_INDEX}), axis=1)[:, None]",
            f"pk_{out} = tl.where(pn_{out}, {ident}, pv_{out})",
            f"pm_{out} = tl.{fn}(pk_{out}, axis=1)[:, None]",
            (
                f"pf_{out} = tl.min(tl.where((pk_{out} == pm_{out}) & smask, pi_{out},"
                f" {BIG_INDEX}), axis=1)[:, None]"
            ),
            f"{acc} = tl.where(fn_{out} < {BIG_INDEX}, fn_{out}, pf_{out})",
        ]
    if r.kind == "welford":  # Chan et al.: m2 = sum of m2_s + c_s * (mean_s - mean)^2
        m2 = f"spart_ptr + {at.format(k=slot_of[f'm2_{out}'])}"
        return [
            f"cnt_{out} = (tl.minimum(tl.maximum(N - s * chunk, 0), chunk) * 1.0).to(tl.float32)",
            f"pv_{out} = tl.load({vals}, mask=smask, other=0.0)",
            f"pq_{out} = tl.load({m2}, mask=smask, other=0.0)",
            f"{acc} = tl.sum(pv_{out} * cnt_{out}, axis=1)[:, None] / N",
            f"pd_{out} = tl.where(smask, pv_{out} - {acc}, 0.0)",
            (
                f"m2_{out} = tl.sum(pq_{out} + cnt_{out} * pd_{out} * pd_{out}, axis=1)"
                "[:, None]"
            ),
        ]
    if r.online is not None:  # sums relative to each range's maximum, rescaled to the row's
        maximum = r.online[1]
        peak = f"spart_ptr + {at.format(k=slot_of[maximum])}"
        safe = f"tl.where(acc_{maximum} == {IDENT['max']}, 0.0, acc_{maximum})"
        return [
            f"pv_{out} = tl.load({vals}, mask=smask, other=0.0)",
            f"pp_{out} = tl.load({peak}, mask=smask, other={IDENT['max']})",
            f"{acc} = tl.sum(pv_{out} * tl.exp(pp_{out} - {safe}), axis=1)[:, None]",
        ]
    ident = {"sum": "0.0", "max": IDENT["max"], "min": IDENT["min"], "prod": "1.0"}[r.kind]
    load = f"pv_{out} = tl.load({vals}, mask=smask, other={ident})"
    if r.kind == "prod":
        return [load, f"{acc} = tl.reduce(pv_{out}, 1, _kv_mul)[:, None]"]
    return [load, f"{acc} = tl.{r.kind}(pv_{out}, axis=1)[:, None]"]


def combine_kernel(program: RowProgram) -> str:
    """``_kv_rowfused_combine``: merge each row's partials, the row steps and stores.

    With full outputs the grid is ``tiles x n_split`` and each program then walks its own
    column range (``chunk`` columns) to compute and store them; row outputs are stored by the
    first range's program.
    """
    full = has_full(program)
    w = KernelWriter(program, _layout(1))
    outs = [f"out{k}_ptr" for k, o in enumerate(program.outputs) if o.kind != "whole"]
    ptrs = outs + (["part_ptr"] if program.partials else []) + ["spart_ptr", "sidx_ptr"]
    ptrs += [f"{o.name}_ptr" for o in program.operands]
    w.lines = ["@triton.jit", f"def {COMBINE}("]
    w.put(1, ", ".join(ptrs) + ",  # pointers")
    w.put(1, "n_rows, n_split, chunk,")
    w.put(1, "N: tl.constexpr, INNER: tl.constexpr,")
    w.put(1, "BLOCK_M: tl.constexpr, SPLIT: tl.constexpr, BLOCK_N: tl.constexpr,")
    w.lines.append("):")
    w.put(1, '"""Merges the column-range partials of each row in order; then the row steps."""')
    w.put(1, "pid = tl.program_id(0)")
    w.put(1, "n_progs = tl.num_programs(0)")
    w.put(1, "s = tl.arange(0, SPLIT)[None, :]")
    if full:
        w.put(1, "sid = tl.program_id(1)")
        w.put(1, "lo = sid.to(tl.int64) * chunk")
        w.put(1, "hi = tl.minimum(lo + chunk, N)")
    hoisted = [op for op in w._hoisted() if op.shape == "scalar"]
    for op in hoisted:
        w.put(1, w.op_line(op))
    w._tile_loop_head()
    w.put(2, "smask = s < n_split" if w.even_m else "smask = (s < n_split) & row_mask")
    rest = [op for op in program.ops if op not in hoisted and getattr(op, "domain", "") != "tile"]
    w._row_ops([op for op in rest if not isinstance(op, Reduce)], 0)
    arg_k = 0
    slot_of = slots(program)
    for r in program.reductions():
        for line in _combine_lines(r, slot_of, arg_k):
            w.put(2, line)
        arg_k += r.kind in ("argmax", "argmin")
    w._row_ops(rest, 1)
    if not full:
        w._row_stores(2)
        return "\n".join(w.lines) + "\n"
    head = len(w.lines)
    w._row_stores(3)
    if len(w.lines) > head:
        w.lines.insert(head, "        if sid == 0:  # one store of each row value")
    fulls = [o.var for o in program.outputs if o.kind == "full"]
    ops = w._closure(fulls)
    w.put(2, "for start in tl.range(lo, hi, BLOCK_N):")
    w.put(3, "cols = start + tl.arange(0, BLOCK_N)[None, :]")
    w.put(3, "col_mask = cols < hi")
    w.put(3, w.flat_line())
    for op in ops:
        w.put(3, w.op_line(op))
    w._full_stores(3)
    return "\n".join(w.lines) + "\n"


def buffers(program: RowProgram) -> tuple[int, int]:
    """``(value partials, index partials)`` a row range stores."""
    reds = program.reductions()
    return len(slots(program)), sum(r.kind in ("argmax", "argmin") for r in reds)


def launch_lines(program: RowProgram, block_m: int, block_n: int, waves: int) -> list[str]:
    """Wrapper lines that size the split, allocate the partials and launch both kernels.

    Rows are cut into as many ranges as keep ``waves`` programs an SM busy (ranges a
    multiple of ``BLOCK_N`` columns, never more ranges than chunks).
    """
    p = program
    values, indices = buffers(p)
    outs = [f"out{k}" for k, o in enumerate(p.outputs) if o.kind != "whole"]
    parts = ["part"] if p.partials else []
    names = [o.name for o in p.operands]
    tiles = (
        f"triton.cdiv({p.rows}, {block_m})"
        if p.inner == 1
        else f"{p.outer} * triton.cdiv({p.inner}, {block_m})"
    )
    return [
        f"    n_rows = {p.rows}",
        f"    n_tiles = {tiles}",
        (
            f"    n_split = max(1, min(triton.cdiv({p.n_len}, {block_n}),"
            f" _KV_NUM_CUS * {waves} // n_tiles))"
        ),
        f"    chunk = triton.cdiv(triton.cdiv({p.n_len}, n_split), {block_n}) * {block_n}",
        f"    n_split = triton.cdiv({p.n_len}, chunk)",
        f"    spart = torch.empty(({values}, n_split, n_rows), device=device, dtype=torch.float32)",
        (
            f"    sidx = torch.empty(({max(indices, 1)}, n_split, n_rows), device=device,"
            " dtype=torch.int64)"
        ),
        "    _kv_rowfused_kernel[(n_tiles, n_split)](",
        f"        spart, sidx, {', '.join(names)},",
        "        n_rows, n_split, chunk,",
        f"        N={p.n_len}, INNER={p.inner},",
        f"        BLOCK_M={block_m}, BLOCK_N={block_n},",
        "        **_KV_LAUNCH,",
        "    )",
        "    split_p2 = triton.next_power_of_2(n_split)",
        *_combine_launch(p, outs + parts + ["spart", "sidx"] + names, block_m, block_n),
    ]


def _combine_launch(p: RowProgram, args: list[str], block_m: int, block_n: int) -> list[str]:
    if has_full(p):  # same tiles and ranges as the main kernel: each stores its range
        grid, rows, cols, launch = "(n_tiles, n_split)", str(block_m), str(block_n), "**_KV_LAUNCH"
        head = [f"    {COMBINE}[{grid}](  # merges, then normalises its column range"]
    else:
        rows, cols, launch = "rows_c", "1", "num_warps=4"
        head = [
            "    rows_c = max(1, min(16, 2048 // split_p2))  # rows a combine program merges",
            f"    {COMBINE}[(triton.cdiv(n_rows, rows_c),)](  # strides over its tiles",
        ]
    return [
        *head,
        f"        {', '.join(args)},",
        "        n_rows, n_split, chunk,",
        f"        N={p.n_len}, INNER={p.inner},",
        f"        BLOCK_M={rows}, SPLIT=split_p2, BLOCK_N={cols},",
        f"        {launch},",
        "    )",
    ]
