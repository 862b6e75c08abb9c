"""Triton source of one :class:`~agents.coders.generators.libop.graph.Stage`: kernel and wrapper.

The kernel indexes a *logical* shape ``L`` (the stage's shape ``S``; for a group norm
``[N, G, C // G, rest]``) as a ``[BLOCK_O, BLOCK_R]`` tile: rows are positions over the kept
dims ``O``, columns positions over the reduced dims ``R`` (the last dim, for a map). A
tensor's address is the dot product of a position's coordinates with its own strides over
``L`` (0 along broadcast dims), so any broadcast parameter, any reduced set of dims and any
layout are read in place, without a copy. Where the reduced extent fits one block
(``ONE_PASS``) each element is loaded once; otherwise a first loop accumulates the
statistics (online max/sum for softmax and logsumexp, Chan's merge of mean and M2 for the
norms) and a second loop recomputes and writes. Math is fp32; the output takes the inputs'
dtype.
"""

from __future__ import annotations

from agents.coders.generators.libop.graph import NORMALIZE, Stage
from agents.coders.kit.chain import Step, step_expression

_IDENTITY = {"sum": "0.0", "mean": "0.0", "max": "-float('inf')", "min": "float('inf')"}


def kernel_name(stage: Stage) -> str:
    """The kernel's name."""
    return f"_kv_stage{stage.index}_kernel"


def wrapper_name(stage: Stage) -> str:
    """The Python wrapper's name."""
    return f"_kv_stage{stage.index}"


def _tensors(stage: Stage) -> list[str]:
    """Kernel-side tensor names: ``out`` and one per operand (pre then post)."""
    return ["out"] + [n for n, _ in stage.pre_operands + stage.post_operands]


def _odims(stage: Stage) -> list[int]:
    return [k for k in range(stage.logical_rank) if k not in stage.dims]


def _decompose(dims: list[int], index: str, prefix: str) -> list[str]:
    """Coordinates ``{prefix}{k}`` of a linear index over ``dims`` (the last one fastest)."""
    if not dims:
        return []
    lines = [f"rem = {index}"]
    for k in reversed(dims[1:]):
        lines += [f"{prefix}{k} = rem % L{k}", f"rem = rem // L{k}"]
    lines.append(f"{prefix}{dims[0]} = rem")
    return lines


def _offsets(names: list[str], dims: list[int], axis: str, block: str) -> list[str]:
    """``{name}_{axis}``: each tensor's offset along one tile axis (coordinates ``c{axis}k``)."""
    lines = []
    for n in names:
        terms = [f"c{axis}{k} * {n}_s{k}" for k in dims]
        zero = f"tl.zeros([{block}], dtype=tl.int64)"
        lines.append(f"{n}_{axis} = " + (" + ".join(terms) if terms else zero))
    return lines


def _steps(steps: tuple[Step, ...]) -> list[str]:
    return [f"{s.var} = {step_expression(s, 'triton')}" for s in steps]


def _tile_loads(names: list[str]) -> list[str]:
    return [
        f"{n} = tl.load({n}_ptr + ({n}_o[:, None] + {n}_r[None, :]), mask=m, other=0.0)"
        ".to(tl.float32)"
        for n in names
    ]


def _chunk(stage: Stage, start: str) -> list[str]:
    """One ``[BLOCK_O, BLOCK_R]`` chunk: coordinates, loads, the pre chain."""
    rdims = list(stage.dims)
    pre = [n for n, _ in stage.pre_operands]
    lines = [f"r = ({start} + tl.arange(0, BLOCK_R)).to(tl.int64)", "r_mask = r < n_r",
             "m = o_mask[:, None] & r_mask[None, :]"]  # fmt: skip
    lines += _decompose(rdims, "r", "cr")
    tile_out = ["out"] if stage.kind in NORMALIZE or stage.kind == "map" else []
    lines += _offsets(pre + tile_out, rdims, "r", "BLOCK_R")
    lines += _tile_loads(pre)
    lines += _steps(stage.pre_steps)
    lines.append(f"x = {stage.pre_result}")
    return lines


def _post_tile(stage: Stage) -> list[str]:
    """Post chain per element (maps and normalisations) and the store."""
    post = [n for n, _ in stage.post_operands]
    lines = _offsets(post, list(stage.dims), "r", "BLOCK_R")
    lines += _tile_loads(post)
    lines += _steps(stage.post_steps)
    result = stage.post_result if stage.kind != "map" else "x"
    lines.append(
        f"tl.store(out_ptr + (out_o[:, None] + out_r[None, :]), "
        f"{result}.to(out_ptr.dtype.element_ty), mask=m)"
    )
    return lines


def _normalize(stage: Stage, stats: str) -> list[str]:
    """``red`` from ``x`` and the statistics (``mx``/``s`` or ``mean``/``rstd``)."""
    if stage.kind == "softmax":
        return ["red = tl.exp(x - mx[:, None]) / s[:, None]"]
    if stage.kind == "log_softmax":
        return ["red = x - mx[:, None] - tl.log(s)[:, None]"]
    return ["red = (x - mean[:, None]) * rstd[:, None]"]


def _indent(lines: list[str], n: int) -> list[str]:
    return [" " * n + line for line in lines]


def kernel_source(stage: Stage) -> str:
    """The ``@triton.jit`` kernel of a stage."""
    d = stage.logical_rank
    names = _tensors(stage)
    odims = _odims(stage)
    args = ["    " + "".join(f"{n}_ptr, " for n in names) + "# pointers",
            "    n_o, n_r, " + "".join(f"L{k}, " for k in range(d)) + "# sizes",
            *("    " + "".join(f"{n}_s{k}, " for k in range(d)) + f"# strides of {n}"
              for n in names),
            "    inv_n, eps,",
            "    BLOCK_O: tl.constexpr, BLOCK_R: tl.constexpr, ONE_PASS: tl.constexpr,"]  # fmt: skip
    body = [
        "pid = tl.program_id(0)",
        "o = (pid * BLOCK_O + tl.arange(0, BLOCK_O)).to(tl.int64)",
        "o_mask = o < n_o",
        *_decompose(odims, "o", "co"),
        *_offsets(names, odims, "o", "BLOCK_O"),
    ]
    post = [n for n, _ in stage.post_operands]
    if stage.kind == "map":
        body += ["for r0 in range(0, n_r, BLOCK_R):"]
        body += _indent(_chunk(stage, "r0") + _post_tile(stage), 4)
    elif stage.kind in NORMALIZE:
        chunk = _chunk(stage, "0")
        if stage.kind == "norm":
            one_stats = ["mean = tl.sum(tl.where(m, x, 0.0), 1) * inv_n",
                         "dev = tl.where(m, x - mean[:, None], 0.0)",
                         "rstd = 1.0 / tl.sqrt(tl.sum(dev * dev, 1) * inv_n + eps)"]  # fmt: skip
            loop_init = ["cnt = tl.zeros([BLOCK_O], dtype=tl.float32)",
                         "mean = tl.zeros([BLOCK_O], dtype=tl.float32)",
                         "m2 = tl.zeros([BLOCK_O], dtype=tl.float32)"]  # fmt: skip
            loop_acc = ["nb = tl.sum(m.to(tl.float32), 1)",
                        "nbs = tl.maximum(nb, 1.0)",
                        "mb = tl.sum(tl.where(m, x, 0.0), 1) / nbs",
                        "db = tl.where(m, x - mb[:, None], 0.0)",
                        "m2b = tl.sum(db * db, 1)",
                        "tot = tl.maximum(cnt + nb, 1.0)",
                        "delta = mb - mean",
                        "mean = mean + delta * nb / tot",
                        "m2 = m2 + m2b + delta * delta * cnt * nb / tot",
                        "cnt = cnt + nb"]  # fmt: skip
            loop_fin = ["rstd = 1.0 / tl.sqrt(m2 * inv_n + eps)"]
        else:
            one_stats = ["mx = tl.max(tl.where(m, x, -float('inf')), 1)",
                         "mx = tl.where(mx == -float('inf'), 0.0, mx)",
                         "s = tl.sum(tl.where(m, tl.exp(x - mx[:, None]), 0.0), 1)"]  # fmt: skip
            loop_init = ["mx = tl.full([BLOCK_O], -float('inf'), dtype=tl.float32)",
                         "s = tl.zeros([BLOCK_O], dtype=tl.float32)"]  # fmt: skip
            loop_acc = ["cm = tl.maximum(mx, tl.max(tl.where(m, x, -float('inf')), 1))",
                        "cm = tl.where(cm == -float('inf'), 0.0, cm)",
                        "s = s * tl.exp(mx - cm) + tl.sum(tl.where(m, tl.exp(x - cm[:, None]), 0.0), 1)",
                        "mx = cm"]  # fmt: skip
            loop_fin = []
        body += ["if ONE_PASS:"]
        body += _indent(chunk + one_stats + _normalize(stage, "") + _post_tile(stage), 4)
        body += ["else:"]
        body += _indent(loop_init, 4)
        body += _indent(["for r0 in range(0, n_r, BLOCK_R):"], 4)
        body += _indent(_chunk(stage, "r0") + loop_acc, 8)
        body += _indent(loop_fin, 4)
        body += _indent(["for r1 in range(0, n_r, BLOCK_R):"], 4)
        body += _indent(_chunk(stage, "r1") + _normalize(stage, "") + _post_tile(stage), 8)
    else:
        kind = stage.kind
        if kind == "lse":
            body += ["mx = tl.full([BLOCK_O], -float('inf'), dtype=tl.float32)",
                     "s = tl.zeros([BLOCK_O], dtype=tl.float32)"]  # fmt: skip
            acc = ["cm = tl.maximum(mx, tl.max(tl.where(m, x, -float('inf')), 1))",
                   "cs = tl.where(cm == -float('inf'), 0.0, cm)",
                   "s = s * tl.exp(mx - cs) + tl.sum(tl.where(m, tl.exp(x - cs[:, None]), 0.0), 1)",
                   "mx = cm"]  # fmt: skip
            fin = ["red = tl.where(mx == -float('inf'), mx, mx + tl.log(s))"]
        else:
            ident = _IDENTITY[kind]
            body.append(f"acc = tl.full([BLOCK_O], {ident}, dtype=tl.float32)")
            combine = {"sum": "acc + tl.sum({v}, 1)", "mean": "acc + tl.sum({v}, 1)",
                       "max": "tl.maximum(acc, tl.max({v}, 1))",
                       "min": "tl.minimum(acc, tl.min({v}, 1))"}[kind]  # fmt: skip
            acc = [f"acc = {combine.format(v=f'tl.where(m, x, {ident})')}"]
            fin = ["red = acc * inv_n" if kind == "mean" else "red = acc"]
        body += ["for r0 in range(0, n_r, BLOCK_R):"]
        body += _indent(_chunk(stage, "r0") + acc, 4)
        body += fin
        body += [f"{n} = tl.load({n}_ptr + {n}_o, mask=o_mask, other=0.0).to(tl.float32)"
                 for n in post]  # fmt: skip
        body += _steps(stage.post_steps)
        body.append(
            f"tl.store(out_ptr + out_o, {stage.post_result}.to(out_ptr.dtype.element_ty), "
            "mask=o_mask)"
        )
    doc = (
        f'    """{stage.summary}: {stage.kind} over logical dims {list(stage.dims)}, fp32 math."""'
    )
    return "\n".join(
        ["@triton.jit", f"def {kernel_name(stage)}(", *args, "):", doc, *_indent(body, 4)]
    )


def wrapper_source(stage: Stage, block: int, max_one_pass: int, chunk: int) -> str:
    """The wrapper: runtime shapes, logical views (no copies), allocation, launch."""
    ts = [f"t{i}" for i in range(len(stage.inputs))]
    pre_t = [f"t{i}" for _, i in stage.pre_operands]
    rank = stage.rank
    lines = [f"def {wrapper_name(stage)}({', '.join(ts)}):",
             f'    """{stage.summary}, one launch: every input read once per pass, the result'
             ' written once."""']  # fmt: skip
    for i, inp in enumerate(stage.inputs):
        if inp.channel:
            lines.append(f"    t{i} = t{i}.reshape(-1, *([1] * ({rank} - 2)))")
    lines.append(f"    s = _kv_broadcast_shape({', '.join(f'{t}.shape' for t in pre_t)})")
    lines.append(f"    if len(s) != {rank}:")
    lines.append(f'        raise ValueError(f"the stage expects rank {rank}, got {{len(s)}}")')
    if stage.groups:
        g = stage.groups
        lines.append(f"    lshape = (s[0], {g}, s[1] // {g}, math.prod(s[2:]))")
        lines.append(f"    if s[1] % {g}:")
        lines.append(f'        raise ValueError("channels do not split into {g} groups")')
    else:
        lines.append("    lshape = tuple(s)")
    dims = list(stage.dims)
    if stage.kind in NORMALIZE or stage.kind == "map":
        lines.append("    out_shape = tuple(s)")
        lines.append("    keep = lshape")
    else:
        src_dims = dims
        lines.append(
            f"    keep_s = tuple(1 if k in {tuple(src_dims)} else n for k, n in enumerate(s))"
        )
        if stage.keepdim:
            lines.append("    out_shape = keep_s")
        else:
            lines.append(
                f"    out_shape = tuple(n for k, n in enumerate(s) if k not in {tuple(src_dims)})"
            )
        lines.append(
            f"    keep = tuple(1 if k in {tuple(dims)} else n for k, n in enumerate(lshape))"
        )
    # torch's promotion: 0-d tensors (captured constants) do not widen dimensioned ones
    lines += [
        f"    dtypes = [t.dtype for t in ({', '.join(ts)},) if t.dim() > 0] or [t0.dtype]",
        "    out = torch.empty(out_shape, device=t0.device, dtype=_kv_result_dtype(*dtypes))",
        "    if out.numel() == 0:",
        "        return out",
        "    views = [out.reshape(keep)]",
    ]
    for _, i in stage.pre_operands:
        lines.append(f"    views.append(t{i}.broadcast_to(s).reshape(lshape))")
    for _, i in stage.post_operands:
        shape = "s" if stage.kind in NORMALIZE else "out_shape"
        lines.append(f"    views.append(t{i}.broadcast_to({shape}).reshape(keep))")
    lines += [
        "    strides = []",
        "    for v in views:",
        "        st = list(v.stride())",
        "        strides += [0 if n == 1 else x for n, x in zip(v.shape, st)]",
        f"    n_r = math.prod(lshape[k] for k in {tuple(dims)})",
        "    n_o = math.prod(lshape) // max(n_r, 1)",
        "    if n_r == 0:",
        '        raise ValueError("a reduction over an empty extent")',
        f"    one_pass = n_r <= {max_one_pass}",
        f"    block_r = triton.next_power_of_2(n_r) if one_pass else {chunk}",
    ]
    if stage.kind == "map":
        lines.append(f"    block_r = min(triton.next_power_of_2(n_r), {block})")
        lines.append("    one_pass = True")
    lines += [
        f"    block_o = max(1, min({block} // block_r, triton.next_power_of_2(n_o)))",
        f"    {kernel_name(stage)}[(triton.cdiv(n_o, block_o),)](",
        "        *views, n_o, n_r, *lshape, *strides, 1.0 / n_r, " + repr(float(stage.eps)) + ",",
        "        BLOCK_O=block_o, BLOCK_R=block_r, ONE_PASS=one_pass, **_KV_LAUNCH,",
        "    )",
        "    return out",
    ]
    return "\n".join(lines)
