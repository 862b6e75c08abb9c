"""Library GEMM + one fused row pass (agents/coders/generators/rowfused/libgemm.py)."""

from __future__ import annotations

import pytest

from agents.coders import coder_for
from agents.coders.generators.rowfused.libgemm import LibGemmRowCoder, split_after_gemm
from tests.support import FIXTURES
from tests.unit.agents.coders.fixtures import H100
from tools.errors import ProblemError
from tools.evaluator.static_checks import check_source
from tools.records import Problem

FIXTURE = FIXTURES / "libgemm" / "matmul_gelu_softmax.py"


def _problem(source: str | None = None) -> Problem:
    return Problem(name="matmul_gelu_softmax", source=source or FIXTURE.read_text())


def test_split_keeps_the_library_gemm_and_hands_the_rest_to_a_row_program():
    split = split_after_gemm(_problem())
    assert split.gemm_expr == "torch.nn.functional.linear(x, self.linear.weight, self.linear.bias)"
    assert "softmax" in split.epilogue_forward and "gemm_out" in split.epilogue_forward
    assert "linear" not in split.epilogue_forward
    # GELU + softmax after a GEMM: before this family no triton generator took it
    assert coder_for("triton").supports(_problem(), H100)


def test_an_epilogue_reading_another_input_is_declined():
    residual = FIXTURE.read_text().replace(
        "x = torch.nn.functional.gelu(x)", "x = torch.nn.functional.gelu(x) + y"
    ).replace("def forward(self, x):", "def forward(self, x, y):").replace(
        "return [torch.randn(BATCH, IN_FEATURES)]",
        "return [torch.randn(BATCH, IN_FEATURES), torch.randn(BATCH, OUT_FEATURES)]",
    )
    with pytest.raises(ProblemError, match="reads input y again"):
        split_after_gemm(_problem(residual))
    assert not LibGemmRowCoder().supports(_problem(residual), H100)


@pytest.mark.slow
def test_seed_is_correct_under_the_interpreter(tmp_path):
    """The seed, checked by the evaluator through the Triton interpreter (a subprocess with
    TRITON_INTERPRET=1), at the problem's shape and at the irregular one."""
    from tools.evaluator import EvalOptions, evaluate
    from tools.records import Candidate

    problem = _problem()
    drafts = LibGemmRowCoder().seed(problem, H100)
    assert drafts and all("library GEMM kept" in d.transformation for d in drafts)
    draft = drafts[0]
    assert check_source(draft.source) == []
    cand = Candidate(id="libgemm", language="triton", source=draft.source)
    result = evaluate(problem, cand, H100, EvalOptions(work_dir=str(tmp_path), timeout_s=600))
    assert result.correct, result.error
    assert any("also correct at the irregular shape" in n for n in result.diagnostics.notes)


def test_propose_moves_the_epilogue_kernel_and_keeps_the_gemm():
    from agents.coders.base import CoderContext, fingerprint
    from agents.coders.generators.rowfused.libgemm import TEMPLATE

    coder = LibGemmRowCoder()
    seeds = coder.seed(_problem(), H100)
    tried = [fingerprint(d.template, d.params) for d in seeds]
    ctx = CoderContext(problem=_problem(), target=H100, memory_mode="restart", tried=tried)
    draft = coder.propose(ctx)
    assert draft.template == TEMPLATE and "library GEMM kept" in draft.transformation
    assert fingerprint(draft.template, draft.params) not in tried
    assert "self._epilogue(torch.nn.functional.linear(x" in draft.source
