"""Parameter space, first drafts and safe fallbacks of the ``triton.attention`` template.

Seeds follow the Triton fused-attention tutorial (``06-fused-attention.py``) for sm_90:
``BLOCK_M`` 128 with ``BLOCK_N`` 64 (4 warps, 4 stages for head dims <= 64; 8 warps,
3 stages for 128), the 128 x 128 tile the tutorial keeps only with 8 warps on Hopper, and a
64 x 64 tile for short sequences. AMD seeds follow ROCm's flash-attention configs (one
stage, 16x16 MFMA, ``waves_per_eu`` 2) where this kernel's VGPRs allow that occupancy. fp32 (exact ``ieee`` dots, no tensor cores) gets
smaller tiles. Head dims above 128 (up to 256, any size: tiles are padded to a power of two)
start with narrower key blocks. Every seed is shrunk to the sequence lengths and to the
target's shared memory and register budget, at the padded head dims.
"""

from __future__ import annotations

import math

from agents.coders.generators.attention.spec import AttentionSpec, padded
from agents.coders.kit.chip import is_hip, smem_bytes, warp_size
from agents.coders.kit.space import Params, Space, next_pow2
from tools.records import Target

TEMPLATE = "triton.attention"
BLOCKS = (16, 32, 64, 128)
WARPS = (1, 2, 4, 8)
MAX_REGS_PER_THREAD = 192
"""Most fp32 accumulator + score values one thread may hold on NVIDIA (above this, spills)."""
AMD_VGPR_FACTOR, AMD_VGPR_BASE = 2.5, 20
"""gfx942 VGPRs ~ 2.5 x (accumulator + scores + q values per lane) + 20, fitted on AOT
compiles of this template (e.g. fp16 D=128, 128 x 64, 8 waves: 180 estimated, 186 measured)."""



def attention_space(spec: AttentionSpec, target: Target) -> Space:
    """BLOCK_M x BLOCK_N tiles, warps, stages (and AMD waves/MFMA size), within budgets."""
    hip = is_hip(target)
    choices: dict[str, tuple[int, ...]] = {
        "BLOCK_M": BLOCKS,
        "BLOCK_N": BLOCKS,
        "num_warps": WARPS,
        "num_stages": (1, 2) if hip else (1, 2, 3, 4, 5),
    }
    if hip:
        choices |= {"waves_per_eu": (0, 1, 2, 3, 4), "matrix_instr_nonkdim": (16, 32)}
    ws, smem = warp_size(target), smem_bytes(target)
    d, dv, eb = padded(spec.head_dim), padded(spec.head_dim_v), spec.elem_bytes
    cap_m, cap_n = max(16, next_pow2(spec.seq_q)), max(16, next_pow2(spec.seq_k))

    def check(p: Params) -> bool:
        bm, bn, warps = p["BLOCK_M"], p["BLOCK_N"], p["num_warps"]
        rows = 16 if eb < 4 else 8  # fp32 dots are FMA loops: 8 query rows a warp suffice
        if bm > cap_m or bn > cap_n or warps * rows > bm:
            return False
        if hip:
            held = bm * (dv + bn + d * eb / 4) / (warps * ws)
            budget = 512 // max(p["waves_per_eu"], 1)  # VGPRs per lane at that occupancy
            if warps >= 8:  # eight waves put two on each SIMD
                budget = min(budget, 256)
            if AMD_VGPR_FACTOR * held + AMD_VGPR_BASE > budget:
                return False
        elif bm * (dv + bn + (d if eb == 4 else 0)) // (warps * ws) > MAX_REGS_PER_THREAD:
            return False
        if p.get("matrix_instr_nonkdim") == 32 and min(bm, bn) < 32:
            return False
        return (bm * d + max(p["num_stages"], 1) * bn * (d + dv)) * eb <= smem

    return Space(TEMPLATE, {"flash": choices}, check)


def _amd(target: Target, waves: int = 2) -> Params:
    return {"waves_per_eu": waves, "matrix_instr_nonkdim": 16} if is_hip(target) else {}


def _fit(params: Params, space: Space) -> Params | None:
    """The legal configuration nearest ``params``, shrinking stages, then BLOCK_N, then BLOCK_M.

    Warps move as little as possible (they must fit the tile and the register budget).
    """
    p = dict(params)
    if space.is_legal(p):
        return p
    warps = sorted(WARPS, key=lambda w: (abs(w.bit_length() - p["num_warps"].bit_length()), -w))
    waves = [{}]
    if "waves_per_eu" in p:
        waves = [{"waves_per_eu": w} for w in range(p["waves_per_eu"], -1, -1)]
    for bm in [b for b in BLOCKS if b <= p["BLOCK_M"]][::-1]:
        for bn in [b for b in BLOCKS if b <= p["BLOCK_N"]][::-1]:
            for stages in range(p["num_stages"], 0, -1):
                for extra in waves:
                    for w in warps:
                        cand = {
                            **p,
                            "BLOCK_M": bm,
                            "BLOCK_N": bn,
                            "num_stages": stages,
                            "num_warps": w,
                            **extra,
                        }
                        if space.is_legal(cand):
                            return cand
    return None


def _clip(spec: AttentionSpec, bm: int, bn: int, warps: int) -> tuple[int, int, int]:
    bm = min(bm, max(16, next_pow2(spec.seq_q)))
    bn = min(bn, max(16, next_pow2(spec.seq_k)))
    return bm, bn, max(1, min(warps, bm // 16))


def attention_seeds(spec: AttentionSpec, target: Target) -> list[Params]:
    """Three tutorial-style configurations for the shape and target, best guess first."""
    space = attention_space(spec, target)
    hip = is_hip(target)
    if spec.dtype == "float32":
        shapes = [(64, 32, 4, 2, 0), (32, 32, 2, 2, 0), (64, 64, 4, 2, 0)]
    elif hip and max(spec.head_dim, spec.head_dim_v) > 128:  # wide heads: VGPRs bound the tile
        shapes = [(64, 32, 4, 1, 1), (64, 64, 4, 1, 0), (32, 32, 2, 1, 1)]
    elif hip and spec.head_dim <= 64:
        shapes = [(128, 64, 4, 1, 2), (128, 128, 4, 1, 1), (64, 64, 4, 1, 2)]
    elif hip:
        shapes = [(128, 64, 8, 1, 2), (128, 64, 4, 1, 1), (64, 64, 4, 1, 2)]
    elif spec.head_dim <= 64:
        shapes = [(128, min(64, spec.head_dim), 4, 4, 0), (128, 128, 8, 3, 0), (64, 64, 4, 3, 0)]
    elif max(spec.head_dim, spec.head_dim_v) > 128:  # wide heads: smaller key blocks
        shapes = [(128, 32, 8, 2, 0), (64, 64, 4, 2, 0), (64, 32, 4, 2, 0)]
    else:
        shapes = [(128, 64, 8, 3, 0), (128, 128, 8, 2, 0), (64, 64, 4, 3, 0)]
    programs = -(-spec.seq_q // shapes[0][0]) * math.prod(spec.batch)
    if programs < target.compute_units:  # too few query blocks to fill the chip: smaller first
        shapes = sorted(shapes, key=lambda s: s[0] * s[1])
    seeds: list[Params] = []
    for bm, bn, warps, stages, waves in shapes:
        bm, bn, warps = _clip(spec, bm, bn, warps)
        if hip:
            stages = min(stages, 2)
        p = {
            "variant": "flash",
            "BLOCK_M": bm,
            "BLOCK_N": bn,
            "num_warps": warps,
            "num_stages": stages,
            **_amd(target, waves),
        }
        fitted = _fit(p, space)
        if fitted is not None and fitted not in seeds:
            seeds.append(fitted)
    return seeds


def attention_safer(params: Params, spec: AttentionSpec, target: Target) -> list[Params]:
    """Halved tiles with one stage, then a 64 x 32 tile, then the smallest plain tile."""
    space = attention_space(spec, target)
    halved = {
        **params,
        "BLOCK_M": max(16, params["BLOCK_M"] // 2),
        "BLOCK_N": max(16, params["BLOCK_N"] // 2),
        "num_stages": 1,
        **_amd(target, 0),
    }
    halved["num_warps"] = max(1, min(params["num_warps"], halved["BLOCK_M"] // 16))
    plain = {"variant": "flash", "num_stages": 1, **_amd(target, 0)}
    out = []
    for p in (
        halved,
        {**plain, "BLOCK_M": 64, "BLOCK_N": 32, "num_warps": 4},
        {**plain, "BLOCK_M": 32, "BLOCK_N": 16, "num_warps": 2},
        {**plain, "BLOCK_M": 16, "BLOCK_N": 16, "num_warps": 1},
    ):
        fitted = _fit(p, space)
        if fitted is not None and fitted not in out:
            out.append(fitted)
    return out
