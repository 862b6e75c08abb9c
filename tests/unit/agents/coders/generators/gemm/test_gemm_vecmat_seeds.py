"""049_vecmat_fp16 (``torch.matmul(v, A)``, v 1-D): every Triton seed must run.

Regression: the loader names the op ``matmul``, so the named ``triton.matmul`` template
claimed it too and its ``_kv_matmul`` read ``a.shape[1]`` of the vector (``IndexError: tuple
index out of range`` on the first forward call, seeds g00-01 and g00-03 on the H100). The
named template now declines operands that are not two matrices; the GEMM generator takes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.coders import coder_for
from tests.support import SUITE
from tests.unit.agents.coders import fixtures as fx
from tools.hardware import load_target
from tools.problems.loader import load_problem_file
from tools.problems.resize import resize_source


def test_vecmat_is_left_to_the_gemm_generator() -> None:
    path = SUITE / "049_vecmat_fp16.py"
    drafts = coder_for("triton").seed(load_problem_file(path), load_target("h100"))
    assert drafts and all(d.template == "triton.gemm" for d in drafts), [d.template for d in drafts]
    assert not any("_kv_matmul(v, a)" in d.source for d in drafts)


@pytest.mark.slow
def test_every_triton_seed_of_the_vecmat_suite_file_runs(tmp_path: Path) -> None:
    path = SUITE / "049_vecmat_fp16.py"
    drafts = coder_for("triton").seed(load_problem_file(path), load_target("h100"))
    assert len(drafts) >= 3
    small = resize_source(path.read_text(), {"ROWS": 400, "COLS": 272})
    cases = [fx.case(f"seed{i}", small, d.source, **fx.FP16) for i, d in enumerate(drafts[:4])]
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    failed = {k: v.get("error") for k, v in results.items() if not v["ok"]}
    assert not failed, failed
