"""A GEMM rewrite's drafts declare the FLOPs of their own formulation; plain plans declare none.

The evaluator's FLOP floor follows ``Candidate.declared_flops`` (tests/unit/
test_evaluator_roofline.py), so these declarations are what keeps a ``sum_to_gemv`` kernel
from being flagged against the reference's 2MNK FLOPs.
"""

from __future__ import annotations

from agents.coders.generators.gemm import GemmCoder
from graph.nodes import draft_to_candidate
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.gemm import fixtures as g


def test_sum_to_gemv_drafts_declare_2mk_flops_and_the_candidate_keeps_them():
    drafts = GemmCoder().seed(g.problem(g.LINEAR_SUM), fx.H100)
    assert drafts and all(d.params["rewrite"] == "sum_to_gemv" for d in drafts)
    assert {d.declared_flops for d in drafts} == {2 * 30 * 70}
    cand = draft_to_candidate(drafts[0], generation=0, index=0, parents=[], memory_mode="seed")
    assert cand.declared_flops == 2 * 30 * 70


def test_plain_gemm_drafts_declare_nothing():
    drafts = GemmCoder().seed(g.problem(g.SKINNY), fx.H100)
    plain = [d for d in drafts if d.params["rewrite"] == "none"]
    assert plain and all(d.declared_flops is None for d in plain)


def test_fold_scale_declares_the_full_product():
    drafts = GemmCoder().seed(g.problem(g.LINEAR_EPILOGUE), fx.H100)
    folded = [d for d in drafts if d.params["rewrite"] == "fold_scale"]
    assert folded and {d.declared_flops for d in folded} == {34560}
