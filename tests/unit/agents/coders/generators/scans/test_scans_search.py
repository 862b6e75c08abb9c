"""ScanCoder and GatherCoder under the base class's search moves, alone and behind LanguageCoder."""

from __future__ import annotations

from typing import Any

import pytest

from agents.coders import CoderContext, LanguageCoder, TritonOfflineCoder, fingerprint
from agents.coders.generators.scans import GatherCoder, ScanCoder
from tests.unit.agents.coders import proposals
from tests.unit.agents.coders.generators.scans import fixtures as sf


def _scan(name: str) -> Any:
    body, inputs, args, dim = sf.SCANS[name]
    return sf.problem(name, sf.source(body, inputs, args, dim))


def _gather(name: str) -> Any:
    return sf.problem(name, sf.gather_source(*sf.GATHERS[name]))


CASES = [
    (ScanCoder(), _scan("cumsum_long"), sf.H100),
    (ScanCoder(), _scan("cols_cumprod_minus"), sf.MI300X),
    (GatherCoder(), _gather("bag_sum"), sf.H100),
    (GatherCoder(), _gather("segment_mean_lengths"), sf.MI300X),
]
IDS = ["scan-rows", "scan-cols-hip", "gather-bag", "gather-jagged-hip"]


@pytest.mark.parametrize(("coder", "problem", "target"), CASES, ids=IDS)
def test_propose_never_repeats_and_stays_legal(coder: Any, problem: Any, target: Any) -> None:
    space = coder.space(coder.spec_for(problem, target), target)
    modes = ["inherit", "restart", "combine", "compare", "inherit"]
    # every fourth parent failed: a safer configuration follows
    for draft in proposals.propose_chain(coder, problem, target, modes, steps=12, fail_every=4):
        assert draft.template == space.template


def test_language_coder_routes_parents_to_their_generator() -> None:
    coder = LanguageCoder("triton", [TritonOfflineCoder(), ScanCoder(), GatherCoder()])
    problem = _scan("masked_bool")
    assert [c.name for c in coder.supporting(problem, sf.H100)] == ["triton-scan"]
    seeds = coder.seed(problem, sf.H100)
    assert seeds and {d.template for d in seeds} == {"triton.scan"}
    ctx = CoderContext(
        problem=problem,
        target=sf.H100,
        memory_mode="inherit",
        parent=proposals.as_candidate(seeds[0], "p"),
        parent_result=proposals.eval_result("p"),
        tried=[fingerprint(d.template, d.params) for d in seeds],
    )
    assert coder.propose(ctx).template == "triton.scan"
    bag = _gather("bag_per_sample_weights")
    assert [c.name for c in coder.supporting(bag, sf.MI300X)] == ["triton-gather"]
