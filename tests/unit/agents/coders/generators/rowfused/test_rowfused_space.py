"""Row-fused generator: parameter space, expert seeds, fallbacks, search moves, module text."""

from __future__ import annotations

import pytest

from agents.coders.base import Coder, CoderContext, fingerprint
from agents.coders.composite import LanguageCoder
from agents.coders.generators.pointwise.coder import TritonOfflineCoder
from agents.coders.generators.rowfused import TEMPLATE, RowFusedCoder, recognise
from agents.coders.generators.rowfused import params as rp
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.rowfused import fixtures as rf
from tools.evaluator.static_checks import check_source
from tools.records import Candidate

CODER = RowFusedCoder()


def test_copy_bandwidth_shape_seeds_one_row_per_tile() -> None:
    program = recognise(rf.problem("softmax", M=4096, N=8192))
    seeds = rp.seeds(program, fx.H100)
    assert seeds[0] == {
        "variant": "single",
        "BLOCK_M": 1,
        "num_warps": 16,
        "num_stages": 1,
        "persistent": 0,
    }
    assert 2 <= len(seeds) <= 4 and len({str(s) for s in seeds}) == len(seeds)
    assert any(s["variant"] == "looped" for s in seeds)
    space = rp.space(program, fx.H100)
    assert all(space.is_legal(s) for s in seeds)


def test_short_rows_pack_several_rows_a_program() -> None:
    program = recognise(rf.problem("softmax", M=65536, N=100))
    first = rp.seeds(program, fx.H100)[0]
    assert first["variant"] == "single" and first["BLOCK_M"] >= 16


def test_long_rows_start_looped_in_chunks() -> None:
    program = recognise(rf.problem("log_softmax", M=1024, N=100000))
    seeds = rp.seeds(program, fx.H100)
    assert {s["variant"] for s in seeds} == {"looped"}
    assert seeds[0]["BLOCK_N"] == 4096
    assert "single" not in rp.space(program, fx.H100).variants  # 131072 > SINGLE_MAX
    few = rp.seeds(recognise(rf.problem("log_softmax", M=64, N=100000)), fx.H100)
    assert few[0]["variant"] == "split" and few[0]["BLOCK_N"] == 4096  # 64 rows, 132 SMs
    assert any(s["variant"] == "looped" for s in few)


def test_inner_reductions_read_contiguous_inner_blocks() -> None:
    program = recognise(rf.problem("sum_dim1", M=16, N=256))
    assert program.inner == 3 * 256
    assert rp.seeds(program, fx.H100)[0]["BLOCK_M"] >= 16


def test_amd_targets_tune_waves_per_eu() -> None:
    program = recognise(rf.problem("layer_norm", M=512, N=4096))
    for params in rp.seeds(program, fx.MI300X):
        assert "waves_per_eu" in params
    for params in rp.seeds(program, fx.H100):
        assert "waves_per_eu" not in params
    hip = CODER.seed(rf.problem("layer_norm", M=512, N=4096), fx.MI300X)[0].source
    assert "'waves_per_eu': 0" in hip


def test_register_budget_rejects_oversized_tiles() -> None:
    program = recognise(rf.problem("mse", M=4096, N=8192))
    space = rp.space(program, fx.H100)
    big = {"variant": "single", "BLOCK_M": 8, "num_warps": 1, "num_stages": 1, "persistent": 0}
    assert not space.is_legal(big)


def test_safer_configs_are_legal_and_end_looped() -> None:
    program = recognise(rf.problem("layer_norm", M=4096, N=8192))
    space = rp.space(program, fx.H100)
    for seed in rp.seeds(program, fx.H100):
        fallbacks = rp.safer(seed, program, fx.H100)
        assert fallbacks and all(space.is_legal(p) for p in fallbacks)
        assert fallbacks[-1]["variant"] == "looped"


def test_search_moves_stay_in_the_space() -> None:
    problem = rf.problem("cross_entropy", M=256, N=1000)
    drafts = CODER.seed(problem, fx.H100)
    tried = [fingerprint(d.template, d.params) for d in drafts]
    space = rp.space(recognise(problem), fx.H100)
    for mode in ("inherit", "restart", "compare", "combine"):
        ctx = CoderContext(
            problem=problem, target=fx.H100, memory_mode=mode, tried=tried, rng_seed=3
        )
        draft = CODER.propose(ctx)
        assert draft.template == TEMPLATE and space.is_legal(draft.params)
        assert fingerprint(draft.template, draft.params) not in tried


@pytest.mark.parametrize("name", ["softmax", "cross_entropy", "mse", "sum_dim1", "argmax"])
def test_modules_are_self_contained_and_policy_clean(name: str) -> None:
    for draft in CODER.seed(rf.problem(name), fx.H100):
        source = draft.source
        fx.assert_self_contained(source)
        assert "@triton.jit" in source and "Bytes moved" in source
        assert check_source(source, allow_reference_ops=False) == []


def test_whole_outputs_finish_with_a_tensor_sum_in_the_wrapper() -> None:
    source = CODER.seed(rf.problem("mse", M=64, N=1000), fx.H100)[0].source
    assert "_kv_w = [part[0].sum()]" in source
    assert ".to(dtype).reshape(())" in source


def test_language_coder_routes_row_programs_to_this_generator() -> None:
    coder = LanguageCoder("triton", [TritonOfflineCoder(), CODER])
    problem = rf.problem("layer_norm", 64, 4096)  # a file: the op templates do not claim it
    drafts = coder.seed(problem, fx.H100)
    assert drafts and {d.template for d in drafts} == {TEMPLATE}
    parent = Candidate(
        id="c1",
        language="triton",
        source=drafts[0].source,
        template=drafts[0].template,
        params=drafts[0].params,
    )
    ctx = CoderContext(
        problem=problem,
        target=fx.H100,
        memory_mode="inherit",
        parent=parent,
        tried=[fingerprint(d.template, d.params) for d in drafts],
    )
    child = coder.propose(ctx)
    assert child.template == TEMPLATE and child.params != parent.params
    assert isinstance(CODER, Coder)
