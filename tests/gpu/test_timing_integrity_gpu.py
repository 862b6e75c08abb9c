"""Timing tricks that only matter on CUDA (side streams, event patches), and the GPU runs
of the CPU ones: each fixture in ``timing_fixtures/``, and each adversarial fixture whose
docstring has an ``Expected on GPU:`` line (the same candidate file, judged on the chip),
is evaluated on the local GPU and must end as that line (else its ``Expected:`` line)
says (``flags`` alternatives joined by ``|``: one of them must be raised when it fails in
``timing`` or ``compile``; an earlier correctness failure may carry the comparison's own
flags). Run on a CUDA machine: ``pytest -m gpu tests/gpu/test_timing_integrity_gpu.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ADVERSARIAL_FIXTURES, SOFTMAX_PROBLEM

pytestmark = pytest.mark.gpu

FIXTURES = Path(__file__).parent / "timing_fixtures"
PROBLEM = SOFTMAX_PROBLEM
ON_GPU = "Expected on GPU:"
"""The line of a CPU adversarial fixture that also runs here, with what the GPU run must give."""
FILES = sorted(
    [*FIXTURES.glob("*.py"), *(p for p in ADVERSARIAL_FIXTURES.glob("*.py") if ON_GPU in p.read_text())],
    key=lambda p: p.stem,
)


def _expected(path: Path) -> dict[str, str]:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    for part in ("Methodology:", "Hacking scenario:", "Expected:"):
        assert part in doc, f"{path.name}: docstring lacks '{part}'"
    line = doc.split(ON_GPU if ON_GPU in doc else "Expected:", 1)[1].strip().splitlines()[0]
    return dict(p.strip().split("=", 1) for p in line.split(";") if p.strip())


def test_fixtures_are_well_formed():
    assert len(FILES) >= 5
    assert any(_expected(p)["stage_failed"] == "none" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_gpu_fixture(path, gpu_target, tmp_path):
    from tools.evaluator import EvalOptions, evaluate
    from tools.records import Candidate, Problem

    text = PROBLEM.read_text()
    assert "ROWS, COLS = 64, 1000" in text, "the softmax problem's size line changed; resize it here"
    source = text.replace("ROWS, COLS = 64, 1000", "ROWS, COLS = 4096, 8192")
    exp = _expected(path)
    r = evaluate(
        Problem(name="softmax", source=source),
        Candidate(id=path.stem, language="pytorch", source=path.read_text()),
        gpu_target,
        EvalOptions(work_dir=str(tmp_path), measure_compile=False, timeout_s=300),
    )
    stages = {None if s == "none" else s for s in exp["stage_failed"].split("|")}
    assert (r.stage_failed.value if r.stage_failed else None) in stages, (r.error, r.flags)
    if stages == {None}:
        assert r.accepted, (r.error, r.flags)
        assert any("compared with the reference" in n for n in r.diagnostics.notes)
        return
    assert not r.accepted
    if "flags" in exp and r.stage_failed.value in ("timing", "compile"):  # the rules named
        assert set(exp["flags"].split("|")) & set(r.flags), (r.flags, r.error)
