"""A per-batch epilogue operand traced at batch 1 must still follow the batch at call time.

Regression: 045_moe_expert_bmm_fp16 shrunk to one expert (the MI300X bench's ``--max-mb 1``)
traced its per-expert bias ``(E, 1, N)`` as varying along N only, so at three experts every
expert read expert 0's bias (the evaluator's irregular-shape check rejected it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.coders.generators.gemm import GemmCoder
from agents.coders.generators.gemm.match import analyze_gemm
from tests.support import SUITE
from tests.unit.agents.coders import fixtures as fx
from tools.hardware import load_target
from tools.problems.loader import load_problem_file
from tools.problems.resize import resize_source

ONE_EXPERT = {"EXPERTS": 1, "CAPACITY": 48, "D_MODEL": 32, "D_FF": 32}



def _one_expert_problem(folder: Path):
    source = resize_source((SUITE / "045_moe_expert_bmm_fp16.py").read_text(), ONE_EXPERT)
    path = folder / "moe_one_expert.py"
    path.write_text(source)
    return source, load_problem_file(path)


def test_per_expert_bias_traced_at_one_expert_varies_along_the_batch(tmp_path: Path) -> None:
    _, problem = _one_expert_problem(tmp_path)
    plan = analyze_gemm(problem).plans["none"]
    keeps = {o.source.base: o.keep for o in plan.operands}
    assert keeps == {"self.bias": (True, False, True)}, keeps


@pytest.mark.slow
def test_moe_seeds_traced_at_one_expert_are_right_at_three(tmp_path: Path) -> None:
    source, problem = _one_expert_problem(tmp_path)
    drafts = GemmCoder().seed(problem, load_target("h100"))
    three = resize_source(source, {**ONE_EXPERT, "EXPERTS": 3})
    cases = [fx.case(f"seed{i}", three, d.source, **fx.FP16) for i, d in enumerate(drafts[:2])]
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    failed = {k: v.get("error") for k, v in results.items() if not v["ok"]}
    assert not failed, failed
