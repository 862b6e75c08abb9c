"""Parameter space, first drafts and safe fallbacks of ``triton.rowfused``.

``single`` holds a whole row in one power-of-two tile (``BLOCK_M`` rows a program for short
rows); ``looped`` walks rows in ``BLOCK_N`` chunks. Both take ``num_warps``, ``num_stages``,
a persistent grid (programs per SM, 0 = one program per tile) and on AMD ``waves_per_eu``.
Registers bound the tile: about ``REG_ELEMENTS`` fp32 values a thread over the live tiles.
Seeds follow what an expert writes for the shape: a single tile up to ``SEED_SINGLE_MAX``
columns with ~16 elements a thread, enough rows a program that short rows fill a tile of
``TILE_TARGET`` elements without starving the grid, long rows in 4096-column chunks.

``split`` (programs whose reductions read a row once and merge, see ``emit_split``) cuts
each row into column ranges: the seeds start with it when there are too few tiles of rows
to keep every SM busy (argmax over a vocabulary, a whole-vector norm, a column reduction).
Long rows whose looped kernel needs more than one pass (a full output after a reduction: the
row is read again) start with what reads each row from HBM once: a whole row in registers
with 16 or 32 warps up to ``SINGLE_MAX`` columns, else a persistent grid with few enough rows
in flight that the second pass finds the row in L2 (``L2_SHARE`` of the cache).
"""

from __future__ import annotations

import math

from agents.coders.generators.rowfused.emit_split import split_ok
from agents.coders.generators.rowfused.ir import RowProgram, levels
from agents.coders.kit.chip import is_hip, smem_bytes, warp_size
from agents.coders.kit.space import Params, Space, next_pow2
from tools.records import Target

WARPS = (1, 2, 4, 8, 16, 32)
"""32 warps (1024 threads) only where the warp is 32 lanes wide (one workgroup's limit)."""
PERSISTENT = (0, 1, 2, 4, 8)
ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CHUNKS = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
SINGLE_MAX = 32768
"""Longest row (rounded up to a power of two) a ``single`` tile may hold."""
SEED_SINGLE_MAX = 16384
"""Longest row the seeds put in one tile; longer rows start looped."""
REG_ELEMENTS = 128
"""fp32 tile values a thread may hold over the live tiles (register budget)."""
TILE_TARGET = 4096
"""Elements a program's tile aims for when rows are short."""
PER_THREAD = 16
"""Elements a thread handles in the expert seed (four 128-bit loads of fp32)."""
SPLIT_WAVES = (4, 8, 16)
"""Programs an SM the ``split`` variant aims for (ranges a row = that times SMs / rows)."""
SPLIT_ROWS = 4
"""The seeds split long rows when there are fewer than this many tiles of rows an SM."""
L2_SHARE = 0.5
"""Share of the L2 cache the rows in flight may fill when a second pass must hit L2."""
MAX_THREADS = 1024
"""Threads of one program (CUDA block / HIP workgroup limit)."""


def _live(program: RowProgram) -> int:
    return max(2, program.tile_loads() + 1)


def _span(program: RowProgram) -> int:
    """Rows a tile of ``BLOCK_M`` ranges over: all rows, or the inner index when ``inner > 1``."""
    return program.inner if program.inner > 1 else program.rows



def space(program: RowProgram, target: Target) -> Space:
    """The legal configurations for this program on this target.

    A pipelined loop (``num_stages`` > 1: chunks of ``looped``, persistent tiles of
    ``single``) stages ``num_stages - 1`` tiles of every streamed operand in shared memory,
    which must fit the target's per-block shared memory.
    """
    ws = warp_size(target)
    smem = smem_bytes(target)
    loads = max(1, program.tile_loads())
    np2 = next_pow2(program.n_len)
    live = _live(program)
    span = next_pow2(_span(program))
    amd = {"waves_per_eu": (0, 1, 2, 4)} if is_hip(target) else {}
    common = {"num_warps": WARPS, "num_stages": (1, 2, 3), "persistent": PERSISTENT, **amd}
    variants: dict[str, dict[str, tuple[int, ...]]] = {}
    if np2 <= SINGLE_MAX:
        variants["single"] = {"BLOCK_M": ROWS, **common}
    if program.reduces_inner():  # a tile holds every inner row of one outer index
        variants = {"single": {"BLOCK_M": (span,), **common}} if np2 <= SINGLE_MAX else {}
    else:
        variants["looped"] = {"BLOCK_M": ROWS[:7], "BLOCK_N": CHUNKS, **common}
    if split_ok(program) and "looped" in variants:
        variants["split"] = {
            "BLOCK_M": ROWS[:7],
            "BLOCK_N": CHUNKS,
            **common,
            "persistent": (0,),
            "waves": SPLIT_WAVES,
        }

    def check(p: Params) -> bool:
        block_n = np2 if p["variant"] == "single" else p["BLOCK_N"]
        if p["variant"] != "single" and block_n > max(CHUNKS[0], np2):
            return False
        if p["BLOCK_M"] > max(1, span):
            return False
        elements = p["BLOCK_M"] * block_n
        per_thread = elements / (p["num_warps"] * ws)
        if p["num_warps"] > 1 and per_thread < 1:
            return False
        if p["num_warps"] * ws > MAX_THREADS:
            return False
        pipelined = p["variant"] != "single" or p["persistent"] > 0
        staged = (p["num_stages"] - 1) * elements * program.elem_bytes * loads if pipelined else 0
        return per_thread * live <= REG_ELEMENTS and staged <= smem // 2

    return Space("triton.rowfused", variants, check)


def _warps(elements: int, ws: int, per_thread: int = PER_THREAD) -> int:
    return min(max(next_pow2(max(elements // (per_thread * ws), 1)), 1), 16)


def _amd(target: Target, waves: int = 0) -> Params:
    return {"waves_per_eu": waves} if is_hip(target) else {}


def _fit(p: Params, sp: Space) -> Params:
    """Unstage, raise warps, shrink rows, then chunks, until the target's limits accept ``p``."""
    p = dict(p)
    while not sp.is_legal(p):
        if p["num_stages"] > 1:
            p["num_stages"] -= 1
        elif p["num_warps"] < 16 and p["BLOCK_M"] == 1:
            p["num_warps"] *= 2
        elif p["BLOCK_M"] > 1:
            p["BLOCK_M"] //= 2
        elif p["variant"] != "single" and p["BLOCK_N"] > CHUNKS[0]:
            p["BLOCK_N"] //= 2
        else:
            break
    return p


def _tiles(program: RowProgram, block_m: int) -> int:
    if program.inner == 1:
        return -(-program.rows // block_m)
    return program.outer * -(-program.inner // block_m)


def _rows_per_program(program: RowProgram, np2: int, target: Target) -> int:
    """Rows a program takes: short rows fill a tile, but the grid keeps two programs an SM."""
    floor = min(16, next_pow2(program.inner)) if program.inner > 1 else 1  # coalesced inner reads
    block_m = max(floor, TILE_TARGET // np2)
    while block_m > floor and _tiles(program, block_m) < 2 * target.compute_units:
        block_m //= 2
    return max(1, min(block_m, next_pow2(_span(program)), ROWS[-1]))


def row_fits_program(program: RowProgram, target: Target) -> bool:
    """True when one program can hold a whole row in registers on ``target``.

    A program has at most ``MAX_THREADS`` threads of ``REG_ELEMENTS`` fp32 values over the
    live tiles; a longer row is read in chunks, and when rows are few the ``split`` variant
    spreads each over several programs.
    """
    np2 = next_pow2(program.n_len)
    return np2 <= SINGLE_MAX and np2 * _live(program) <= REG_ELEMENTS * MAX_THREADS


def seeds(program: RowProgram, target: Target, split_rows: int = SPLIT_ROWS) -> list[Params]:
    """Two to four legal first configurations, the expert's choice first.

    ``split_rows``: rows an SM below which long rows are cut into column ranges (``split``).
    """
    sp = space(program, target)
    ws = warp_size(target)
    np2 = next_pow2(program.n_len)
    out: list[Params] = []
    if np2 <= SEED_SINGLE_MAX and "single" in sp.variants:
        block_m = _rows_per_program(program, np2, target)
        warps = _warps(block_m * np2, ws)
        expert = {
            "variant": "single",
            "BLOCK_M": block_m,
            "num_warps": warps,
            "num_stages": 1,
            "persistent": 0,
            **_amd(target),
        }
        fewer = {**expert, "num_warps": max(1, warps // 2)}
        persistent = {**expert, "persistent": 4, "num_stages": 2, **_amd(target, 2)}
        chunk = max(CHUNKS[0], min(4096, np2 // 2))
        looped = {
            "variant": "looped",
            "BLOCK_M": min(block_m, 4) if program.inner == 1 else block_m,
            "BLOCK_N": chunk,
            "num_warps": _warps(chunk, ws),
            "num_stages": 1,
            "persistent": 0,
            **_amd(target),
        }
        candidates = [expert, fewer, persistent, looped]
    else:
        block_m = 1 if program.inner == 1 else 32
        chunk = min(4096 if program.inner == 1 else 128, np2)
        base = {
            "variant": "looped",
            "BLOCK_M": block_m,
            "BLOCK_N": chunk,
            "num_warps": _warps(block_m * chunk, ws),
            "num_stages": 1,
            "persistent": 0,
            **_amd(target),
        }
        wide = {  # wider chunks, next chunk prefetched through shared memory
            **base,
            "BLOCK_N": min(2 * chunk, np2),
            "num_warps": min(16, 2 * base["num_warps"]),
            "num_stages": 2,
        }
        persistent = {**base, "persistent": 2, **_amd(target, 2)}
        candidates = [base, wide, persistent]
        few = "split" in sp.variants and _tiles(program, block_m) < split_rows * target.compute_units
        split = {**base, "variant": "split", "waves": 8}
        deep = {**split, "waves": 16, "num_stages": 2}
        if looped_passes(program) > 1 and program.inner == 1:
            reread = _reread_seeds(program, target, sp, base)
            if few and not row_fits_program(program, target):
                candidates = [split, deep, *reread, base]  # too few programs to fill the chip
            else:
                candidates = [*reread, base, wide] + ([split] if few else [])
        elif few:
            candidates = [split, deep, base, wide]
    for c in candidates:
        fitted = _fit(c, sp)
        if sp.is_legal(fitted) and fitted not in out:
            out.append(fitted)
    return out[:4]


def split_seed(program: RowProgram, target: Target) -> Params | None:
    """A legal ``split`` configuration (the first split seed's shape), or ``None``."""
    sp = space(program, target)
    if "split" not in sp.variants:
        return None
    block_m = 1 if program.inner == 1 else 32
    chunk = min(4096 if program.inner == 1 else 128, next_pow2(program.n_len))
    p = {
        "variant": "split",
        "BLOCK_M": block_m,
        "BLOCK_N": max(CHUNKS[0], chunk),
        "num_warps": _warps(block_m * chunk, warp_size(target)),
        "num_stages": 1,
        "persistent": 0,
        "waves": 8,
        **_amd(target),
    }
    fitted = _fit(p, sp)
    return fitted if sp.is_legal(fitted) else None


def looped_passes(program: RowProgram) -> int:
    """Times the ``looped`` variant reads a row: one pass per reduction level, one more to store."""
    lv = levels(program)
    passes = max((lv[r.outs[0]] for r in program.reductions()), default=0)
    return max(1, passes + any(o.kind == "full" for o in program.outputs))


def _reread_seeds(program: RowProgram, target: Target, sp: Space, base: Params) -> list[Params]:
    """Long rows read more than once: keep every row's bytes on chip between the passes.

    A whole row in registers (16 warps, then 32 where a program may have 1024 threads) reads
    it from HBM once; a persistent looped grid with at most ``L2_SHARE`` of the L2 in flight
    (one row a program) re-reads it from L2.
    """
    ws = warp_size(target)
    np2 = next_pow2(program.n_len)
    out: list[Params] = []
    if "single" in sp.variants:
        single = {"variant": "single", "BLOCK_M": 1, "num_stages": 1, "persistent": 0}
        for warps in (16, 32):
            p = {**single, "num_warps": warps, **_amd(target)}
            if sp.is_legal(p):
                out.append(p)
    streamed = sum(1 for o in program.operands if math.prod(o.shape) >= program.total)
    row_bytes = program.n_len * program.elem_bytes * max(1, streamed)
    budget = target.l2_cache_mib * 2**20 * L2_SHARE
    per_cu = int(budget // max(1, row_bytes * target.compute_units))
    if per_cu >= 1:
        chunk = min(8192, np2)
        out.append(
            {
                **base,
                "BLOCK_N": chunk,
                "num_warps": _warps(chunk, ws),
                "num_stages": 2,
                "persistent": min(per_cu, 2),
                **_amd(target, 1),
            }
        )
    return out


def safer(params: Params, program: RowProgram, target: Target) -> list[Params]:
    """Configurations less likely to fail: fewer rows, no persistent grid, then smaller chunks."""
    sp = space(program, target)
    ws = warp_size(target)
    np2 = next_pow2(program.n_len)
    out: list[Params] = []
    if program.reduces_inner():  # only whole inner spans: drop the grid, stages and warps
        return [_fit({**params, "persistent": 0, "num_stages": 1, "num_warps": 1}, sp)]
    if params["variant"] == "single" and (params["BLOCK_M"] > 1 or params["persistent"]):
        out.append(
            {**params, "BLOCK_M": 1, "persistent": 0, "num_stages": 1, "num_warps": _warps(np2, ws)}
        )
    block_n = params.get("BLOCK_N", min(4096, np2))
    for bn in (block_n // 2, 1024, 512, 256):
        if CHUNKS[0] <= bn <= max(CHUNKS[0], np2):
            out.append(
                {
                    "variant": "looped",
                    "BLOCK_M": 1,
                    "BLOCK_N": bn,
                    "num_warps": _warps(bn, ws),
                    "num_stages": 1,
                    "persistent": 0,
                    **_amd(target),
                }
            )
    return [_fit(p, sp) for p in out]
