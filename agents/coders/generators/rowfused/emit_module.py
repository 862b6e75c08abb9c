"""The ``ModelNew`` module of a row program: kernel, wrapper, and the reference's ``__init__``.

The wrapper checks that every operand has the traced rank (the traced shape when the module
is not made shape-generic), makes operands contiguous, allocates outputs in the promoted float
dtype of the operands (torch's rule) or the dtype the reference fixes, launches one kernel, and finishes whole-tensor outputs from the row partials
with a tiny torch sum. Sizes in the text are the traced ones; ``rowfused.generic`` rewrites
them into expressions of the call's input sizes.
"""

from __future__ import annotations

import math
from pathlib import Path

from agents.coders.generators.rowfused.emit_kernel import Layout, kernel_source
from agents.coders.generators.rowfused.emit_split import combine_kernel, launch_lines, main_kernel
from agents.coders.generators.rowfused.ir import RowProgram, levels
from agents.coders.kit.formulas import helpers_used
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import LAUNCH_KEYS, base_variables, render_template
from agents.coders.kit.space import Params, next_pow2
from tools.records import Problem, Target

_COMBINE = {"sum": "sum", "max": "amax", "min": "amin", "prod": "prod"}
_OWN_TEMPLATES = Path(__file__).parent / "templates"



def layout_of(program: RowProgram, params: Params, int64: bool | None = None) -> Layout:
    """The render-time layout of one configuration.

    ``int64`` given: a shape-generic render (that index width, every row and column masked).
    """
    block_n = next_pow2(program.n_len) if params["variant"] == "single" else params["BLOCK_N"]
    return Layout(
        variant=params["variant"],
        block_m=params["BLOCK_M"],
        block_n=block_n,
        int64=program.total >= 2**31 if int64 is None else int64,
        stages=int(params.get("num_stages", 1)),
        persistent=bool(params.get("persistent", 0)),
        ragged=int64 is not None,
    )


def _bytes_doc(program: RowProgram, layout: Layout) -> str:
    lv = levels(program)
    passes = 1
    if layout.variant in ("looped", "split"):  # split: the partials pass, then the stores
        passes = max((lv[r.outs[0]] for r in program.reductions()), default=0)
        passes += any(o.kind == "full" for o in program.outputs)
    elem = program.elem_bytes
    read = sum(
        math.prod(o.shape) * (elem if o.dtype.startswith("float") else 8) for o in program.operands
    )
    written = sum(math.prod(o.shape) * elem for o in program.outputs)
    return (
        f"about {read} bytes of operands read ({passes} pass{'es' if passes > 1 else ''} over"
        f" each row), {written} bytes written (at {elem}-byte elements)"
    )


def wrapper_source(program: RowProgram, layout: Layout, persistent: int, waves: int = 4) -> str:
    """The Python wrapper ``_kv_rowfused(p0, p1, ...)`` that launches the kernel."""
    p = program
    names = [o.name for o in p.operands]
    lines = [f"def _kv_rowfused({', '.join(names)}):"]
    launches = "two kernel launches" if layout.variant == "split" else "one kernel launch"
    lines.append(f'    """{p.summary}, fused into {launches}.')
    lines.append("")
    lines.append(f"    Bytes moved: {_bytes_doc(p, layout)}.")
    lines.append('    """')
    for o in p.operands:
        if layout.ragged:  # shape-generic: the sizes are read below
            lines.append(f"    if {o.name}.dim() != {len(o.shape)}:")
            message = f"this kernel was generated for {o.expr} of rank {len(o.shape)}, got shape "
        else:  # sizes written in the kernel: only the traced shape is right
            lines.append(f"    if tuple({o.name}.shape) != {tuple(o.shape)!r}:")
            message = f"this kernel was generated for {o.expr} of shape {list(o.shape)}, got "
        lines.append(f"        raise ValueError({message!r} + str(list({o.name}.shape)))")
        lines.append(f"    {o.name} = {o.name}.contiguous()")
    floats = [f"{o.name}.dtype" for o in p.operands if o.dtype.startswith(("float", "bfloat"))]
    dtype = f"_kv_result_dtype({', '.join(floats)})" if floats else "torch.float32"
    lines.append(f"    dtype = {dtype}")
    lines.append(f"    device = {names[0]}.device")
    for k, out in enumerate(p.outputs):
        if out.kind == "whole":
            continue
        out_dtype = f"torch.{out.dtype}" if out.dtype else "dtype"
        lines.append(
            f"    out{k} = torch.empty({tuple(out.shape)!r}, device=device, dtype={out_dtype})"
        )
    if p.partials:
        lines.append(
            f"    part = torch.empty(({len(p.partials)}, {p.rows}), device=device, dtype=torch.float32)"
        )
    if layout.variant == "split":
        lines += launch_lines(p, layout.block_m, layout.block_n, waves)
    else:
        lines += _launch_lines(p, layout, persistent)
    if p.partials:
        combined = ", ".join(f"part[{k}].{_COMBINE[q.combine]}()" for k, q in enumerate(p.partials))
        lines.append(f"    _kv_w = [{combined}]  # whole-tensor results from the row partials")
    for k, out in enumerate(p.outputs):
        if out.kind == "whole":
            out_dtype = f"torch.{out.dtype}" if out.dtype else "dtype"
            lines.append(f"    out{k} = ({out.expr}).to({out_dtype}).reshape({tuple(out.shape)!r})")
    results = [f"out{k}" for k in range(len(p.outputs))]
    if p.tuple_output:
        lines.append(f"    return ({', '.join(results)}{',' if len(results) == 1 else ''})")
    else:
        lines.append(f"    return {results[0]}")
    return "\n".join(lines) + "\n"


def _launch_lines(program: RowProgram, layout: Layout, persistent: int) -> list[str]:
    """Wrapper lines launching the one kernel of ``single``/``looped``."""
    p = program
    names = [o.name for o in p.operands]
    kernel_outs = [f"out{k}" for k, o in enumerate(p.outputs) if o.kind != "whole"]
    lines: list[str] = []
    tiles = (
        f"triton.cdiv({p.rows}, {layout.block_m})"
        if p.inner == 1
        else f"{p.outer} * triton.cdiv({p.inner}, {layout.block_m})"
    )
    lines.append(f"    n_tiles = {tiles}")
    grid = f"min(n_tiles, _KV_NUM_CUS * {persistent})" if persistent else "n_tiles"
    lines.append(f"    grid = ({grid},)")
    call = kernel_outs + (["part"] if p.partials else []) + names
    lines.append("    _kv_rowfused_kernel[grid](")
    lines.append(f"        {', '.join(call)},")
    lines.append(f"        {p.rows},")
    lines.append(f"        N={p.n_len}, INNER={p.inner},")
    block_n = f"triton.next_power_of_2({p.n_len})" if layout.variant == "single" else layout.block_n
    lines.append(f"        BLOCK_M={layout.block_m}, BLOCK_N={block_n},")
    lines.append("        **_KV_LAUNCH,")
    lines.append("    )")
    return lines


def forward_source(program: RowProgram) -> str:
    """``forward`` handing the inputs and parameters to the wrapper."""
    head = f"def forward(self, {', '.join(program.forward_args)}):\n"
    call = ", ".join(o.expr for o in program.operands)
    return head + f"    return _kv_rowfused({call})\n"


def module_source(
    problem: Problem,
    program: RowProgram,
    target: Target,
    params: Params,
    hip: bool,
    int64: bool | None = None,
) -> str:
    """The complete ``ModelNew`` module for one configuration (``int64``: see ``layout_of``)."""
    layout = layout_of(program, params, int64)
    if layout.variant == "split":
        kernel = main_kernel(program, layout.block_m, layout.block_n, layout.stages)
        kernel += "\n\n" + combine_kernel(program)
    else:
        kernel = kernel_source(program, layout)
    variables = {
        **base_variables(
            f"Row-fused kernel for {problem.name} ({program.summary}; {program.dtype})"
            f" on {target.display_name}.",
            "triton.rowfused",
            params,
            target,
            LAUNCH_KEYS,
            hip,
        ),
        "helpers": helpers_used(kernel),
        "kernel": kernel.rstrip(),
        "wrapper": wrapper_source(
            program, layout, int(params.get("persistent", 0)), int(params.get("waves", 4))
        ).rstrip(),
        "model_block": model_new_block(problem.source, forward_source(program)),
    }
    return render_template(_OWN_TEMPLATES, "rowfused.py.j2", **variables)
