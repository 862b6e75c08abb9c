"""Attention generator: recognition of SDPA and explicit attention, seeds, spaces, rendering.

Everything here runs in-process on the meta device (no kernel runs); the interpreter and
AOT-compile checks are in ``test_attention_kernels.py``.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from agents.coders.base import Coder, CoderContext
from agents.coders.composite import LanguageCoder
from agents.coders.generators.attention import AttentionCoder, AttentionSpec, analyze_attention
from agents.coders.generators.attention.lazy import causal_offset, constant, lazy_node
from agents.coders.generators.attention.spec import padded
from tests.support import IMPORTS, model_source
from tests.unit.agents.coders import fixtures as fx
from tools.evaluator.static_checks import check_source
from tools.records import Candidate, Problem

CODER = AttentionCoder()

BODIES = {
    "sdpa": "        return F.scaled_dot_product_attention(q, k, v)",
    "sdpa_causal": (
        "        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)"
    ),
    "explicit": (
        "        s = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))\n"
        "        return torch.softmax(s, dim=-1) @ v"
    ),
    "masked_fill_tril": (
        "        S = q.size(-2)\n"
        "        mask = torch.tril(torch.ones(S, S, device=q.device)).bool()\n"
        "        s = (q @ k.transpose(-2, -1)) * 0.125\n"
        "        return F.softmax(s.masked_fill(~mask, float('-inf')), dim=-1) @ v"
    ),
    "triu_bool": (
        "        S = q.size(-2)\n"
        "        mask = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)\n"
        "        s = torch.matmul(q, k.transpose(-1, -2)) * 0.125\n"
        "        return torch.matmul(s.masked_fill(mask, float('-inf')).softmax(-1), v)"
    ),
    "additive": (
        "        S = q.size(-2)\n"
        "        bias = torch.full((S, S), float('-inf'), dtype=q.dtype).triu(1)\n"
        "        return torch.softmax(q @ k.transpose(-2, -1) * 0.125 + bias, -1) @ v"
    ),
    "bmm_3d": (
        "        s = torch.bmm(q, k.transpose(1, 2)) * 0.2\n"
        "        return torch.bmm(torch.softmax(s, dim=-1), v)"
    ),
    "upcast": (
        "        s = (q.float() @ k.float().transpose(-2, -1)) * 0.125\n"
        "        return torch.softmax(s, -1).to(q.dtype) @ v"
    ),
}


MASKED = (
    "        ones = torch.ones(q.size(-2), k.size(-2))\n"
    "        m = {mask}\n"
    "        s = (q @ k.transpose(-2, -1)).masked_fill({hidden}, float('-inf'))\n"
    "        return torch.softmax(s, -1) @ v"
)
"""An explicit attention whose mask expression is filled in (``m`` hides where ``hidden``)."""


def attention_problem(
    body: str,
    q: str = "2, 3, 77, 32",
    k: str | None = None,
    v: str | None = None,
    dtype: str = "float32",
    init: str = "        pass",
    extra: str = "",
    more: str = "",
    name: str = "attention",
) -> Problem:
    """A KernelBench file problem (``op`` None) computing attention with these shapes."""
    k = k or q
    inputs = ", ".join(f"torch.randn({shape}, dtype=DT)" for shape in (q, k, v or k)) + more
    source = model_source(
        BODIES.get(body, body), inputs, args=f"q, k, v{extra}", init=init,
        constants=f"DT = torch.{dtype}", imports=("math", *IMPORTS),
    )  # fmt: skip
    return Problem(name=name, source=source, op=None, dtype=dtype)


# ---- recognition ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "shapes", "causal", "scale"),
    [
        ("sdpa", ("2, 3, 77, 32", "2, 3, 45, 32"), False, 32**-0.5),
        ("sdpa_causal", ("2, 3, 70, 64", "2, 3, 37, 64"), True, 0.3),
        ("explicit", ("4, 33, 64",), False, 0.125),
        ("masked_fill_tril", ("2, 2, 50, 128",), True, 0.125),
        ("triu_bool", ("50, 16",), True, 0.125),
        ("additive", ("3, 40, 32",), True, 0.125),
        ("bmm_3d", ("3, 40, 32",), False, 0.2),
    ],
)
def test_attention_forms_are_recognised(
    body: str, shapes: tuple[str, ...], causal: bool, scale: float
) -> None:
    spec = analyze_attention(attention_problem(body, *shapes))
    assert spec.causal is causal and spec.causal_offset == 0
    assert spec.scale == pytest.approx(scale, rel=1e-6)
    q = [int(s) for s in shapes[0].split(",")]
    k = [int(s) for s in shapes[-1].split(",")]
    assert (spec.seq_q, spec.seq_k, spec.head_dim) == (q[-2], k[-2], q[-1])
    assert spec.batch == tuple(q[:-2]) and spec.args == (0, 1, 2)
    assert spec.form == ("sdpa" if body.startswith("sdpa") else "explicit")


def test_fp16_upcast_reference_keeps_the_input_dtype() -> None:
    spec = analyze_attention(attention_problem("upcast", dtype="float16"))
    assert (spec.dtype, spec.out_dtype, spec.causal) == ("float16", "float16", False)


def test_argument_roles_follow_the_reference() -> None:
    swapped = attention_problem("        return F.scaled_dot_product_attention(q, v, k)")
    assert analyze_attention(swapped).args == (0, 2, 1)
    own = attention_problem(
        "        return F.scaled_dot_product_attention(q, q, q, is_causal=True)"
    )
    spec = analyze_attention(own)
    assert spec.args == (0, 0, 0) and spec.causal
    assert "return _kv_attention(q, q, q)" in CODER.seed(own, fx.H100)[0].source


def test_bottom_right_causal_mask_has_an_offset() -> None:
    body = (
        "        mask = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool).tril(diagonal=8)\n"
        "        s = (q @ k.transpose(-2, -1)).masked_fill(~mask, float('-inf'))\n"
        "        return torch.softmax(s, dim=-1) @ v"
    )
    spec = analyze_attention(attention_problem(body, "2, 30, 32", "2, 38, 32"))
    assert spec.causal and spec.causal_offset == 8


@pytest.mark.parametrize(
    ("body", "kwargs", "match"),
    [
        ("        return torch.relu(F.scaled_dot_product_attention(q, k, v))", {}, "relu"),
        (
            "        return F.scaled_dot_product_attention(q, k, v, attn_mask=m.view(2, 1, 1, 77))",
            {"extra": ", m", "more": ", torch.ones(2, 77, dtype=torch.bool)"},
            "view from",
        ),
        ("        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)", {}, "random"),
        ("sdpa", {"q": "2, 4, 33, 1024"}, "head dim 1024"),
        (MASKED.format(mask="torch.triu(ones).bool()", hidden="~m"), {}, "not causal"),
        (MASKED.format(mask="torch.tril(ones, diagonal=-1)", hidden="m == 0"), {}, "every key"),
        ("        return torch.softmax(q @ k.transpose(-2, -1), dim=2) @ v", {}, "last dim"),
        ("        return torch.softmax(q @ k.transpose(-2, -1) * -0.1, -1) @ v", {}, "positive"),
        ("        return q @ k.transpose(-2, -1)", {}, "output is not"),
        ("        return torch.sigmoid(q @ k.transpose(-2, -1)) @ v", {}, "sigmoid"),
        (
            MASKED.format(mask="self.bias[:, :, :77, :77]", hidden="m == 0"),
            {"init": "        self.register_buffer('bias', torch.ones(1, 1, 80, 80).tril())"},
            "buffer",
        ),
    ],
)
def test_other_graphs_are_rejected_with_one_sentence(
    body: str, kwargs: dict[str, Any], match: str
) -> None:
    fx.assert_refused(analyze_attention, attention_problem(body, **kwargs), match, CODER)


def test_other_coders_problems_are_not_claimed() -> None:
    for problem in (fx.named_problem("softmax"), fx.named_problem("matmul", M=64, N=64, K=64),
                    fx.chain_problem()):  # fmt: skip
        assert not CODER.supports(problem, fx.H100)
    assert not CODER.supports(attention_problem("sdpa"), fx.CPU)


def test_lazy_masks_are_read_without_materialising() -> None:
    huge = 1 << 18  # a 2^36-element mask: only a few rows are ever evaluated
    tril = lazy_node(_FakeNode("tril"), [constant((huge, huge), True)])
    assert causal_offset((tril,), huge, huge) == 0
    assert causal_offset((constant((huge, huge), True),), huge, huge) is None


class _FakeNode:
    """The bits of an fx.Node that ``lazy_node`` reads for ``aten.tril``."""

    def __init__(self, kind: str) -> None:
        import torch

        self.target = getattr(torch.ops.aten, kind).default
        self.kwargs: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self.op = "call_function"


# ---- seeds, spaces, moves ------------------------------------------------------------------
def _seed_params(problem: Problem, target: Any) -> list[dict[str, Any]]:
    return [d.params for d in CODER.seed(problem, target)]


def test_sm90_fp16_seeds_follow_the_fused_attention_tutorial() -> None:
    long = attention_problem("sdpa_causal", "8, 16, 2048, 64", dtype="float16")
    first = _seed_params(long, fx.H100)[0]
    assert (first["BLOCK_M"], first["BLOCK_N"], first["num_warps"], first["num_stages"]) == (
        128, 64, 4, 4,
    )  # fmt: skip
    wide = attention_problem("sdpa", "8, 16, 2048, 128", dtype="float16")
    first = _seed_params(wide, fx.H100)[0]
    assert (first["BLOCK_M"], first["BLOCK_N"], first["num_warps"]) == (128, 64, 8)
    short = attention_problem("sdpa", "1, 2, 200, 64", dtype="float16")
    assert _seed_params(short, fx.H100)[0]["BLOCK_M"] == 64  # 4 query blocks: smaller tile first


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize(
    "shape",
    ["1, 2, 45, 32", "2, 8, 1024, 64", "4, 4, 300, 128", "77, 16", "2, 4, 512, 256", "2, 333, 160"],
)
def test_seeds_are_legal_diverse_and_fit_the_target(dtype: str, shape: str) -> None:
    problem = attention_problem("sdpa_causal", shape, dtype=dtype)
    spec = CODER.spec_for(problem, fx.H100)
    for target in (fx.H100, fx.MI300X):
        seeds = _seed_params(problem, target)
        space = CODER.space(spec, target)
        assert 2 <= len(seeds) <= 4 and all(space.is_legal(s) for s in seeds)
        assert len({tuple(sorted(s.items())) for s in seeds}) == len(seeds)
        hip_keys = {"waves_per_eu", "matrix_instr_nonkdim"}
        assert all((hip_keys <= set(s)) == (target is fx.MI300X) for s in seeds)
        d = padded(spec.head_dim)  # the kernel's tiles: a power of two
        for s in seeds:
            smem = (s["BLOCK_M"] * d + s["num_stages"] * s["BLOCK_N"] * 2 * d) * spec.elem_bytes
            assert smem <= target.shared_mem_per_block_kib * 1024
        assert CODER.safer(seeds[0], spec, target)


def test_rendered_module_is_self_contained_and_exact_for_fp32() -> None:
    problem = attention_problem("masked_fill_tril", "2, 2, 50, 64")
    for target in (fx.H100, fx.MI300X):
        source = CODER.seed(problem, target)[0].source
        fx.assert_self_contained(source, "except", "allow_tf32=True")
        assert 'input_precision="ieee"' in source and "IEEE=q.dtype == torch.float32" in source
        assert "CAUSAL=True" in source and "Bytes moved" in source
        assert ("'waves_per_eu'" in source) == (target is fx.MI300X)
        assert check_source(source, allow_reference_ops=False) == []  # no torch op does the work
    default_scale = CODER.seed(attention_problem("sdpa"), fx.H100)[0].source
    assert "(head_dim ** -0.5) * 1.4426950408889634" in default_scale


def test_moves_stay_in_the_space() -> None:
    problem = attention_problem("sdpa_causal", "2, 8, 1024, 64", dtype="float16")
    spec = CODER.spec_for(problem, fx.H100)
    space = CODER.space(spec, fx.H100)
    seed = CODER.seed(problem, fx.H100)[0]
    for mode in ("inherit", "restart", "combine", "compare"):
        parent = Candidate(id="p1", language="triton", source=seed.source,
                           template=seed.template, params=seed.params)  # fmt: skip
        ctx = CoderContext(problem=problem, target=fx.H100, memory_mode=mode, parent=parent,
                           rng_seed=random.Random(mode).randrange(100))  # fmt: skip
        draft = CODER.propose(ctx)
        assert draft.template == "triton.attention" and space.is_legal(draft.params)


def test_language_coder_routes_attention_to_this_generator() -> None:
    problem = attention_problem("sdpa")
    assert isinstance(CODER, Coder)
    coder = LanguageCoder("triton", [CODER])
    assert coder.templates(problem, fx.H100) == {"triton.attention": CODER}
    assert coder.seed(problem, fx.H100)[0].template == "triton.attention"


def test_attention_spec_is_frozen() -> None:
    spec = analyze_attention(attention_problem("sdpa"))
    assert isinstance(spec, AttentionSpec)
    with pytest.raises(AttributeError):
        spec.causal = True  # type: ignore[misc]


@pytest.mark.parametrize("fused", ["sdpa", "flash_for_cpu"])
def test_undecomposed_attention_ops_are_recognised(fused: str) -> None:
    """Other torch versions or backends may leave SDPA whole in the graph: read its schema."""
    import torch
    import torch.nn.functional as F
    from torch.fx.experimental.proxy_tensor import make_fx

    from agents.coders.generators.attention.recognize import recognise
    from agents.coders.generators.attention.spec import spec_from
    from agents.coders.kit.fx import output_node

    if fused == "sdpa":
        inputs = [torch.empty(2, 3, 17, 32, device="meta") for _ in range(3)]
        gm = make_fx(
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.2),
            pre_dispatch=True,
        )(*inputs)
    else:
        flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
        gm = make_fx(lambda q, k, v: flash(q, k, v, 0.0, True, scale=0.2)[0])(
            *[torch.empty(2, 3, 17, 32) for _ in range(3)]
        )
    gm.graph.eliminate_dead_code()
    assert any(n.op == "call_function" and "scaled_dot_product" in str(n.target)
               for n in gm.graph.nodes)  # fmt: skip
    placeholders = tuple(n for n in gm.graph.nodes if n.op == "placeholder")
    out = output_node(gm)
    result, offset = recognise(gm, placeholders, out)
    spec = spec_from(result, offset, placeholders, out, ("q", "k", "v"))
    assert spec.causal and spec.causal_offset == 0 and spec.scale == 0.2
    assert (spec.batch, spec.seq_q, spec.seq_k, spec.head_dim) == ((2, 3), 17, 17, 32)
