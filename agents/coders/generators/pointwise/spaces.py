"""Parameter spaces, first drafts and safe fallbacks of the Triton templates.

Defaults follow the Triton tutorials: a whole row in one power-of-two tile when it fits,
warps scaled with the tile (about 8 elements a thread), grouped GEMM ordering. Warp size
and the persistent grid come from the target; AMD targets add ``waves_per_eu`` (and, for
GEMMs, ``matrix_instr_nonkdim``) and keep ``num_stages`` at 1-2 as the AMD backend expects.
"""

from __future__ import annotations

from agents.coders.kit.chip import is_hip, smem_bytes, warp_size, warps_for
from agents.coders.kit.opspec import OpSpec
from agents.coders.kit.space import Params, Space, matmul_tile_fallbacks, next_pow2
from tools.records import Target

WARPS = (1, 2, 4, 8, 16)
PERSISTENT = (0, 1, 2, 4, 8)
"""Programs per compute unit for a persistent grid; 0 launches one program per block."""
ROW_BLOCK_N = (128, 256, 512, 1024, 2048, 4096, 8192)
SINGLE_MAX_COLS = 16384
"""Longest row (after rounding up to a power of two) the single-tile variants hold."""
TILE_ELEMENTS = 32768
"""Most elements one program's tile may hold (register pressure)."""

def _stages(target: Target, matmul: bool = False) -> tuple[int, ...]:
    if is_hip(target):
        return (1, 2)
    return (1, 2, 3, 4, 5) if matmul else (1, 2, 3, 4)


def _amd(target: Target, matmul: bool = False) -> dict[str, tuple[int, ...]]:
    if not is_hip(target):
        return {}
    extra = {"waves_per_eu": (0, 1, 2, 4)}
    if matmul:
        extra = {"waves_per_eu": (0, 1, 2), "matrix_instr_nonkdim": (16, 32)}
    return extra


def _amd_defaults(target: Target, waves: int = 0, matmul: bool = False) -> Params:
    if not is_hip(target):
        return {}
    return {"waves_per_eu": waves, **({"matrix_instr_nonkdim": 16} if matmul else {})}


# ---- pointwise -----------------------------------------------------------------------------
def pointwise_space(spec: OpSpec, target: Target) -> Space:
    """Flat 1-D blocks: BLOCK_SIZE, warps, persistent grid."""
    ws = warp_size(target)
    choices = {
        "BLOCK_SIZE": (256, 512, 1024, 2048, 4096, 8192, 16384),
        "num_warps": WARPS,
        "persistent": PERSISTENT,
        **_amd(target),
    }

    def check(p: Params) -> bool:
        per_thread = p["BLOCK_SIZE"] // (p["num_warps"] * ws)
        return 1 <= per_thread <= 64

    return Space("triton.pointwise", {"flat": choices}, check)


def pointwise_seeds(spec: OpSpec, target: Target) -> list[Params]:
    """Three flat configurations: medium blocks, large blocks, a persistent grid."""
    amd = _amd_defaults(target)
    return [
        {"variant": "flat", "BLOCK_SIZE": 1024, "num_warps": 4, "persistent": 0, **amd},
        {"variant": "flat", "BLOCK_SIZE": 4096, "num_warps": 8, "persistent": 0, **amd},
        {
            "variant": "flat",
            "BLOCK_SIZE": 2048,
            "num_warps": 4,
            "persistent": 4,
            **_amd_defaults(target, 2),
        },
    ]


def pointwise_safer(params: Params, spec: OpSpec, target: Target) -> list[Params]:
    """Smaller blocks, then the plainest launch."""
    amd = _amd_defaults(target)
    half = max(256, params["BLOCK_SIZE"] // 2)
    return [
        {
            **params,
            "BLOCK_SIZE": half,
            "num_warps": min(params["num_warps"], 4),
            "persistent": 0,
            **amd,
        },
        {"variant": "flat", "BLOCK_SIZE": 1024, "num_warps": 4, "persistent": 0, **amd},
        {"variant": "flat", "BLOCK_SIZE": 256, "num_warps": 1, "persistent": 0, **amd},
    ]


# ---- row ops (softmax, reduce, norm, cumsum) --------------------------------------------
def _cols(spec: OpSpec) -> int:
    return next_pow2(spec.cols or 1024)


def row_space(spec: OpSpec, target: Target) -> Space:
    """``single`` (whole row in a tile, when it fits) and ``looped`` (BLOCK_N chunks)."""
    np2 = _cols(spec)
    common = {
        "num_warps": WARPS,
        "num_stages": _stages(target),
        "persistent": PERSISTENT,
        **_amd(target),
    }
    variants: dict[str, dict[str, tuple[int, ...]]] = {}
    if np2 <= SINGLE_MAX_COLS:
        variants["single"] = {"BLOCK_M": (1, 2, 4, 8, 16, 32), **common}
    variants["looped"] = {"BLOCK_M": (1, 2, 4), "BLOCK_N": ROW_BLOCK_N, **common}

    def check(p: Params) -> bool:
        if p["variant"] == "single":
            return p["BLOCK_M"] * np2 <= TILE_ELEMENTS
        return p["BLOCK_M"] * p["BLOCK_N"] <= TILE_ELEMENTS // 2 and p["BLOCK_N"] <= max(128, np2)

    return Space(f"triton.{spec.family}", variants, check)


def _looped(
    block_n: int, block_m: int, target: Target, persistent: int = 0, waves: int = 0
) -> Params:
    return {
        "variant": "looped",
        "BLOCK_M": block_m,
        "BLOCK_N": block_n,
        "num_warps": warps_for(block_m * block_n, target),
        "num_stages": 2,
        "persistent": persistent,
        **_amd_defaults(target, waves),
    }


def row_seeds(spec: OpSpec, target: Target) -> list[Params]:
    """A packed single tile, a tutorial-style persistent single tile, and a looped variant."""
    np2 = _cols(spec)
    if np2 <= SINGLE_MAX_COLS:
        block_m = max(1, min(32, 4096 // np2))
        packed = {
            "variant": "single",
            "BLOCK_M": block_m,
            "num_warps": warps_for(block_m * np2, target),
            "num_stages": 2,
            "persistent": 0,
            **_amd_defaults(target),
        }
        persistent = {**packed, "BLOCK_M": 1, "num_warps": warps_for(np2, target), "persistent": 4}
        seeds = [packed, persistent, _looped(min(2048, max(128, np2 // 2)), 1, target, waves=2)]
    else:
        seeds = [
            _looped(4096, 1, target),
            _looped(2048, 1, target, persistent=2, waves=2),
            _looped(1024, 2, target),
        ]
    unique: list[Params] = []
    for s in seeds:
        if s not in unique:
            unique.append(s)
    return unique


def row_safer(params: Params, spec: OpSpec, target: Target) -> list[Params]:
    """One row at a time, then the looped variant with ever smaller chunks."""
    np2 = _cols(spec)
    out: list[Params] = []
    if params["variant"] == "single" and (params["BLOCK_M"] > 1 or params["persistent"]):
        out.append({**params, "BLOCK_M": 1, "persistent": 0, "num_warps": warps_for(np2, target)})
    block_n = params.get("BLOCK_N", min(1024, np2))
    for bn in (block_n // 2, 1024, 512, 256):
        if 128 <= bn <= max(128, np2):
            out.append({**_looped(bn, 1, target), "num_stages": 1})
    return out


# ---- matmul ---------------------------------------------------------------------------------
def matmul_space(spec: OpSpec, target: Target) -> Space:
    """Tiled GEMM: BLOCK_M/N/K, GROUP_M, warps, stages; shared memory and accumulator bounded."""
    smem = smem_bytes(target)
    ws = warp_size(target)
    choices = {
        "BLOCK_M": (16, 32, 64, 128, 256),
        "BLOCK_N": (16, 32, 64, 128, 256),
        "BLOCK_K": (16, 32, 64, 128),
        "GROUP_M": (1, 4, 8, 16),
        "num_warps": (2, 4, 8),
        "num_stages": _stages(target, matmul=True),
        **_amd(target, matmul=True),
    }

    def check(p: Params) -> bool:
        tile_bytes = (p["BLOCK_M"] + p["BLOCK_N"]) * p["BLOCK_K"] * spec.elem_bytes
        acc_per_thread = p["BLOCK_M"] * p["BLOCK_N"] // (p["num_warps"] * ws)
        if p.get("matrix_instr_nonkdim") == 32 and min(p["BLOCK_M"], p["BLOCK_N"]) < 32:
            return False
        return max(p["num_stages"], 1) * tile_bytes <= smem and 1 <= acc_per_thread <= 256

    return Space("triton.matmul", {"tiled": choices}, check)


def _fit(params: Params, space: Space) -> Params:
    """Shrink a seed until the target's limits accept it (stages, then K, then M/N)."""
    p = dict(params)
    for key, floor in (("num_stages", 1), ("BLOCK_K", 16), ("BLOCK_N", 16), ("BLOCK_M", 16)):
        while not space.is_legal(p) and p[key] > floor:
            p[key] = p[key] - 1 if key == "num_stages" else p[key] // 2
    return p


def matmul_seeds(spec: OpSpec, target: Target) -> list[Params]:
    """Large, medium and tall tiles, clipped to the matrix and fitted to the target."""
    space = matmul_space(spec, target)
    cap_m = max(16, next_pow2(spec.rows or 256))
    cap_n = max(16, next_pow2(spec.cols or 256))
    stages = 2 if is_hip(target) else 3
    shapes = [
        (128, 128, 32, 8, stages),
        (64, 64, 32, 4, stages + (0 if is_hip(target) else 1)),
        (128, 64, 64, 4, stages),
    ]
    seeds: list[Params] = []
    for i, (bm, bn, bk, warps, st) in enumerate(shapes):
        p = {
            "variant": "tiled",
            "BLOCK_M": min(bm, cap_m),
            "BLOCK_N": min(bn, cap_n),
            "BLOCK_K": bk,
            "GROUP_M": 8,
            "num_warps": warps,
            "num_stages": st,
            **_amd_defaults(target, waves=(0, 2, 0)[i], matmul=True),
        }
        if is_hip(target) and i == 2:
            p["matrix_instr_nonkdim"] = 32 if min(p["BLOCK_M"], p["BLOCK_N"]) >= 32 else 16
        p = _fit(p, space)
        while not space.is_legal(p) and p["num_warps"] > 2:
            p["num_warps"] //= 2
        if space.is_legal(p) and p not in seeds:
            seeds.append(p)
    return seeds


def matmul_safer(params: Params, spec: OpSpec, target: Target) -> list[Params]:
    """Halved tiles and a shallow pipeline, then a small plain tile."""
    amd = _amd_defaults(target, matmul=True)
    halved, plain = matmul_tile_fallbacks(params, amd)
    return [halved, plain, {**plain, "BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 2}]
