"""The ``@triton.jit`` kernel of a row program, in the ``single`` or ``looped`` variant.

A program walks tiles of ``BLOCK_M`` rows (a persistent grid strides over them). ``single``
holds a whole row in one ``BLOCK_N >= n`` tile: every operand is loaded once, every step
computed once, reductions are ``tl.sum``/``tl.max``... along axis 1. ``looped`` walks a row in
``BLOCK_N`` chunks, one pass per reduction level (a pass recomputes the elementwise steps it
needs from loads; online exp-sums share their maximum's pass), then a final pass computes
and stores the full outputs. Row outputs and partials are stored once per tile.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.coders.generators.rowfused.emit_looped import (
    IDENT,
    finish_lines,
    init_lines,
    update_lines,
)
from agents.coders.generators.rowfused.formulas import expression
from agents.coders.generators.rowfused.ir import (
    Compute,
    Load,
    Op,
    Reduce,
    RowProgram,
    Term,
    defined,
    levels,
    used,
)


@dataclass(frozen=True)
class Layout:
    """What one configuration fixes at render time."""

    variant: str
    block_m: int
    block_n: int
    int64: bool
    """Index with int64 (the row space has 2**31 elements or more)."""
    stages: int = 1
    """Software-pipeline depth of the loop that streams rows (chunks, or persistent tiles)."""
    persistent: bool = False
    ragged: bool = False
    """Mask every row and column (a shape-generic kernel: sizes are known at call time only)."""

    def even_n(self, n_len: int) -> bool:
        """True when no chunk of a row is partial (no column mask)."""
        return not self.ragged and n_len % self.block_n == 0

    def even_m(self, program: RowProgram) -> bool:
        """True when no tile of rows is partial (no row mask)."""
        if self.ragged:
            return False
        span = program.inner if program.inner > 1 else program.rows
        return span % self.block_m == 0


class KernelWriter:
    """Writes one kernel's source text (see the module docstring)."""

    def __init__(self, program: RowProgram, layout: Layout) -> None:
        self.p = program
        self.lay = layout
        self.level = levels(program)
        self.producer = {name: op for op in program.ops for name in defined(op)}
        self.rshape: dict[str, str] = {}
        self.kind: dict[str, str] = {}
        for op in program.ops:
            if isinstance(op, Reduce):
                for out, k in zip(op.outs, op.kinds, strict=True):
                    self.rshape[out], self.kind[out] = "row", k
            else:
                self.rshape[op.var], self.kind[op.var] = op.shape, op.kind
        self.even_n = layout.even_n(program.n_len)
        self.even_m = layout.even_m(program)
        self.lines: list[str] = []
        self.partner = {r.online[1]: r for r in program.reductions() if r.online is not None}

    # ---- small pieces ------------------------------------------------------------------------
    def put(self, depth: int, text: str) -> None:
        """Append one line at an indentation depth (1 = the kernel body)."""
        self.lines.append("    " * depth + text)

    def offset(self, terms: tuple[Term, ...]) -> str:
        """The offset expression of a load."""
        parts = []
        for t in terms:
            e = {"r": "rows", "n": "cols", "f": "flat"}[t.src]
            if t.div != 1:
                e = f"({e} // {t.div})"
            if t.mod:
                e = f"({e} % {t.mod})"
            if t.mul != 1:
                e = f"{e} * {t.mul}"
            parts.append(e)
        return " + ".join(parts)

    def op_line(self, op: Op) -> str:
        """``var = ...`` for a load or a step."""
        if isinstance(op, Compute):
            return f"{op.var} = {expression(op)}"
        assert isinstance(op, Load)
        if op.operand < 0:  # an index sequence (arange): the offset is the value
            if not op.terms:
                return f"{op.var} = 0"
            return f"{op.var} = ({self.offset(op.terms)}).to(tl.int64)"
        ptr = f"{self.p.operands[op.operand].name}_ptr"
        addr = f"{ptr} + {self.offset(op.terms)}" if op.terms else ptr
        if op.index is not None:  # a gathered row: the index value picks it
            addr = f"{addr} + {op.index} * {op.width}"
        masks = []
        if op.shape in ("tile", "col") and not self.even_n:
            masks.append("col_mask")
        if op.shape in ("tile", "row") and self.p.inner > 1 and not self.even_m:
            masks.append("row_mask")  # inner rows are not clamped (see _tile_loop_head)
        mask = ""
        if masks:
            mask = f", mask={' & '.join(masks)}, other={'0.0' if op.kind == 'f' else '0'}"
        cast = ".to(tl.float32)" if op.kind == "f" else ""
        return f"{op.var} = tl.load({addr}{mask}){cast}"

    def masked(self, var: str, ident: str, expr: str | None = None) -> str:
        """``var`` (or ``expr``) as a full tile whose padding columns hold ``ident``."""
        x = expr or var
        if expr is None and self.kind.get(var, "f") != "f" and ident == "0.0":
            x, ident = f"({x}).to(tl.int64)", "0"
        if self.rshape.get(var) != "tile":
            x = f"tl.broadcast_to({x}, (BLOCK_M, BLOCK_N))"
        if self.even_n:
            return x
        return f"tl.where(col_mask, {x}, {ident})"

    def uses_flat(self, ops: list[Op], full_store: bool) -> bool:
        """True when some load reads the flat index (or a full output is stored)."""
        loads = any(isinstance(o, Load) and any(t.src == "f" for t in o.terms) for o in ops)
        return full_store or loads

    def flat_line(self) -> str:
        """``flat``: the element index of each tile position."""
        return "flat = rbase + cols" if self.p.inner == 1 else "flat = rbase + cols * INNER"

    # ---- kernel --------------------------------------------------------------------------
    def write(self) -> str:
        """The complete ``@triton.jit`` kernel text."""
        p = self.p
        outs = [f"out{k}_ptr" for k, o in enumerate(p.outputs) if o.kind != "whole"]
        ptrs = outs + (["part_ptr"] if p.partials else []) + [f"{o.name}_ptr" for o in p.operands]
        self.lines = ["@triton.jit", "def _kv_rowfused_kernel("]
        self.put(1, ", ".join(ptrs) + ",  # pointers")
        self.put(1, f"n_rows,  # rows: {p.outer} x {p.inner}, each of N elements INNER apart")
        self.put(1, "N: tl.constexpr, INNER: tl.constexpr,")
        self.put(1, "BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,")
        self.lines.append("):")
        how = (
            "one tile per row"
            if self.lay.variant == "single"
            else "BLOCK_N chunks, one pass per reduction level"
        )
        self.put(1, f'"""Fused row program ({p.summary}); fp32 math, {how}."""')
        if p.reduces_inner():
            self.put(1, "tl.static_assert(INNER <= BLOCK_M)  # a tile holds every inner row")
        self.put(1, "pid = tl.program_id(0)")
        self.put(1, "n_progs = tl.num_programs(0)")
        hoisted = self._hoisted()
        if self.lay.variant == "single":
            self.put(1, "cols = tl.arange(0, BLOCK_N)[None, :]")
            if not self.even_n:
                self.put(1, "col_mask = cols < N")
        for op in hoisted:
            self.put(1, self.op_line(op))
        self._tile_loop_head()
        if self.lay.variant == "single":
            self._single_body(hoisted)
        else:
            self._looped_body(hoisted)
        self._row_stores(2)
        return "\n".join(self.lines) + "\n"

    def _hoisted(self) -> list[Op]:
        """Steps that depend on no row: scalars always, column-only ones in ``single``."""
        keep = {"scalar", "col"} if self.lay.variant == "single" else {"scalar"}
        out = []
        for op in self.p.ops:
            if isinstance(op, (Load, Compute)) and op.shape in keep:
                out.append(op)
        return out

    def _tile_loop_head(self) -> None:
        p, lay = self.p, self.lay
        if p.inner == 1:
            self.put(1, "n_tiles = tl.cdiv(n_rows, BLOCK_M)")
        else:
            self.put(1, "n_iblk = tl.cdiv(INNER, BLOCK_M)")
            self.put(1, "n_tiles = (n_rows // INNER) * n_iblk")
        pipelined = self.lay.variant == "single" and self.lay.persistent and self.lay.stages > 1
        stages = f", num_stages={self.lay.stages}" if pipelined else ""
        self.put(1, f"for tile in tl.range(pid, n_tiles, n_progs{stages}):")
        if p.inner == 1:
            self.put(2, "rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)[:, None]")
            if not self.even_m:
                self.put(2, "row_mask = rows < n_rows")
                self.put(
                    2,
                    "rows = tl.where(row_mask, rows, 0)  # rows past the end read row 0, never stored",
                )
            if lay.int64:
                self.put(2, "rows = rows.to(tl.int64)")
            self.put(2, "rbase = rows * N")
        else:
            self.put(2, "o = tile // n_iblk")
            self.put(2, "i = (tile % n_iblk) * BLOCK_M + tl.arange(0, BLOCK_M)[:, None]")
            if not self.even_m:  # masked loads: a clamp would hide the contiguous inner run
                self.put(2, "row_mask = i < INNER")
            if lay.int64:
                self.put(2, "o = o.to(tl.int64)")
            self.put(2, "rows = o * INNER + i")
            self.put(2, "rbase = o * (N * INNER) + i")

    def _row_stores(self, depth: int) -> None:
        mask = "" if self.even_m else ", mask=row_mask"
        for k, out in enumerate(self.p.outputs):
            if out.kind == "row":
                self.put(
                    depth,
                    f"tl.store(out{k}_ptr + rows, {out.var}.to(out{k}_ptr.dtype.element_ty){mask})",
                )
        for k, out in enumerate(self.p.outputs):
            if out.kind == "outer":  # one value per outer index, from the first inner row
                value = f"{out.var}.to(out{k}_ptr.dtype.element_ty)"
                self.put(depth, f"tl.store(out{k}_ptr + o + i * 0, {value}, mask=i == 0)")
        for k, part in enumerate(self.p.partials):
            self.put(
                depth, f"tl.store(part_ptr + {k} * n_rows + rows, {part.var}.to(tl.float32){mask})"
            )

    def _full_stores(self, depth: int) -> None:
        masks = ([] if self.even_m else ["row_mask"]) + ([] if self.even_n else ["col_mask"])
        mask = f", mask={' & '.join(masks)}" if masks else ""
        for k, out in enumerate(self.p.outputs):
            if out.kind != "full":
                continue
            value = out.var
            if self.rshape.get(out.var) != "tile":
                value = f"tl.broadcast_to({value}, (BLOCK_M, BLOCK_N))"
            self.put(
                depth, f"tl.store(out{k}_ptr + flat, {value}.to(out{k}_ptr.dtype.element_ty){mask})"
            )

    # ---- single ----------------------------------------------------------------------------
    def _single_body(self, hoisted: list[Op]) -> None:
        body = [op for op in self.p.ops if op not in hoisted]
        has_full = any(o.kind == "full" for o in self.p.outputs)
        if self.uses_flat(body, has_full):
            self.put(2, self.flat_line())
        for op in body:
            if isinstance(op, Reduce):
                for line in self._single_reduce(op):
                    self.put(2, line)
            else:
                self.put(2, self.op_line(op))
        self._full_stores(2)

    def _single_reduce(self, r: Reduce) -> list[str]:
        a, out = r.arg, r.outs[0]
        if r.kind == "sum":
            return [f"{out} = tl.sum({self.masked(a, '0.0')}, axis=1)[:, None]"]
        if r.kind in ("max", "min"):
            return [f"{out} = tl.{r.kind}({self.masked(a, IDENT[r.kind])}, axis=1)[:, None]"]
        if r.kind == "prod":
            return [f"{out} = tl.reduce({self.masked(a, '1.0')}, 1, _kv_mul)[:, None]"]
        if r.kind in ("argmax", "argmin"):
            return [
                f"{out} = tl.{r.kind}({self.masked(a, IDENT[r.kind])}, axis=1)[:, None].to(tl.int64)"
            ]
        if r.kind == "welford":
            mean, m2 = r.outs
            dev = self.masked(a, "0.0", f"{a} - {mean}")
            return [
                f"{mean} = tl.sum({self.masked(a, '0.0')}, axis=1)[:, None] / {float(self.p.n_len)!r}",
                f"d_{mean} = {dev}",
                f"{m2} = tl.sum(d_{mean} * d_{mean}, axis=1)[:, None]",
            ]
        if r.kind == "gather":
            return [f"{out} = {self._gather_chunk(r)}"]
        if r.kind.startswith("inner_"):  # over the inner rows: the tile holds all of them
            how = r.kind.removeprefix("inner_")
            x = a if self.even_m else f"tl.where(row_mask, {a}, {IDENT.get(how, '0.0')})"
            return [f"{out} = tl.broadcast_to(tl.{how}({x}, axis=0)[None, :], (BLOCK_M, 1))"]
        raise ValueError(f"unknown reduction {r.kind}")

    def _gather_chunk(self, r: Reduce) -> str:
        """The element at column ``index`` of this tile (zero when the column is elsewhere)."""
        cond = f"(cols == {r.index})" if self.even_n else f"(col_mask & (cols == {r.index}))"
        zero = "0.0" if r.kinds[0] == "f" else "0"
        return f"tl.sum(tl.where({cond}, {r.arg}, {zero}), axis=1)[:, None]"

    # ---- looped ----------------------------------------------------------------------------
    def _closure(self, roots: list[str]) -> list[Op]:
        """Tile steps (in program order) computing ``roots`` from loads and known rows."""
        need: set[str] = set()
        stack = list(roots)
        while stack:
            name = stack.pop()
            op = self.producer.get(name)
            if (
                isinstance(op, (Load, Compute))
                and op.domain == "tile"
                and op.shape != "scalar"
                and name not in need
            ):
                need.add(name)
                stack.extend(used(op))
        return [op for op in self.p.ops if isinstance(op, (Load, Compute)) and op.var in need]

    def _chunk_head(self, depth: int, ops: list[Op], full_store: bool) -> None:
        stages = f", num_stages={self.lay.stages}" if self.lay.stages > 1 else ""
        self.put(depth, f"for start in tl.range(0, N, BLOCK_N{stages}):")
        self.put(depth + 1, "cols = start + tl.arange(0, BLOCK_N)[None, :]")
        if not self.even_n:
            self.put(depth + 1, "col_mask = cols < N")
        if self.uses_flat(ops, full_store):
            self.put(depth + 1, self.flat_line())
        for op in ops:
            self.put(depth + 1, self.op_line(op))

    def _looped_body(self, hoisted: list[Op]) -> None:
        rest = [op for op in self.p.ops if op not in hoisted]
        self._row_ops(rest, 0)
        depth = max((self.level[r.outs[0]] for r in self.p.reductions()), default=0)
        for level in range(1, depth + 1):
            reds = [r for r in self.p.reductions() if self.level[r.outs[0]] == level]
            roots = []
            for r in reds:
                roots.append(r.online[0] if r.online else r.arg)
            self.put(2, f"# pass {level}: {', '.join(r.kind for r in reds)}")
            for r in reds:
                for line in init_lines(self, r):
                    self.put(2, line)
            self._chunk_head(2, self._closure(roots), False)
            for r in reds:
                for line in update_lines(self, r):
                    self.put(3, line)
            self._row_ops(rest, level)
        fulls = [o.var for o in self.p.outputs if o.kind == "full"]
        if fulls:
            self.put(2, "# final pass: full outputs")
            self._chunk_head(2, self._closure(fulls), True)
            self._full_stores(3)

    def _row_ops(self, ops: list[Op], level: int) -> None:
        """Row steps and reduction results of one level, in program order."""
        for op in ops:
            if isinstance(op, Reduce):
                if self.level[op.outs[0]] == level:
                    for line in finish_lines(self, op):
                        self.put(2, line)
            elif op.domain == "row" and self.level[op.var] == level:
                self.put(2, self.op_line(op))


def kernel_source(program: RowProgram, layout: Layout) -> str:
    """The kernel text of one configuration."""
    return KernelWriter(program, layout).write()
