"""Rendering a :class:`GemmPlan` and one configuration into a complete ``ModelNew`` module.

The kernel text comes from ``templates/gemm.py.j2`` (which extends the shared
``triton/_base.py.j2``); this module writes the pieces that depend on the plan: the
epilogue's loads and steps, the constant scalings applied on load (rewrite ``none``), the
kernel arguments of the operands, and ``ModelNew.forward`` (views replayed, rewrites'
weights precomputed and cached, one call to ``_kv_gemm``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.coders.generators.gemm.plan import GemmPlan, GemmSpec, MatInput, Operand
from agents.coders.generators.gemm.shapes import RUNTIME_HELPER, shape_spec
from agents.coders.kit.chain import Step, step_expression
from agents.coders.kit.chip import is_hip
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import LAUNCH_KEYS as TRITON_LAUNCH_KEYS
from agents.coders.kit.render import launch_options, py_literal, render_template
from agents.coders.kit.space import Params
from tools.records import Problem, Target

GEMM_TEMPLATES = Path(__file__).parent / "templates"
LAUNCH_KEYS = (*TRITON_LAUNCH_KEYS, "kpack")
AUX_LAUNCH = {"num_warps": 4, "num_stages": 1}
"""Launch options of the helper kernels (partial sums, summed or merged weights)."""
NODE_SHAPES = {"mm": "(M, N)", "bmm": "(Bt, M, N)", "mv": "(M,)", "dot": "()"}
"""The product's own output shape, from the run-time sizes, per matmul kind."""
_INDEX = {"b": "pid_b64", "m": "rows64[:, None]", "n": "offs_n[None, :]"}



def _kept(o: Operand) -> list[str]:
    return [d for d, k in zip("bmn", o.keep, strict=True) if k]


def operand_stride_names(o: Operand) -> list[str]:
    """Kernel arguments for an operand's strides (every kept dim but the innermost)."""
    return [f"{o.name}_s{d}" for d in _kept(o)[:-1]]


def operand_load(o: Operand) -> str:
    """The Triton expression loading an operand at the output tile's positions, in fp32."""
    kept = _kept(o)
    if not kept:
        return f"tl.load({o.name}_ptr).to(tl.float32)"
    terms = [
        _INDEX[d] if i == len(kept) - 1 else f"{_INDEX[d]} * {o.name}_s{d}"
        for i, d in enumerate(kept)
    ]
    has_m, has_n = "m" in kept, "n" in kept
    mask = {
        (True, True): "mask_out",
        (True, False): "(offs_m < M)[:, None]",
        (False, True): "(offs_n < N)[None, :]",
    }.get((has_m, has_n))
    ptr = f"{o.name}_ptr + {' + '.join(terms)}"
    if mask is None:
        return f"tl.load({ptr}).to(tl.float32)"
    return f"tl.load({ptr}, mask={mask}, other=0.0).to(tl.float32)"


def step_code(step: Step) -> str:
    """One epilogue step as a Triton expression."""
    return step_expression(step, "triton")


def epilogue_lines(plan: GemmPlan) -> list[str]:
    """Operand loads, the steps, and the masked store of the result (inside a kernel)."""
    lines = ["mask_out = (offs_m[:, None] < M) & (offs_n[None, :] < N)"]
    lines += [f"{o.name} = {operand_load(o)}" for o in plan.operands]
    lines += [f"{s.var} = {step_code(s)}" for s in plan.steps]
    lines.append(
        "c_ptrs = c_ptr + pid_b64 * stride_cb + rows64[:, None] * stride_cm + offs_n[None, :]"
    )
    lines.append(f"tl.store(c_ptrs, {plan.result}.to(c_ptr.dtype.element_ty), mask=mask_out)")
    return lines


def prologue_lines(mat: MatInput, var: str) -> list[str]:
    """Constant scalings applied to a loaded tile, rounded to the input dtype as torch does."""
    return [
        f"{var} = ({var}.to(tl.float32) {'*' if op == 'mul' else '/'} {py_literal(c)})"
        f".to({var}_ptr.dtype.element_ty)"
        for op, c in mat.prologue
    ]


def forward_source(spec: GemmSpec, plan: GemmPlan) -> str:
    """``forward``: precompute (cached) a rewrite's weights, then one ``_kv_gemm`` call."""
    lines = [f"def forward(self, {', '.join(spec.forward_args)}):"]
    for pre in plan.precompute:
        fn = "_kv_rowsum" if pre.kind == "rowsum" else "_kv_matmul_plain"
        args = ", ".join(s.render() for s in pre.sources)
        if all(s.stable for s in pre.sources):
            deps = list(dict.fromkeys(s.base for s in pre.sources))
            lines.append(
                f"    {pre.name} = _kv_cached(self, {pre.name!r}, ({', '.join(deps)},), {fn}, {args})"
            )
        else:
            lines.append(f"    {pre.name} = {fn}({args})")
    operands = "".join(f"{o.source.render()}, " for o in plan.operands)
    lines.append(
        f"    return _kv_gemm({plan.a.source.render()}, {plan.b.source.render()}, ({operands}))"
    )
    return "\n".join(lines) + "\n"


def traced_node_shape(plan: GemmPlan) -> tuple[int, ...]:
    """The product's own output shape at the traced size (``NODE_SHAPES`` at run time)."""
    return {
        "mm": (plan.m, plan.n),
        "bmm": (plan.batch, plan.m, plan.n),
        "mv": (plan.m,),
        "dot": (),
    }[plan.kind]


def _spec(plan: GemmPlan, shape: tuple[int, ...] | None) -> object:
    """A shape relative to the product's output, evaluated at call time (``_kv_shape``)."""
    return None if shape is None else shape_spec(traced_node_shape(plan), shape)


def _launch(params: Params, target: Target) -> dict[str, Any]:
    return launch_options(params, LAUNCH_KEYS, is_hip(target))


def _epilogue_subtiled(params: Params, target: Target) -> bool:
    """Whether the tile's epilogue runs in two N halves: 64+ accumulators a thread."""
    ws = target.triton_target.warp_size if target.triton_target else 32
    per_thread = params["BLOCK_M"] * params["BLOCK_N"] // (params["num_warps"] * ws)
    return params["BLOCK_N"] >= 32 and per_thread >= 64


def render_gemm(problem: Problem, spec: GemmSpec, target: Target, params: Params) -> str:
    """The complete ``ModelNew`` module for one configuration of ``triton.gemm``."""
    plan = spec.plans[params["rewrite"]]
    variant = params["variant"]
    tunables = {k: v for k, v in params.items() if k not in LAUNCH_KEYS and k != "variant"}
    variables: dict[str, Any] = {
        "title": f"GEMM with a fused epilogue for {problem.name} ({plan.summary}, {spec.dtype})"
        f" on {target.display_name}.",
        "template": "triton.gemm",
        "params_text": ", ".join(f"{k}={v}" for k, v in params.items()),
        "hip": is_hip(target),
        "num_cus": target.compute_units,
        "target_name": target.name,
        "launch": repr(_launch(params, target)),
        "aux_launch": repr(AUX_LAUNCH),
        "variant": variant,
        "split": int(params.get("SPLIT_K", 1)),
        "epi_split": variant == "tiled" and _epilogue_subtiled(params, target),
        "thin_n": plan.n <= plan.m,
        "summary": plan.summary + (f" [{plan.note}]" if plan.note else ""),
        "operand_ptrs": [f"{o.name}_ptr" for o in plan.operands],
        "operand_strides": [s for o in plan.operands for s in operand_stride_names(o)],
        "epilogue": epilogue_lines(plan),
        "prologue_a": prologue_lines(plan.a, "a"),
        "prologue_b": prologue_lines(plan.b, "b"),
        "rowsum": any(p.kind == "rowsum" for p in plan.precompute),
        "plain_mm": any(p.kind == "matmul" for p in plan.precompute),
        "cached": any(all(s.stable for s in p.sources) for p in plan.precompute),
        "operands_meta": repr(tuple((_spec(plan, o.cur_shape), o.keep) for o in plan.operands)),
        "promotes": repr(tuple(o.promotes for o in plan.operands)),
        "out_shape": repr(_spec(plan, plan.out_shape)),
        "shape_helper": RUNTIME_HELPER,
        "norm_a": None if plan.a.norm_eps is None else py_literal(plan.a.norm_eps),
        "norm_b": None if plan.b.norm_eps is None else py_literal(plan.b.norm_eps),
        "out_dtype": f"torch.{plan.out_dtype}" if plan.out_dtype else "None",
        "node_shape": NODE_SHAPES[plan.kind],
        "b_promotes": not plan.b.source.base.startswith("_kv_p"),
        "model_block": model_new_block(problem.source, forward_source(spec, plan)),
        **tunables,
    }
    return render_template(GEMM_TEMPLATES, "gemm.py.j2", **variables)
