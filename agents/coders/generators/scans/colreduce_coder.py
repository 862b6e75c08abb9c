"""``ColumnReduceCoder`` (template ``triton.colreduce``): reductions over a strided dim.

``sum``/``mean``/``amax``/``amin``/``prod`` and the values of ``max``/``min`` over a run of
non-innermost dims (``x.mean(dim=1)`` of ``(B, S, H)``, ``amax(x, dim=0)``), keepdim or not.
The kernel (``templates/colreduce.py.j2``) reads BLOCK_I contiguous inner positions by
BLOCK_R reduced positions a step into an element-wise fp32 accumulator and reduces it once.
When the outputs alone give fewer than ``waves`` programs per SM, the reduced dim is split
into chunks (each at least ``MIN_STEPS`` tiles) written as fp32 partials and folded in order
by a second small kernel: ``amax`` of (65536, 1024) has only 1024 outputs, 8 column blocks
of 128, so 64 chunks of 1024 rows make 512 programs.
"""

from __future__ import annotations

from agents.coders.generators.scans.coders import (
    forward_block,
    render_template,
    template_variables,
)
from agents.coders.generators.scans.colreduce_spec import ColReduceSpec, analyze_colreduce
from agents.coders.kit.chip import is_hip
from agents.coders.kit.dtypes import FLOAT_DTYPES
from agents.coders.kit.generator import TemplateFunctions, TemplateGenerator
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.space import Params, Space, next_pow2
from tools.records import Problem, Target

TEMPLATE = "triton.colreduce"
TILE = 8192
"""Most elements of one program's accumulator tile."""
_IDENTITY = {
    "sum": "0.0",
    "mean": "0.0",
    "prod": "1.0",
    "max": 'float("-inf")',
    "min": 'float("inf")',
}


def colreduce_space(spec: ColReduceSpec, target: Target) -> Space:
    """BLOCK_I inner positions by BLOCK_R reduced positions; waves and chunk size."""
    choices: dict[str, tuple[int, ...]] = {
        "BLOCK_I": (16, 32, 64, 128, 256, 512),
        "BLOCK_R": (1, 2, 4, 8, 16, 32, 64, 128),
        "waves": (1, 2, 4, 8),
        "MIN_STEPS": (2, 4, 8, 16),
        "num_warps": (1, 2, 4, 8, 16),
        "num_stages": (1, 2) if is_hip(target) else (1, 2, 3),
    }
    if is_hip(target):
        choices["waves_per_eu"] = (0, 1, 2, 4)
    cap = max(16, next_pow2(spec.inner))

    def check(p: Params) -> bool:
        return p["BLOCK_I"] * p["BLOCK_R"] <= TILE and p["BLOCK_I"] <= cap

    return Space(TEMPLATE, {"split": choices}, check)


def _cfg(bi: int, br: int, warps: int, target: Target, **extra: int) -> Params:
    params: Params = {
        "variant": "split",
        "BLOCK_I": bi,
        "BLOCK_R": br,
        "waves": 4,
        "MIN_STEPS": 4,
        "num_warps": warps,
        "num_stages": 1,
    }
    if is_hip(target):
        params["waves_per_eu"] = 0
    params.update(extra)
    return params


def colreduce_seeds(spec: ColReduceSpec, target: Target) -> list[Params]:
    """Expert first drafts: 512-byte rows of the tile, 4K-element tiles, 4 waves of programs.

    fp32 takes 128 inner positions (one 16-byte vector per thread of a warp) by 32 reduced
    positions with 8 warps (16 loads in flight a thread); fp16/bf16 take 256. Narrow inner
    dims shrink BLOCK_I and deepen BLOCK_R to keep the tile. Then a wider tile with two
    pipeline stages, and a narrow deep tile with more programs.
    """
    space = colreduce_space(spec, target)
    wide = 256 if spec.elem_bytes == 2 else 128
    bi = min(wide, max(16, next_pow2(spec.inner)))
    br = max(1, min(128, 4096 // bi))
    seeds = [
        _cfg(bi, br, 8, target),
        _cfg(
            min(2 * bi, 512), max(1, br // 2), 8, target, num_stages=2 if not is_hip(target) else 1
        ),
        _cfg(max(16, bi // 2), min(128, br * 2), 4, target, waves=8),
        _cfg(bi, max(1, br // 2), 4, target, waves=2, MIN_STEPS=8),
    ]
    out: list[Params] = []
    for s in seeds:
        if s not in out and space.is_legal(s):
            out.append(s)
    return out


def colreduce_safer(params: Params, spec: ColReduceSpec, target: Target) -> list[Params]:
    """Smaller tiles and fewer warps, then a small plain tile."""
    space = colreduce_space(spec, target)
    out = [
        {**params, "BLOCK_R": max(1, params["BLOCK_R"] // 2), "num_warps": 4, "num_stages": 1},
        _cfg(min(64, max(16, next_pow2(spec.inner))), 8, 2, target),
    ]
    return [p for p in out if space.is_legal(p)]


class ColumnReduceCoder(TemplateGenerator[ColReduceSpec]):
    """Reductions over a strided (non-innermost) dim, split for the chip when outputs are few."""

    name = "triton-colreduce"
    functions = TemplateFunctions(
        analyze_colreduce, colreduce_space, colreduce_seeds, colreduce_safer
    )
    dtypes = FLOAT_DTYPES

    def render(self, problem: Problem, spec: ColReduceSpec, target: Target, params: Params) -> str:
        """The ``ModelNew`` module for one configuration."""
        forward = forward_block(spec.forward_args, "_kv_colreduce", [spec.input_expr])
        return render_template(
            "colreduce.py.j2",
            **template_variables(problem, target, params, TEMPLATE, f"Strided {spec.op} kernel"),
            model_block=model_new_block(problem.source, forward),
            summary=spec.summary,
            op=spec.op,
            identity=_IDENTITY[spec.op],
            rank=len(spec.shape),
            first=spec.first,
            last=spec.last,
            keepdim=spec.keepdim,
            out_dtype=spec.out_dtype,
            trailing=spec.trailing,
        )
