"""Row-fused generator: recognition of traced references into row programs (no kernels run).

Each pattern of the brief traces to the expected row space, reductions and outputs; the
refusals are one sentence naming what cannot be fused; the geometry helpers index
broadcast operands correctly (checked against torch broadcasting on small shapes).
"""

from __future__ import annotations

import math

import pytest
import torch

from agents.coders.generators.rowfused import RowFusedCoder, recognise
from agents.coders.generators.rowfused.geometry import (
    Geometry,
    is_row_identity,
    reduced_block,
    row_terms,
    runs,
    tile_terms,
    whole_geometry,
)
from agents.coders.generators.rowfused.ir import Reduce, Term
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.rowfused import fixtures as rf
from tools.errors import ProblemError
from tools.problems.loader import load_problem
from tools.records import Problem

EXPECTED: dict[str, tuple[tuple[int, int, int], list[str], list[str]]] = {
    # name: ((outer, n, inner), reduction kinds, output kinds) at M=5, N=37
    "softmax": ((5, 37, 1), ["max", "sum"], ["full"]),
    "log_softmax": ((5, 37, 1), ["max", "sum"], ["full"]),
    "logsumexp": ((5, 37, 1), ["max", "sum"], ["row"]),
    "layer_norm": ((5, 37, 1), ["welford"], ["full"]),
    "layer_norm_plain": ((5, 37, 1), ["welford"], ["full"]),
    "rms_norm": ((5, 37, 1), ["sum"], ["full"]),
    "normalize": ((5, 37, 1), ["sum"], ["full"]),
    "sum": ((5, 37, 1), ["sum"], ["row"]),
    "amax": ((5, 37, 1), ["max"], ["row"]),
    "amin": ((5, 37, 1), ["min"], ["row"]),
    "prod": ((5, 37, 1), ["prod"], ["row"]),
    "var": ((5, 37, 1), ["welford"], ["row"]),
    "std_biased": ((5, 37, 1), ["welford"], ["row"]),
    "argmax": ((5, 37, 1), ["argmax"], ["row"]),
    "argmin": ((5, 37, 1), ["argmin"], ["row"]),
    "silu_sum": ((5, 37, 1), ["sum"], ["row"]),
    "cross_entropy": ((5, 37, 1), ["max", "sum", "gather"], ["whole"]),
    "cosine_loss": ((5, 37, 1), ["sum", "sum", "sum"], ["whole"]),
    "triplet": ((5, 37, 1), ["sum", "sum"], ["whole"]),
    "group_norm": ((15, 222, 1), ["welford"], ["full"]),
    "instance_norm": ((30, 111, 1), ["welford"], ["full"]),
    "sum_dim1": ((5, 6, 111), ["sum"], ["row"]),
    "softmax_dim1": ((5, 6, 111), ["max", "sum"], ["full"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_pattern_becomes_one_row_program(name: str) -> None:
    geometry, reductions, outputs = EXPECTED[name]
    program = recognise(rf.problem(name))
    assert (program.outer, program.n_len, program.inner) == geometry
    assert [r.kind for r in program.reductions()] == reductions
    assert [o.kind for o in program.outputs] == outputs
    assert program.summary


@pytest.mark.parametrize("name", ["mse", "mse_sum", "huber", "huber_beta", "kl_div", "hinge"])
def test_losses_write_row_partials_finished_by_the_wrapper(name: str) -> None:
    program = recognise(rf.problem(name, M=64, N=1000))
    assert program.total == 64 * 1000 and program.inner == 1
    assert program.n_len == 1000 and program.rows == 64  # rows to spread over the chip
    (out,) = program.outputs
    assert out.kind == "whole" and out.shape == () and "_kv_w[0]" in out.expr
    assert [p.combine for p in program.partials] == ["sum"]


def test_softmax_family_sums_are_online_with_their_maximum() -> None:
    for name in ("softmax", "log_softmax", "logsumexp", "cross_entropy"):
        program = recognise(rf.problem(name))
        maxima = [r for r in program.reductions() if r.kind == "max"]
        sums = [r for r in program.reductions() if r.online is not None]
        assert len(maxima) == 1 and len(sums) == 1, name
        value, maximum, _shift = sums[0].online  # type: ignore[misc]
        assert maximum == maxima[0].outs[0] and value == maxima[0].arg


def test_cross_entropy_gathers_by_index_compare() -> None:
    program = recognise(rf.problem("cross_entropy"))
    (gather,) = [r for r in program.reductions() if r.kind == "gather"]
    assert gather.index is not None
    assert [o.dtype for o in program.operands] == ["float32", "int64"]
    assert program.outputs[0].expr == "(_kv_w[1] / _kv_w[0])"  # mean over non-ignored rows


def test_output_dtypes_follow_inputs_unless_the_reference_fixes_them() -> None:
    assert recognise(rf.problem("softmax")).outputs[0].dtype is None  # fp16 in, fp16 out
    assert recognise(rf.problem("argmax")).outputs[0].dtype == "float32"  # .float() fixes it
    plain = rf.source("argmax").replace("torch.argmax(x, dim=-1).float()", "x.argmax(-1)")
    program = recognise(Problem(name="argmax_plain", source=plain))
    assert program.outputs[0].dtype == "int64"


def test_max_with_indices_is_a_tuple_output() -> None:
    src = rf.source("max_values").replace("torch.max(x, dim=-1).values", "torch.max(x, dim=-1)")
    program = recognise(Problem(name="max_tuple", source=src))
    assert program.tuple_output
    assert [(o.kind, o.dtype) for o in program.outputs] == [("row", None), ("row", "int64")]


def test_group_norm_affine_is_indexed_by_channel() -> None:
    program = recognise(rf.problem("group_norm"))
    loads = [op for op in program.ops if getattr(op, "operand", None) is not None]
    weight = next(op for op in loads if program.operands[op.operand].expr == "self.gn.weight")
    # (N, 6, 3, 37) with 3 groups: channel = (flat // (3 * 37)) % 6
    assert weight.terms == (Term("f", 111, 6, 1),)


@pytest.mark.parametrize("name", sorted(rf.REJECTED))
def test_refusals_are_one_sentence(name: str) -> None:
    word = rf.REJECTED[name][2]
    assert word in fx.assert_refused(recognise, rf.problem(name, M=64, N=1000))


def test_generated_named_ops_are_left_to_the_op_templates() -> None:
    coder = RowFusedCoder()
    named = load_problem("softmax", shape="37x1000")  # the evaluator re-shapes it
    assert named.op == "softmax" and not coder.supports(named, fx.H100)
    with pytest.raises(ProblemError, match="re-shapes"):
        coder.analyze(named)
    assert coder.supports(rf.problem("softmax"), fx.H100)
    assert not coder.supports(rf.problem("softmax"), fx.CPU)


def test_inputs_drawn_from_torch_distributions_trace_on_meta() -> None:
    src = rf.source("hinge", 64, 1000).replace(
        "torch.randn(64, 1000)", "torch.distributions.Pareto(0.01, 1.5).sample((64, 1000))"
    )
    assert "Pareto" in src
    program = recognise(Problem(name="hinge_pareto", source=src))
    assert program.outputs[0].kind == "whole"


def test_recognition_never_allocates_the_reference_inputs() -> None:
    program = recognise(rf.problem("layer_norm", M=1 << 16, N=1 << 16))  # 16 GiB if allocated
    assert program.total == 1 << 32 and program.n_len == 1 << 16


# ---- geometry -------------------------------------------------------------------------------
def _read(terms: tuple[Term, ...], r: int, n: int, geo: Geometry) -> int:
    o, i = divmod(r, geo.inner)
    f = (o * geo.n_len + n) * geo.inner + i
    src = {"r": r, "n": n, "f": f}
    return sum(((src[t.src] // t.div) % (t.mod or 1 << 62)) * t.mul for t in terms)


@pytest.mark.parametrize(
    ("src", "dst", "geo"),
    [
        ((7,), (3, 5, 7), Geometry(15, 7, 1)),
        ((5, 1), (3, 5, 7), Geometry(15, 7, 1)),
        ((1, 5, 1), (3, 5, 7), Geometry(3, 5, 7)),
        ((3, 1, 7), (3, 5, 7), Geometry(3, 5, 7)),
        ((1, 6, 1, 1), (2, 6, 3, 4), Geometry(6, 24, 1)),
        ((2, 1, 3, 1), (2, 6, 3, 4), Geometry(2, 6, 12)),
        ((4,), (2, 6, 3, 4), Geometry(2, 6, 12)),
    ],
)
def test_tile_terms_match_torch_broadcasting(src: tuple, dst: tuple, geo: Geometry) -> None:
    assert geo.total == math.prod(dst)
    operand = torch.arange(math.prod(src)).reshape(src)
    expected = operand.expand(dst).reshape(-1)
    terms = tile_terms(src, dst, geo)
    for r in range(geo.rows):
        for n in range(geo.n_len):
            o, i = divmod(r, geo.inner)
            f = (o * geo.n_len + n) * geo.inner + i
            assert _read(terms, r, n, geo) == int(expected[f])


def test_row_identity_and_blocks() -> None:
    geo = Geometry(3, 5, 7)
    assert is_row_identity(tile_terms((3, 1, 7), (3, 5, 7), geo), geo.rows)
    assert not is_row_identity(tile_terms((1, 5, 1), (3, 5, 7), geo), geo.rows)
    assert is_row_identity(row_terms((3, 7), (3, 7), 21), 21)
    assert not is_row_identity(row_terms((3, 1), (3, 7), 21), 21)
    assert reduced_block((3, 5, 7), {1}) == (3, 5, 7)
    assert reduced_block((1, 8, 3, 3), {0, 2, 3}) == (8, 9, 1)
    assert reduced_block((3, 5, 7), {0, 2}) is None
    assert runs((4,), (3, 5)) is None


def test_whole_geometry_spreads_rows_over_the_chip() -> None:
    assert whole_geometry((128, 4096)) == Geometry(128, 4096, 1)
    assert whole_geometry((32768, 32768)) == Geometry(32768, 32768, 1)
    assert whole_geometry((5, 37)) == Geometry(1, 185, 1)
    assert whole_geometry((1 << 20,)) == Geometry(1024, 1024, 1)
    assert whole_geometry((64, 1000)).rows == 64


def test_reductions_see_their_partner_only_once() -> None:
    program = recognise(rf.problem("softmax"))
    online = [op for op in program.ops if isinstance(op, Reduce) and op.online]
    assert len(online) == 1
