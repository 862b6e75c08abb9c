"""Pooling generator: recognition of max/avg pooling and global average pooling, seeds, rendering.

In-process only (the reference is traced on the meta device); interpreter and AOT-compile
checks are in ``test_pooling_kernels.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from agents.coders.base import Coder, CoderContext
from agents.coders.composite import LanguageCoder
from agents.coders.generators.pooling import PoolingCoder, PoolSpec, analyze_pool
from agents.coders.generators.pooling.recognize import _groups
from tests.support import model_source
from tests.unit.agents.coders import fixtures as fx
from tools.errors import ProblemError
from tools.evaluator.static_checks import check_source
from tools.records import Candidate, Problem

CODER = PoolingCoder()

def pool_problem(
    expr: str, shape: str, init: str = "pass", dtype: str = "float32", name: str = "pool"
) -> Problem:
    """A KernelBench file problem (``op`` None) returning ``expr`` of one input ``x``."""
    source = model_source(f"return {expr}", f"torch.randn({shape}, dtype=torch.{dtype})", init=init)
    return Problem(name=name, source=source, op=None, dtype=dtype)


# ---- recognition ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("init", "expr", "shape", "expected"),
    [
        ("self.p = nn.MaxPool2d(3, 2, 1)", "self.p(x)", "2, 3, 17, 19",
         {"kind": "max", "kernel": (3, 3), "stride": (2, 2), "padding": (1, 1), "dims": 2,
          "out_shape": (2, 3, 9, 10)}),
        ("self.p = nn.MaxPool1d(4, stride=2, padding=2, dilation=3)", "self.p(x)", "2, 3, 40",
         {"kind": "max", "kernel": (1, 4), "stride": (1, 2), "padding": (0, 2),
          "dilation": (1, 3), "dims": 1, "pre": (-2,), "final_shape": (2, 3, 18)}),
        ("pass", "F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)", "2, 3, 17, 19",
         {"kind": "avg", "count_include_pad": False, "divisor": 0}),
        ("self.p = nn.AvgPool2d(3, padding=1)", "self.p(x)", "2, 3, 17, 19",
         {"kind": "avg", "stride": (3, 3), "count_include_pad": True}),
        ("pass", "F.avg_pool2d(x, (3, 2), (1, 2), (1, 0), divisor_override=5)", "3, 17, 19",
         {"kind": "avg", "kernel": (3, 2), "divisor": 5, "out_shape": (3, 17, 9)}),
        ("pass", "F.avg_pool1d(x, 4, 2, 1)", "2, 3, 40", {"kind": "avg", "dims": 1}),
        ("self.p = nn.AdaptiveAvgPool2d((1, 1))", "self.p(x).flatten(1)", "2, 3, 7, 7",
         {"kind": "global_avg", "reduce_dims": 2, "groups": ((0, 1), (1, 2))}),
        ("pass", "F.adaptive_avg_pool1d(x, 1)", "2, 3, 40", {"kind": "global_avg"}),
        ("pass", "x.mean(dim=(2, 3))", "2, 3, 17, 19",
         {"kind": "global_avg", "keepdim": False, "groups": None}),
    ],
)  # fmt: skip
def test_pooling_forms_are_recognised(
    init: str, expr: str, shape: str, expected: dict[str, Any]
) -> None:
    spec = analyze_pool(pool_problem(expr, shape, init))
    assert isinstance(spec, PoolSpec)
    for key, value in expected.items():
        assert getattr(spec, key) == value, (key, getattr(spec, key))


@pytest.mark.parametrize(
    ("expr", "match"),
    [
        ("F.max_pool2d(x, 2, ceil_mode=True)", "ceil_mode=True"),
        ("F.avg_pool2d(x, 2, ceil_mode=True)", "ceil_mode=True"),
        ("F.max_pool2d(x.relu(), 2)", "relu"),
        ("F.adaptive_avg_pool2d(x, 2)", "output size 1"),
        ("F.max_pool2d(x, 2, return_indices=True)[1]", "indices"),
        ("F.adaptive_max_pool2d(x, 1)", "adaptive_max_pool2d"),
        ("torch.softmax(x, -1)", "not a supported pooling op"),
        ("x.mean(dim=1)", "not global pooling"),
        ("F.max_pool2d(x, 2) + F.avg_pool2d(x, 2)", "besides"),
    ],
)
def test_other_graphs_are_rejected_with_one_sentence(expr: str, match: str) -> None:
    fx.assert_refused(analyze_pool, pool_problem(expr, "2, 3, 16, 16"), match, CODER)


def test_other_coders_problems_are_not_claimed() -> None:
    for problem in (fx.named_problem("mean"), fx.named_problem("softmax"), fx.chain_problem()):
        assert not CODER.supports(problem, fx.H100)
    assert not CODER.supports(pool_problem("F.max_pool2d(x, 2)", "2, 3, 8, 8"), fx.CPU)


def test_view_groups() -> None:
    assert _groups((2, 3, 1, 1), (2, 3)) == ((0, 1), (1, 2))
    assert _groups((2, 3, 1, 18), (2, 3, 18)) == ((0, 1), (1, 2), (2, 4))
    assert _groups((2, 3, 4, 5), (6, 20)) == ((0, 2), (2, 4))
    assert _groups((2, 3, 1), (2, 3, 1, 1)) == ((0, 1), (1, 2), (2, 2), (2, 2))
    with pytest.raises(ProblemError):
        _groups((2, 3, 4), (3, 8))


# ---- seeds, spaces, rendering --------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize(
    ("expr", "shape"),
    [
        ("F.max_pool2d(x, 3, 2, 1)", "16, 64, 112, 112"),
        ("F.max_pool2d(x, 2)", "1, 2, 5, 6"),
        ("F.avg_pool1d(x, 4, 2, 1)", "16, 32, 128"),
        ("F.adaptive_avg_pool2d(x, 1)", "128, 512, 7, 7"),
        ("F.adaptive_avg_pool2d(x, 1)", "2, 3, 100, 100"),
    ],
)
def test_seeds_are_legal_and_diverse(expr: str, shape: str, dtype: str) -> None:
    problem = pool_problem(expr, shape, dtype=dtype)
    spec = CODER.spec_for(problem, fx.H100)
    for target in (fx.H100, fx.MI300X):
        seeds = [d.params for d in CODER.seed(problem, target)]
        space = CODER.space(spec, target)
        assert 1 <= len(seeds) <= 4 and all(space.is_legal(s) for s in seeds)
        assert len({tuple(sorted(s.items())) for s in seeds}) == len(seeds)
        assert all(("waves_per_eu" in s) == (target is fx.MI300X) for s in seeds)
        assert CODER.safer(seeds[0], spec, target)
    large = [d.params for d in CODER.seed(problem, fx.H100)]
    if spec.rows * spec.cols >= 1 << 20:  # big outputs: at least 2 seeds, tiles of >= 256
        assert len(large) >= 2
        col_key = "BLOCK_C" if spec.kind == "global_avg" else "BLOCK_W"
        assert all(p.get("BLOCK_R", p.get("BLOCK_P", 0)) * p[col_key] >= 256 for p in large)


def test_rendered_module_is_self_contained() -> None:
    problem = pool_problem("self.p(x).flatten(1)", "2, 3, 7, 7", "self.p = nn.AdaptiveAvgPool2d(1)")
    source = CODER.seed(problem, fx.H100)[0].source
    fx.assert_self_contained(source, "except", "self.p(")
    assert "self.p = nn.AdaptiveAvgPool2d(1)" in source  # the reference's __init__ is kept
    assert "return _kv_regroup_view(_kv_pool(x), ((0, 1), (1, 2)))" in source
    one_d = CODER.seed(pool_problem("F.max_pool1d(x, 3)", "2, 4, 30"), fx.MI300X)[0].source
    assert "_kv_pool(x.unsqueeze(-2))" in one_d and "'waves_per_eu'" in one_d
    assert "propagate_nan=tl.PropagateNan.ALL" in one_d and "Bytes moved" in one_d
    assert check_source(one_d, allow_reference_ops=False) == []  # no torch op does the work


def test_language_coder_routes_pooling_to_this_generator() -> None:
    problem = pool_problem("F.max_pool2d(x, 2)", "2, 3, 8, 8")
    assert isinstance(CODER, Coder)
    coder = LanguageCoder("triton", [CODER])
    assert coder.templates(problem, fx.H100) == {"triton.pool": CODER}
    assert coder.seed(problem, fx.H100)[0].template == "triton.pool"


def test_moves_stay_in_the_space() -> None:
    problem = pool_problem("F.max_pool2d(x, 3, 2, 1)", "16, 64, 112, 112", dtype="float16")
    spec = CODER.spec_for(problem, fx.H100)
    space = CODER.space(spec, fx.H100)
    seed = CODER.seed(problem, fx.H100)[0]
    parent = Candidate(id="p1", language="triton", source=seed.source, template=seed.template,
                       params=seed.params)  # fmt: skip
    for i, mode in enumerate(("inherit", "restart", "combine", "compare")):
        ctx = CoderContext(problem=problem, target=fx.H100, memory_mode=mode, parent=parent,
                           rng_seed=i)  # fmt: skip
        draft = CODER.propose(ctx)
        assert draft.template == "triton.pool" and space.is_legal(draft.params)


def pre_dispatch_spec(fn: Any, shape: tuple[int, ...]) -> PoolSpec:
    """The spec of ``fn`` traced without decompositions (ops other torch versions may keep)."""
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    from agents.coders.generators.pooling.recognize import recognise_pool
    from agents.coders.kit.fx import output_node

    gm = make_fx(fn, pre_dispatch=True)(torch.empty(shape, device="meta"))
    gm.graph.eliminate_dead_code()
    placeholders = tuple(n for n in gm.graph.nodes if n.op == "placeholder")
    return recognise_pool(gm, placeholders, output_node(gm), ("x",))


def test_undecomposed_pooling_ops_are_recognised() -> None:
    import torch.nn.functional as F

    one_d = pre_dispatch_spec(lambda x: F.max_pool1d(x, 3, 2, 1), (2, 3, 20))
    assert (one_d.kind, one_d.kernel, one_d.stride, one_d.padding) == (
        "max",
        (1, 3),
        (1, 2),
        (0, 1),
    )
    assert one_d.pre == (-2,) and one_d.final_shape == (2, 3, 10)
    avg = pre_dispatch_spec(lambda x: F.avg_pool1d(x, 3, 2, 1), (2, 3, 20))
    assert avg.kind == "avg" and avg.dims == 1
    gap = pre_dispatch_spec(lambda x: F.adaptive_avg_pool1d(x, 1), (2, 3, 20))
    assert (gap.kind, gap.reduce_dims, gap.keepdim, gap.pre) == ("global_avg", 1, True, ())
    gap2 = pre_dispatch_spec(lambda x: F.adaptive_avg_pool2d(x, 1), (2, 3, 8, 8))
    assert (gap2.reduce_dims, gap2.out_shape) == (2, (2, 3, 1, 1))
    with pytest.raises(ProblemError, match="output size 1"):
        pre_dispatch_spec(lambda x: F.adaptive_avg_pool2d(x, 2), (2, 3, 8, 8))


def test_small_outputs_get_few_large_programs() -> None:
    """The Triton interpreter pays per program: a 260k-output 1-D window at 256-element tiles
    launched ~1,000 programs (~50 s a call there); seeds now tile at least 2,048 outputs."""
    problem = pool_problem("F.max_pool1d(x, 8, 1, 4, 3)", "8, 10, 3276")
    spec = CODER.spec_for(problem, fx.H100)
    first = CODER.seed(problem, fx.H100)[0].params
    out_w = spec.out_shape[-1]
    programs = -(-spec.rows // first["BLOCK_R"]) * -(-out_w // first["BLOCK_W"])
    assert first["BLOCK_R"] * first["BLOCK_W"] >= 2048 and programs <= 160, (first, programs)
