"""Parameter spaces, first drafts and safe fallbacks of the scan and gather templates.

Scans (``triton.scan``): ``rows`` layouts get ``single`` (the whole row in one
power-of-two tile, BLOCK_A rows a program) and ``looped`` (BLOCK_L chunks with a carry);
``cols`` layouts get ``tiled`` (BLOCK_A contiguous inner positions by BLOCK_L scan steps,
optionally prefetching the next tile's loads across the carry chain: ``PREFETCH``).
Gathers (``triton.gather``): BLOCK_D embedding columns by BLOCK_R bag rows a step. AMD
targets add ``waves_per_eu`` and keep ``num_stages`` at 1-2.
"""

from __future__ import annotations

from typing import Any

from agents.coders.kit.chip import is_hip, warps_for
from agents.coders.kit.space import Params, Space, next_pow2
from tools.records import Target

WARPS = (1, 2, 4, 8, 16)
SINGLE_MAX = 16384
"""Longest scan (rounded up to a power of two) one tile holds."""
TILE = 16384
"""Most elements one program's tile may hold (register pressure of the scan)."""


def _amd(target: Target) -> dict[str, tuple[int, ...]]:
    return {"waves_per_eu": (0, 1, 2, 4)} if is_hip(target) else {}


def _amd_default(target: Target, waves: int = 0) -> Params:
    return {"waves_per_eu": waves} if is_hip(target) else {}


def _stages(target: Target) -> tuple[int, ...]:
    return (1, 2) if is_hip(target) else (1, 2, 3, 4)


def _unique(seeds: list[Params], space: Space) -> list[Params]:
    out: list[Params] = []
    for s in seeds:
        if s not in out and space.is_legal(s):
            out.append(s)
    return out


# ---- scans ----------------------------------------------------------------------------------
def scan_space(spec: Any, target: Target) -> Space:
    """The scan's legal configurations for its layout."""
    np2 = next_pow2(spec.length)
    stages = {"num_stages": _stages(target)}
    variants: dict[str, dict[str, tuple[int, ...]]] = {}
    if spec.layout == "rows":
        if np2 <= SINGLE_MAX:
            variants["single"] = {
                "BLOCK_A": (1, 2, 4, 8, 16, 32),
                "num_warps": WARPS,
                **_amd(target),
            }
        variants["looped"] = {
            "BLOCK_A": (1, 2, 4),
            "BLOCK_L": (256, 512, 1024, 2048, 4096, 8192),
            "num_warps": WARPS,
            **stages,
            **_amd(target),
        }
    else:
        variants["tiled"] = {
            "BLOCK_A": (4, 8, 16, 32, 64, 128, 256),
            "BLOCK_L": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            "PREFETCH": (0, 1),
            "num_warps": WARPS,
            **stages,
            **_amd(target),
        }
        if not spec.reverse_lanes:
            variants["chained"] = {
                "BLOCK_A": (8, 16, 32, 64, 128),
                "BLOCK_L": (32, 64, 128, 256, 512, 1024),
                "num_warps": WARPS,
                **_amd(target),
            }

    def check(p: Params) -> bool:
        if p["variant"] == "single":
            return p["BLOCK_A"] * np2 <= TILE
        if p["variant"] == "looped":
            return p["BLOCK_A"] * p["BLOCK_L"] <= TILE and p["BLOCK_L"] <= max(256, np2)
        if p["variant"] == "chained":
            return p["BLOCK_A"] * p["BLOCK_L"] <= TILE // 2 and p["BLOCK_L"] <= max(32, np2)
        return p["BLOCK_A"] * p["BLOCK_L"] <= TILE // 2 and p["BLOCK_L"] <= np2

    return Space("triton.scan", variants, check)


def _looped(block_l: int, target: Target, waves: int = 0) -> Params:
    return {
        "variant": "looped",
        "BLOCK_A": 1,
        "BLOCK_L": block_l,
        "num_warps": warps_for(block_l, target, cap=8),
        "num_stages": 2 if is_hip(target) else 3,
        **_amd_default(target, waves),
    }


def _single(block_a: int, np2: int, target: Target, waves: int = 0, cap: int = 8) -> Params:
    return {
        "variant": "single",
        "BLOCK_A": block_a,
        "num_warps": warps_for(block_a * np2, target, cap=cap),
        **_amd_default(target, waves),
    }


def _tiled(
    block_a: int, block_l: int, target: Target, waves: int = 0, warps: int = 0, prefetch: int = 1
) -> Params:
    return {
        "variant": "tiled",
        "BLOCK_A": block_a,
        "BLOCK_L": block_l,
        "PREFETCH": prefetch,
        "num_warps": warps or warps_for(block_a * block_l, target),
        "num_stages": 2 if is_hip(target) else 3,
        **_amd_default(target, waves),
    }


def _chained(block_a: int, block_l: int, target: Target, warps: int, waves: int = 0) -> Params:
    return {
        "variant": "chained",
        "BLOCK_A": block_a,
        "BLOCK_L": block_l,
        "num_warps": warps,
        **_amd_default(target, waves),
    }


def _cols_width(spec: Any, target: Target) -> int:
    """Inner positions a program of a strided scan owns: as wide as 3 waves of programs allow.

    Each program walks the whole scan dim with a carry, so the programs (``n_outer *
    n_inner / BLOCK_A``) are the only parallelism: (64, 4096, 256) gets 32 columns (128-byte
    rows, 512 programs) rather than 128 (128 programs, a single partial wave).
    """
    floor = max(4, min(32, next_pow2(spec.inner)))
    for width in (128, 64, 32):
        if width <= max(floor, next_pow2(spec.inner)) and (
            spec.outer * -(-spec.inner // width) >= 3 * target.compute_units
        ):
            return width
    return floor


def scan_seeds(spec: Any, target: Target) -> list[Params]:
    """Two to four first drafts from the scan's shape, an expert's default first.

    Short rows pack several rows into one tile; rows up to 16K elements fit one tile (the
    loop runs once); longer rows walk 2-4K chunks with a carry. Strided scans take 128
    contiguous inner positions a program as 3 waves of programs allow (see ``_cols_width``)
    by enough scan steps for a 2K-element tile, with 4 warps (16 elements a thread), the
    next tile's loads issued before the current tile is scanned (``PREFETCH``); the third
    draft is a wider tile without prefetch. Strided scans of 256 steps or more put first a
    ``chained`` draft: chunks of 128 steps by 32 inner positions, one per program, joined in
    one pass by published prefixes (033's (64, 4096, 256) makes 16384 programs and chains
    of 32), since a carried loop alone leaves a few programs per SM each waiting on DRAM
    once per tile.
    """
    space = scan_space(spec, target)
    np2 = next_pow2(spec.length)
    if spec.layout == "rows":
        if np2 <= 4096:
            block_a = max(1, min(16, 2048 // np2))
            seeds = [
                _single(block_a, np2, target),
                _single(max(1, block_a // 4), np2, target, waves=2),
                _looped(min(1024, max(256, np2 // 2)), target),
            ]
        elif np2 <= SINGLE_MAX:
            seeds = [
                _looped(2048, target),
                _single(1, np2, target, cap=16),
                _looped(4096, target, 2),
            ]
        else:
            seeds = [_looped(2048, target), _looped(4096, target, 2), _looped(1024, target)]
    else:
        block_a = _cols_width(spec, target)
        block_l = min(np2, max(8, 2048 // block_a))
        seeds = [
            _tiled(block_a, block_l, target, warps=4),
            _tiled(max(4, block_a // 2), min(np2, 2 * block_l), target, waves=2, warps=4),
            _tiled(min(256, 2 * block_a), block_l, target, warps=8, prefetch=0),
        ]
        if "chained" in space.variants and np2 >= 256:
            # Long strided scans: chunks of 128 steps chained in one pass (many programs,
            # short chains) first, then the carried tiles, then a wider chained tile.
            width = max(8, min(32, next_pow2(spec.inner)))
            seeds = [
                _chained(width, 128, target, warps=4),
                seeds[0],
                seeds[1],
                _chained(min(64, 2 * width), 64, target, warps=4, waves=2),
            ]
    return _unique(seeds, space)


def scan_safer(params: Params, spec: Any, target: Target) -> list[Params]:
    """Smaller tiles and fewer warps, ending with the plainest legal configuration."""
    amd = _amd_default(target)
    space = scan_space(spec, target)
    if spec.layout == "rows":
        out = [
            {
                "variant": "looped",
                "BLOCK_A": 1,
                "BLOCK_L": bl,
                "num_warps": 4,
                "num_stages": 1,
                **amd,
            }
            for bl in (1024, 512, 256)
        ]
        if params["variant"] == "single" and params["BLOCK_A"] > 1:
            out.insert(0, {**params, "BLOCK_A": 1, "num_warps": min(params["num_warps"], 8)})
        return _unique(out, space)
    return _unique(
        [
            {
                **params,
                "BLOCK_L": max(1, params["BLOCK_L"] // 2),
                "num_warps": min(params["num_warps"], 4),
                "num_stages": 1,
                "PREFETCH": 0,
            },
            {
                "variant": "tiled",
                "BLOCK_A": 32,
                "BLOCK_L": min(8, next_pow2(spec.length)),
                "PREFETCH": 0,
                "num_warps": 2,
                "num_stages": 1,
                **amd,
            },
        ],
        space,
    )


# ---- gathers --------------------------------------------------------------------------------
def gather_space(spec: Any, target: Target) -> Space:
    """BLOCK_D columns (up to the embedding dim) by BLOCK_R bag rows per step."""
    cap = max(16, next_pow2(spec.dim))
    choices = {
        "BLOCK_D": tuple(b for b in (16, 32, 64, 128, 256, 512) if b <= max(16, cap)),
        "BLOCK_R": (1, 2, 4, 8, 16, 32, 64),
        "num_warps": (1, 2, 4, 8),
        **_amd(target),
    }

    def check(p: Params) -> bool:
        return p["BLOCK_D"] * p["BLOCK_R"] <= 8192

    return Space("triton.gather", {"bag": choices}, check)


def gather_seeds(spec: Any, target: Target) -> list[Params]:
    """Whole rows when the embedding dim allows, eight-row steps; then narrower variants."""
    space = gather_space(spec, target)
    block_d = min(512, max(16, next_pow2(spec.dim)))
    bag = spec.bag_size or 16
    block_r = min(32, next_pow2(bag) // 2 if bag > 8 else next_pow2(bag))
    while block_d * block_r > 8192:
        block_r //= 2
    amd, amd2 = _amd_default(target), _amd_default(target, 2)
    seeds = [
        {
            "variant": "bag",
            "BLOCK_D": block_d,
            "BLOCK_R": block_r,
            "num_warps": warps_for(block_d * block_r, target, cap=8),
            **amd,
        },
        {
            "variant": "bag",
            "BLOCK_D": max(16, block_d // 2),
            "BLOCK_R": min(64, block_r * 2),
            "num_warps": warps_for(block_d * block_r, target, cap=8),
            **amd2,
        },
        {
            "variant": "bag",
            "BLOCK_D": block_d,
            "BLOCK_R": max(1, block_r // 4),
            "num_warps": max(1, warps_for(block_d * max(1, block_r // 4), target, cap=4)),
            **amd,
        },
    ]
    return _unique(seeds, space)


def gather_safer(params: Params, spec: Any, target: Target) -> list[Params]:
    """Fewer rows per step and fewer warps, then a small plain tile."""
    amd = _amd_default(target)
    out = [
        {
            **params,
            "BLOCK_R": max(1, params["BLOCK_R"] // 2),
            "num_warps": min(4, params["num_warps"]),
        },
        {
            "variant": "bag",
            "BLOCK_D": min(64, params["BLOCK_D"]),
            "BLOCK_R": 4,
            "num_warps": 2,
            **amd,
        },
        {"variant": "bag", "BLOCK_D": 16, "BLOCK_R": 1, "num_warps": 1, **amd},
    ]
    return _unique(out, gather_space(spec, target))
