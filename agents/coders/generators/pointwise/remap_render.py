"""Triton source of a :class:`~agents.coders.generators.pointwise.remap.RemapGraph`: kernel,
wrapper, ``forward``.

The kernel tiles the output as ``[rows, cols]`` (cols = the contiguous last dim, rows = the
other dims flattened): a ``BLOCK_R x BLOCK_C`` tile per step of a grid-stride loop. Each row's
coordinates along the leading dims are found once per row (a few integer divisions on
``BLOCK_R`` values), each operand's row offset is their dot product with its own strides,
and its address adds ``col * last_stride`` -- stride 1 for contiguous tensors, so loads
along a row are 16-byte vectors. A cat piece's loads are masked to the piece's range and
shifted back by its offset; the cat is a ``tl.where`` select of the pieces.
"""

from __future__ import annotations

from agents.coders.generators.pointwise.remap import RemapGraph
from agents.coders.kit.chain import step_expression

KERNEL = "_kv_remap_kernel"
WRAPPER = "_kv_remap"


def _dim(graph: RemapGraph, cat: int) -> int:
    """Output dim (non-negative) a cat concatenates along."""
    return graph.ndim + graph.cats[cat].dim


def _coord(graph: RemapGraph, dim: int) -> str:
    """A coordinate broadcast over the tile: the col vector or a per-row coordinate."""
    if dim == graph.ndim - 1:
        return "cols[None, :]"
    return f"c{dim}[:, None]"


def _select(graph: RemapGraph, cat: int, piece: int) -> str:
    """Predicate of the tile elements that fall in one cat piece."""
    coord = _coord(graph, _dim(graph, cat))
    n = len(graph.cats[cat].pieces)
    parts = []
    if piece > 0:
        parts.append(f"({coord} >= cat{cat}_b{piece})")
    if piece < n - 1:
        parts.append(f"({coord} < cat{cat}_b{piece + 1})")
    return " & ".join(parts) if parts else "(mask)"


def kernel_source(graph: RemapGraph) -> str:
    """The ``@triton.jit`` kernel of the graph."""
    nd = graph.ndim
    names = [leaf.operand for leaf in graph.leaves]
    args = ["    out_ptr, " + "".join(f"{n}_ptr, " for n in names) + " # pointers"]
    sizes = "".join(f"size{k}, " for k in range(1, nd - 1))
    args.append(f"    n_rows, n_cols, {sizes} # sizes (rows: every dim but the last)")
    for n in names:
        strides = "".join(f"{n}_s{k}, " for k in range(nd))
        args.append(f"    {n}_shift, {strides} # {n}: offset, strides over the output's dims")
    for c, cat in enumerate(graph.cats):
        bounds = "".join(f"cat{c}_b{j}, " for j in range(1, len(cat.pieces)))
        if bounds:
            args.append(f"    {bounds} # where each piece of cat {c} starts")
    args.append("    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr,")
    body = [
        "pid = tl.program_id(0)",
        "n_progs = tl.num_programs(0)",
        "n_cb = tl.cdiv(n_cols, BLOCK_C)",
        "n_tiles = tl.cdiv(n_rows, BLOCK_R) * n_cb",
        "for tile in tl.range(pid, n_tiles, n_progs):",
        "    rows = (tile // n_cb) * BLOCK_R + tl.arange(0, BLOCK_R)",
        "    cols = (tile % n_cb) * BLOCK_C + tl.arange(0, BLOCK_C)",
        "    mask = (rows < n_rows)[:, None] & (cols < n_cols)[None, :]",
        "    col64 = cols.to(tl.int64)",
    ]
    if nd > 1:
        body.append("    rem = rows")
        for k in range(nd - 2, 0, -1):
            body.append(f"    c{k} = rem % size{k}")
            body.append(f"    rem = rem // size{k}")
        body.append("    c0 = rem")
    for leaf in graph.leaves:
        n = leaf.operand
        terms = [f"{n}_shift"] + [f"c{k}.to(tl.int64) * {n}_s{k}" for k in range(nd - 1)]
        if nd == 1:
            terms.append("tl.zeros([BLOCK_R], dtype=tl.int64)")
        row = " + ".join(terms)
        address = f"{n}_ptr + (({row})[:, None] + col64[None, :] * {n}_s{nd - 1})"
        mask = "mask" if leaf.cat < 0 else f"mask & {_select(graph, leaf.cat, leaf.piece)}"
        convert = " != 0" if leaf.boolean else ".to(tl.float32)"
        body.append(f"    {n} = tl.load({address}, mask={mask}, other=0){convert}")
    cats = {cat.var: c for c, cat in enumerate(graph.cats)}
    for step in graph.chain.steps:
        if step.op == "cat":
            c = cats[step.var]
            pieces = list(graph.cats[c].pieces)
            expr = pieces[-1]
            for j in range(len(pieces) - 2, -1, -1):
                expr = f"tl.where({_select(graph, c, j)}, {pieces[j]}, {expr})"
            body.append(f"    {step.var} = {expr}")
        else:
            body.append(f"    {step.var} = {step_expression(step, 'triton')}")
    out = "(rows.to(tl.int64) * n_cols)[:, None] + col64[None, :]"
    body.append(
        f"    tl.store(out_ptr + {out}, {graph.chain.result}.to(out_ptr.dtype.element_ty),"
        " mask=mask)"
    )
    doc = f'    """{graph.chain.summary}: strided loads, piece selects, fp32 math."""'
    return "\n".join(
        ["@triton.jit", f"def {KERNEL}(", *args, "):", doc, *("    " + line for line in body)]
    )


def wrapper_source(graph: RemapGraph, block_size: int, persistent: int) -> str:
    """The Python wrapper: geometry from the runtime shapes, allocation, launch."""
    ts = [f"t{i}" for i in range(graph.n_tensors)]
    lines = [
        f"def {WRAPPER}({', '.join(ts)}):",
        f'    """{graph.chain.summary}, one kernel launch.',
        "",
        "    Bytes moved: each distinct input read once from memory (a piece's shifted re-read",
        "    of the same lines and broadcast operands hit L1/L2), the output written once.",
        '    """',
    ]
    cat_shapes = []
    for c, cat in enumerate(graph.cats):
        parts = []
        for j in range(len(cat.pieces)):
            read = [
                f"t{leaf.tensor}.shape" for leaf in graph.leaves if (leaf.cat, leaf.piece) == (c, j)
            ]
            parts.append(f"_kv_broadcast_shape({', '.join(read)})")
        lines.append(
            f"    cat{c}_shape, cat{c}_bounds = _kv_cat_geometry(({', '.join(parts)},), {cat.dim})"
        )
        cat_shapes.append(f"cat{c}_shape")
    main = [f"t{leaf.tensor}.shape" for leaf in graph.leaves if leaf.cat < 0]
    lines.append(f"    out_shape = _kv_broadcast_shape({', '.join(main + cat_shapes)})")
    lines.append(f"    if len(out_shape) != {graph.ndim}:")
    lines.append(
        f'        raise ValueError(f"the output has rank {{len(out_shape)}}, not {graph.ndim}")'
    )
    for c, cat in enumerate(graph.cats):
        lines.append(f"    if cat{c}_shape[{cat.dim}] != out_shape[{cat.dim}]:")
        lines.append('        raise ValueError("a concatenation broadcasts along its own dim")')
    floats = sorted({f"t{leaf.tensor}.dtype" for leaf in graph.leaves if not leaf.boolean})
    lines += [
        f"    out_dtype = _kv_result_dtype({', '.join(floats)})",
        f"    out = torch.empty(out_shape, device=t{graph.leaves[0].tensor}.device, dtype=out_dtype)",
        "    n_cols = out_shape[-1]",
        "    if out.numel() == 0:",
        "        return out",
        "    n_rows = out.numel() // n_cols",
        "    if n_rows >= 2**31 or n_cols >= 2**31:",
        '        raise ValueError("more than 2**31 rows or columns")',
        f"    block_c = min(triton.next_power_of_2(n_cols), {block_size})",
        f"    block_r = {block_size} // block_c",
        "    n_tiles = triton.cdiv(n_rows, block_r) * triton.cdiv(n_cols, block_c)",
    ]
    grid = f"min(n_tiles, _KV_NUM_CUS * {persistent})" if persistent else "n_tiles"
    launch = ["out", *(f"t{leaf.tensor}" for leaf in graph.leaves), "n_rows", "n_cols"]
    launch += [f"out_shape[{k}]" for k in range(1, graph.ndim - 1)]
    for leaf in graph.leaves:
        st = f"_kv_strides(t{leaf.tensor}, out_shape)"
        if leaf.cat < 0:
            launch.append(f"0, *{st}")
        else:
            d = _dim(graph, leaf.cat)
            lines.append(f"    {leaf.operand}_st = {st}")
            launch.append(
                f"-cat{leaf.cat}_bounds[{leaf.piece}] * {leaf.operand}_st[{d}], *{leaf.operand}_st"
            )
    for c, cat in enumerate(graph.cats):
        launch += [f"cat{c}_bounds[{j}]" for j in range(1, len(cat.pieces))]
    lines.append(f"    {KERNEL}[({grid},)](")
    lines += [f"        {a}," for a in launch]
    lines += ["        BLOCK_R=block_r, BLOCK_C=block_c, **_KV_LAUNCH,", "    )", "    return out"]
    return "\n".join(lines)


def forward_source(graph: RemapGraph) -> str:
    """``forward``: the views (Python, no kernel), then the fused launch."""
    head = f"def forward(self, {', '.join(graph.chain.forward_args)}):\n"
    prelude = "".join(f"    {line}\n" for line in graph.prelude.splitlines())
    return head + prelude + f"    return {WRAPPER}(*_kv_h)\n"
