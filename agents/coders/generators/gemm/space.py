"""The ``triton.gemm`` parameter space: variants, first drafts an expert would write, fallbacks.

Variants (params always carry ``rewrite``, one of the spec's plans):

- ``tiled``: ``tl.dot`` tiles ``BLOCK_M x BLOCK_N``, ``BLOCK_K`` steps, grouped ordering
  ``GROUP_M``; ``num_warps``/``num_stages``; on hip ``waves_per_eu``,
  ``matrix_instr_nonkdim``, ``kpack``;
- ``splitk``: the same tiles with ``SPLIT_K`` slices of K written as fp32 partials, then a
  second kernel sums them in a fixed order and applies the epilogue (deterministic);
- ``gemv``: a matrix-vector kernel for a thin output (one of M/N at most
  ``GEMV_MAX_THIN``): ``BLOCK_W`` rows (or columns) of the matrix per program, ``BLOCK_K``
  steps, optional ``SPLIT_K`` partials, fp32 multiply-adds (no MMA).

Seeds on sm_90: fp16/bf16 128x128x64 (8 warps, 3 stages), 128x256x64, 128x64x64 (4 warps,
4 stages); fp32 (IEEE dot, no TF32) smaller K steps: 128x128x32, 64x128x32, 128x64x16. On
gfx942: 2 stages, ``waves_per_eu`` 0-2, 16x16 MFMA, ``kpack`` 2 for 16-bit inputs. Small
shapes clip the tiles; few output tiles and a long K seed ``splitk``; thin outputs seed
``gemv`` with enough K slices to fill the chip (first 128 wide x 64 K when the matrix is
contiguous along its wide dim, ``v @ A``: 256-byte row segments). Plans with normalised
factors (``tiled_only``) take neither ``gemv`` nor ``splitk``.
"""

from __future__ import annotations

from agents.coders.generators.gemm.plan import GemmPlan, GemmSpec
from agents.coders.kit.chip import is_hip, smem_bytes, warp_size
from agents.coders.kit.space import Params, Space, matmul_tile_fallbacks, next_pow2
from tools.records import Target

TEMPLATE = "triton.gemm"
TILE = (16, 32, 64, 128, 256)
BLOCK_K = (16, 32, 64, 128)
GROUP_M = (1, 4, 8, 16)
WARPS = (2, 4, 8)
SPLITS = (2, 4, 8, 16, 32, 64)
GEMV_W = (16, 32, 64, 128, 256)
GEMV_K = (32, 64, 128, 256, 512)
GEMV_SPLITS = (1, 2, 4, 8, 16, 32, 64, 128)
GEMV_WARPS = (1, 2, 4, 8)
GEMV_MAX_THIN = 16
"""Thickest thin side the gemv variant takes (its inner loop is unrolled that many times)."""
GEMV_MAX_PER_THREAD = 64
"""Most matrix elements a gemv tile gives one thread (fp32 registers)."""
PREFERENCE = ("merge_linears", "sum_to_gemv", "fold_scale", "none")


def _cap(n: int, floor: int = 16) -> int:
    return max(floor, next_pow2(n))


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def preferred_rewrite(spec: GemmSpec) -> str:
    """The rewrite a first draft uses: the one removing the most work."""
    return next(r for r in PREFERENCE if r in spec.plans)



def _elem_bytes(spec: GemmSpec) -> int:
    return spec.elem_bytes


def gemm_space(spec: GemmSpec, target: Target) -> Space:
    """Every legal configuration of ``triton.gemm`` for this problem on this target."""
    hip = is_hip(target)
    ws = warp_size(target)
    smem = smem_bytes(target)
    elem = _elem_bytes(spec)
    plans = spec.plans
    mma_rewrites = tuple(r for r in spec.rewrites if not plans[r].thin_only)
    gemv_rewrites = tuple(
        r for r in spec.rewrites if plans[r].thin <= GEMV_MAX_THIN and not plans[r].tiled_only
    )
    stages = (1, 2) if hip else (1, 2, 3, 4, 5)
    amd = {"waves_per_eu": (0, 1, 2, 4)} if hip else {}
    amd_mma = {**amd, "matrix_instr_nonkdim": (16, 32), "kpack": (1, 2)} if hip else {}
    variants: dict[str, dict[str, tuple]] = {}
    if mma_rewrites:
        tiled = {
            "BLOCK_M": TILE,
            "BLOCK_N": TILE,
            "BLOCK_K": BLOCK_K,
            "GROUP_M": GROUP_M,
            "num_warps": WARPS,
            "num_stages": stages,
            **amd_mma,
            "rewrite": mma_rewrites,
        }
        variants["tiled"] = tiled
        if any(plans[r].k >= 2 * BLOCK_K[0] and not plans[r].tiled_only for r in mma_rewrites):
            variants["splitk"] = {**tiled, "SPLIT_K": SPLITS}
    if gemv_rewrites:
        variants["gemv"] = {
            "BLOCK_W": GEMV_W,
            "BLOCK_K": GEMV_K,
            "SPLIT_K": GEMV_SPLITS,
            "num_warps": GEMV_WARPS,
            "num_stages": stages[:4],
            **amd,
            "rewrite": gemv_rewrites,
        }

    def check(p: Params) -> bool:
        plan = plans[p["rewrite"]]
        if p["variant"] == "gemv":
            return _gemv_ok(p, plan, ws)
        return _mma_ok(p, plan, ws, smem, elem, hip)

    return Space(TEMPLATE, variants, check)


def _mma_ok(p: Params, plan: GemmPlan, ws: int, smem: int, elem: int, hip: bool) -> bool:
    bm, bn, bk = p["BLOCK_M"], p["BLOCK_N"], p["BLOCK_K"]
    if plan.thin_only or bm > _cap(plan.m) or bn > _cap(plan.n) or bk > _cap(plan.k):
        return False
    if max(p["num_stages"], 1) * (bm + bn) * bk * elem > smem:
        return False
    acc_per_thread = bm * bn // (p["num_warps"] * ws)
    if not 1 <= acc_per_thread <= 256:
        return False
    if hip and p["matrix_instr_nonkdim"] == 32 and min(bm, bn) < 32:
        return False
    if hip and p["kpack"] == 2 and (elem != 2 or bk < 32):
        return False
    if p["variant"] == "splitk" and plan.tiled_only:
        return False
    return p["variant"] != "splitk" or p["SPLIT_K"] * bk <= plan.k


def _gemv_ok(p: Params, plan: GemmPlan, ws: int) -> bool:
    if plan.thin > GEMV_MAX_THIN:
        return False
    wide = max(plan.m, plan.n)
    bw, bk = p["BLOCK_W"], p["BLOCK_K"]
    if bw > _cap(wide) or bk > _cap(plan.k, 32):
        return False
    if p["SPLIT_K"] > 1 and p["SPLIT_K"] * bk > plan.k:
        return False
    per_thread = bw * bk // (p["num_warps"] * ws)
    return 1 <= per_thread <= GEMV_MAX_PER_THREAD


# ---- seeds ------------------------------------------------------------------------------------
def _amd_mma(target: Target, spec: GemmSpec, waves: int, nonk: int = 16) -> Params:
    if not is_hip(target):
        return {}
    return {
        "waves_per_eu": waves,
        "matrix_instr_nonkdim": nonk,
        "kpack": 2 if spec.elem_bytes == 2 else 1,
    }


def _mma_shapes(spec: GemmSpec, target: Target) -> list[tuple[int, int, int, int, int]]:
    """(BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) an expert tries first on this target."""
    half = spec.elem_bytes == 2
    if is_hip(target):
        if half:
            return [(128, 128, 64, 8, 2), (256, 128, 32, 8, 2), (128, 128, 32, 4, 2)]
        return [(128, 128, 16, 8, 2), (64, 128, 32, 4, 2), (64, 64, 32, 4, 2)]
    if half:
        return [(128, 128, 64, 8, 3), (128, 256, 64, 8, 3), (128, 64, 64, 4, 4)]
    return [(128, 128, 32, 8, 3), (64, 128, 32, 4, 3), (128, 64, 16, 4, 4)]


def _fit(p: Params, space: Space) -> Params | None:
    """Shrink a draft until the target's limits accept it (stages, K, N, M, then warps)."""
    p = dict(p)
    for key, floor in (("num_stages", 1), ("BLOCK_K", 16), ("BLOCK_N", 16), ("BLOCK_M", 16)):
        while not space.is_legal(p) and p[key] > floor:
            p[key] = p[key] - 1 if key == "num_stages" else p[key] // 2
    while not space.is_legal(p) and p["num_warps"] > 2:
        p["num_warps"] //= 2
    if not space.is_legal(p) and is_hip_params(p):
        p["kpack"] = 1
    return p if space.is_legal(p) else None


def is_hip_params(p: Params) -> bool:
    """True when ``p`` carries the AMD launch options."""
    return "waves_per_eu" in p


def _mma_seed(
    spec: GemmSpec, target: Target, plan: GemmPlan, shape: tuple, rewrite: str, waves: int
) -> Params:
    bm, bn, bk, warps, stages = shape
    bm, bn, bk = min(bm, _cap(plan.m)), min(bn, _cap(plan.n)), min(bk, _cap(plan.k))
    ws = warp_size(target)
    while warps > 2 and bm * bn < warps * ws * 32:  # small tiles: ~32 accumulators a thread
        warps //= 2
    return {
        "variant": "tiled",
        "BLOCK_M": bm,
        "BLOCK_N": bn,
        "BLOCK_K": bk,
        "GROUP_M": 8,
        "num_warps": warps,
        "num_stages": stages,
        **_amd_mma(target, spec, waves),
        "rewrite": rewrite,
    }


def _split_for(programs: int, k: int, block_k: int, target: Target, splits: tuple) -> int:
    """The K split that gives about two programs per compute unit, with >= 4 K steps each."""
    best = splits[0]
    for s in splits:
        if programs * s <= 2 * max(target.compute_units, 1) and s * block_k * 4 <= k:
            best = s
    return best


def _gemv_seed(
    spec: GemmSpec, target: Target, plan: GemmPlan, rewrite: str, shape: tuple
) -> Params:
    bw, bk, warps = shape
    wide = max(plan.m, plan.n)
    bw = min(bw, _cap(wide))
    bk = min(bk, _cap(plan.k, 32))
    programs = plan.batch * _cdiv(wide, bw)
    split = 1
    if programs < target.compute_units:
        split = _split_for(programs, plan.k, bk, target, GEMV_SPLITS)
    hip = is_hip(target)
    return {
        "variant": "gemv",
        "BLOCK_W": bw,
        "BLOCK_K": bk,
        "SPLIT_K": split,
        "num_warps": warps,
        "num_stages": 2 if hip else 3,
        **({"waves_per_eu": 0} if hip else {}),
        "rewrite": rewrite,
    }


_SWAPS = (("t", ()), ("transpose", (0, 1)), ("transpose", (1, 0)), ("permute", ((1, 0),)))


def wide_contiguous(plan: GemmPlan) -> bool:
    """Whether the gemv matrix is (for contiguous inputs) contiguous along its wide dim.

    The matrix is A (M, K) when N is thin, else B (K, N); it runs along the wide dim when A
    is transposed or B is not (``v @ A``). Unknown views (reshapes, permutes) answer False.
    """
    mat = plan.a if plan.n <= plan.m else plan.b
    views = mat.source.views
    if plan.kind != "mm" or any(v not in _SWAPS for v in views) or len(mat.source.shape) != 2:
        return False
    transposed = len(views) % 2 == 1
    return transposed if plan.n <= plan.m else not transposed


def _programs(p: Params, plan: GemmPlan) -> int:
    return plan.batch * _cdiv(plan.m, p["BLOCK_M"]) * _cdiv(plan.n, p["BLOCK_N"])


def _fill(p: Params, plan: GemmPlan, target: Target) -> Params:
    """Halve the larger tile side (down to 64) while the grid fills under half the chip."""
    p = dict(p)
    ws = warp_size(target)
    while _programs(p, plan) * 2 < target.compute_units and max(p["BLOCK_M"], p["BLOCK_N"]) > 64:
        side = "BLOCK_N" if p["BLOCK_N"] >= p["BLOCK_M"] else "BLOCK_M"
        p[side] //= 2
    while p["num_warps"] > 2 and p["BLOCK_M"] * p["BLOCK_N"] < p["num_warps"] * ws * 32:
        p["num_warps"] //= 2
    return p


def gemm_seeds(spec: GemmSpec, target: Target) -> list[Params]:
    """Two to four first configurations: what an expert writes for this shape and chip."""
    space = gemm_space(spec, target)
    rewrite = preferred_rewrite(spec)
    plan = spec.plans[rewrite]
    drafts: list[Params] = []
    if "gemv" in space.variants and plan.thin <= GEMV_MAX_THIN and not plan.tiled_only:
        if wide_contiguous(plan):  # 256-byte row segments of the wide dim, K split to fill
            drafts.append(_gemv_seed(spec, target, plan, rewrite, (128, 64, 4)))
        drafts.append(_gemv_seed(spec, target, plan, rewrite, (16, 256, 4)))
        drafts.append(_gemv_seed(spec, target, plan, rewrite, (64, 128, 8)))
    if not plan.thin_only:
        shapes = _mma_shapes(spec, target)
        tiled = [
            _mma_seed(spec, target, plan, s, rewrite, (0, 2, 0)[i]) for i, s in enumerate(shapes)
        ]
        tiled[0] = _fill(tiled[0], plan, target)
        programs = _programs(tiled[0], plan)
        if "splitk" in space.variants and programs * 2 <= target.compute_units:
            split = _split_for(programs, plan.k, tiled[0]["BLOCK_K"], target, SPLITS)
            if split > SPLITS[0] or plan.k >= 8 * tiled[0]["BLOCK_K"] * SPLITS[0]:
                drafts.append({**tiled[0], "variant": "splitk", "SPLIT_K": split})
        drafts.extend(tiled)
    out: list[Params] = []
    for d in drafts:
        fitted = d if space.is_legal(d) else (_fit(d, space) if d["variant"] != "gemv" else None)
        if fitted is not None and fitted not in out:
            out.append(fitted)
    if not out:  # a degenerate shape no expert draft fits: the first legal configuration
        out.append(next(space.enumerate()))
    return out[:4]


def gemm_safer(params: Params, spec: GemmSpec, target: Target) -> list[Params]:
    """Smaller tiles and shallower pipelines, then the plainest configuration of the variant."""
    hip = is_hip(target)
    rewrite = params["rewrite"]
    if params["variant"] == "gemv":
        halved = {
            **params,
            "BLOCK_W": max(16, params["BLOCK_W"] // 2),
            "BLOCK_K": max(32, params["BLOCK_K"] // 2),
            "num_warps": 4,
            "num_stages": 1,
        }
        plain = {**halved, "BLOCK_W": 16, "BLOCK_K": 64, "SPLIT_K": 1, "num_warps": 2}
        return [halved, plain]
    amd = _amd_mma(target, spec, 0)
    if hip:
        amd["kpack"] = 1
    halved, plain = matmul_tile_fallbacks(params, amd)
    plain["rewrite"] = rewrite
    smallest = {**plain, "BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 2}
    return [halved, plain, smallest]
