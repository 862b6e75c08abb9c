"""Parameter space, first drafts and safe fallbacks of the ``triton.pool`` template.

Pooling is memory-bound: a tile should be wide along the contiguous output row (coalesced
stores, neighbouring windows sharing cache lines), tall enough that small planes pack into
one program, and small enough that the grid still has several programs per SM/CU. Windowed
pooling (``window``) holds about 4 outputs per thread, each of which issues KH x KW
loads; global averaging (``global``) walks each row in BLOCK_C chunks at about 8 elements
per thread. Column-stride-2 windows also get ``pair`` (see ``pair_ok``), seeded first: one
16-byte vector per lane per input row, ROWS output rows per strip. AMD targets add
``waves_per_eu``.
"""

from __future__ import annotations

from agents.coders.generators.pooling.recognize import PoolSpec
from agents.coders.kit.chip import is_hip, warp_size
from agents.coders.kit.space import Params, Space, next_pow2
from tools.records import Target

TEMPLATE = "triton.pool"
WARPS = (1, 2, 4, 8)
ROWS = (1, 2, 4, 8, 16, 32, 64)
PAIR_ROWS = (1, 2, 4, 8, 16)
MIN_TILE = 2048
"""Smallest windowed seed tile (outputs per program). Below ~4 programs per SM/CU of this
size the output is small enough that the launch, not the tile, decides the time; smaller
tiles only multiply programs, and the Triton interpreter (the CPU check) pays per program
(a 1-D window of 8 taps costs ~45 ms a program there), so a 260k-output row set took
~50 s a call at 256-element tiles. The search still proposes smaller tiles."""


def _amd(target_hip: bool) -> dict[str, tuple[int, ...]]:
    return {"waves_per_eu": (0, 1, 2, 4)} if target_hip else {}


def pool_space(spec: PoolSpec, target: Target) -> Space:
    """``window`` (max/avg pooling) or ``global`` (mean over trailing dims) tiles and warps."""
    hip = is_hip(target)
    ws = warp_size(target)
    cap_r, cap_c = max(1, next_pow2(spec.rows)), max(16, next_pow2(spec.cols))
    if spec.kind == "global_avg":
        choices = {
            "BLOCK_R": ROWS,
            "BLOCK_C": (16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
            "num_warps": WARPS,
            **_amd(hip),
        }
        variant, col_key, most = "global", "BLOCK_C", 8192
    else:
        choices = {
            "BLOCK_R": ROWS,
            "BLOCK_W": (16, 32, 64, 128, 256),
            "num_warps": WARPS,
            **_amd(hip),
        }
        variant, col_key, most = "window", "BLOCK_W", 4096

    variants = {variant: choices}
    if pair_ok(spec):
        variants["pair"] = {
            "ROWS": PAIR_ROWS,
            "BLOCK_P": ROWS,
            "BLOCK_W": (16, 32, 64, 128, 256),
            "num_warps": WARPS,
            **_amd(hip),
        }

    def check(p: Params) -> bool:
        if p["variant"] == "pair":
            loaded = 2 * p["BLOCK_P"] * p["BLOCK_W"]  # input elements per row load
            per_thread = loaded // (p["num_warps"] * ws)
            fits = p["BLOCK_P"] <= cap_r and p["BLOCK_W"] <= cap_c and loaded <= 2 * most
            return fits and 1 <= per_thread <= 16
        tile = p["BLOCK_R"] * p[col_key]
        per_thread = tile // (p["num_warps"] * ws)
        fits = p["BLOCK_R"] <= cap_r and p[col_key] <= cap_c and tile <= most
        return fits and per_thread <= 32 and (per_thread >= 1 or p["num_warps"] == 1)

    return Space(TEMPLATE, variants, check)


def pair_ok(spec: PoolSpec) -> bool:
    """Whether the ``pair`` kernel applies: column stride 2 over a 2-wide (no padding) or
    3-wide (padding 1) window, no dilation, and windows overlapping by at most one row."""
    return (
        spec.kind in ("max", "avg")
        and spec.stride[1] == 2
        and spec.dilation == (1, 1)
        and (spec.kernel[1], spec.padding[1]) in ((2, 0), (3, 1))
        and spec.kernel[0] <= spec.stride[0] + 1
    )


def pair_seeds(spec: PoolSpec, target: Target) -> list[Params]:
    """Two ``pair`` tiles: whole output rows (up to 128 columns) with one 16-byte vector per
    lane per row load, ROWS output rows per strip (8, then 4 with twice the strips), fewer
    strips per program when the grid would not give about four programs per SM/CU."""
    ws = warp_size(target)
    wanted = 4 * max(1, target.compute_units)
    oh, ow = spec.out_shape[-2], spec.out_shape[-1]
    planes = max(1, spec.rows // max(1, oh))
    width = min(128, max(16, next_pow2(ow)))
    out: list[Params] = []
    for i, (rows, strips) in enumerate(((8, 4), (4, 8))):
        rows = min(rows, max(1, next_pow2(oh)))
        n_strips = planes * -(-oh // rows)
        while strips > 1 and -(-n_strips // strips) * -(-ow // width) < wanted:
            strips //= 2
        strips = max(strips, ws // (2 * width))  # at least one input element per lane
        per_lane = 16 // spec.elem_bytes  # one 16-byte vector per lane and row load
        warps = min(8, max(1, 2 * strips * width // (per_lane * ws)))
        p: Params = {"variant": "pair", "ROWS": rows, "BLOCK_P": strips, "BLOCK_W": width,
                     "num_warps": warps}  # fmt: skip
        if is_hip(target):
            p["waves_per_eu"] = (0, 2)[i]
        if p not in out:
            out.append(p)
    return out


def _prev_pow2(n: int) -> int:
    return 1 << max(int(n).bit_length() - 1, 0)


def pool_seeds(spec: PoolSpec, target: Target) -> list[Params]:
    """Three tiles: sized for about four programs per SM/CU, one taller, one smaller.

    When ``pair`` applies: its two tiles (``pair_seeds``), then the first ``window`` tile.
    """
    space = pool_space(spec, target)
    ws = warp_size(target)
    wanted = 4 * max(1, target.compute_units)
    if spec.kind == "global_avg":  # (rows, columns, elements per thread)
        cols = min(1024, max(16, next_pow2(spec.cols)))
        rows = min(max(1, 4096 // cols), _prev_pow2(max(1, spec.rows // wanted)))
        shapes = [(rows, cols, 8), (max(1, rows // 2), cols, 4), (2 * rows, max(16, cols // 4), 8)]
    else:
        cols = min(128, max(16, next_pow2(spec.cols)))
        tile = min(2048, max(MIN_TILE, _prev_pow2(max(1, spec.rows * spec.cols // wanted))))
        rows = max(1, tile // cols)
        shapes = [(rows, cols, 4), (2 * rows, cols, 4), (max(1, rows // 2), cols, 2)]
    variant = next(iter(space.variants))
    col_key = "BLOCK_C" if variant == "global" else "BLOCK_W"
    seeds: list[Params] = []
    for i, (rows, cols, per_thread) in enumerate(shapes):
        rows = max(1, min(64, rows, next_pow2(spec.rows)))
        warps = min(8, max(1, next_pow2(rows * cols // (per_thread * ws))))
        p: Params = {"variant": variant, "BLOCK_R": rows, col_key: cols, "num_warps": warps}
        if is_hip(target):
            p["waves_per_eu"] = (0, 2, 0)[i]
        fitted = _legal(p, space)
        if fitted is not None and fitted not in seeds:
            seeds.append(fitted)
    if "pair" in space.variants:  # two pair tiles first, the best window tile kept as a fallback
        pairs = [p for p in pair_seeds(spec, target) if space.is_legal(p)]
        seeds = [*pairs, *seeds][: len(pairs) + 1]
    return seeds


def _legal(p: Params, space: Space) -> Params | None:
    """``p``, or the nearest legal tile with fewer rows or more/fewer warps."""
    if space.is_legal(p):
        return p
    for rows in [r for r in ROWS if r <= p["BLOCK_R"]][::-1]:
        for warps in sorted(WARPS, key=lambda w: abs(w - p["num_warps"])):
            cand = {**p, "BLOCK_R": rows, "num_warps": warps}
            if space.is_legal(cand):
                return cand
    return None


def pool_safer(params: Params, spec: PoolSpec, target: Target) -> list[Params]:
    """Half the rows, then one row of 128 (or less) columns with 4 warps, then the smallest."""
    space = pool_space(spec, target)
    col_key = "BLOCK_C" if spec.kind == "global_avg" else "BLOCK_W"
    amd = {"waves_per_eu": 0} if is_hip(target) else {}
    out: list[Params] = []
    if params["variant"] == "pair":  # a smaller pair tile, then the plain window kernel
        half = {**params, "ROWS": max(1, params["ROWS"] // 2), **amd}
        half["BLOCK_P"] = max(1, params["BLOCK_P"] // 2)
        half["num_warps"] = max(1, params["num_warps"] // 2)
        width = min(128, params["BLOCK_W"])
        window = {"variant": "window", "BLOCK_R": 1, "BLOCK_W": width, "num_warps": 4, **amd}
        for p in (half, window):
            fitted = p if space.is_legal(p) else None
            if p["variant"] == "window":
                fitted = _legal(p, space)
            if fitted is not None and fitted not in out:
                out.append(fitted)
        return out
    for p in (
        {**params, "BLOCK_R": max(1, params["BLOCK_R"] // 2), **amd},
        {**params, "BLOCK_R": 1, col_key: min(128, params[col_key]), "num_warps": 4, **amd},
        {**params, "BLOCK_R": 1, col_key: 16, "num_warps": 1, **amd},
    ):
        fitted = _legal(p, space)
        if fitted is not None and fitted not in out:
            out.append(fitted)
    return out
