"""The run-time file-system sandbox stops what the static rule cannot see.

Both fixtures pass the static checks (they assemble ``os.open``'s name from strings); with
planted files in a data-dir layout (``<data>/work/cand-other/candidate.py``,
``<data>/runs/reference_output.txt``) the read and the write must be refused by Landlock
at run time, and the result must name the sandbox stage and the ``filesystem_access`` rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import SOFTMAX_PROBLEM
from tests.targets import CPU
from tools.evaluator import EvalOptions, evaluate
from tools.evaluator.fsisolation import probe
from tools.evaluator.static_checks import check_source
from tools.records import Candidate, Problem
from tools.records.eval_result import EvalResult, Stage

FIXTURES = Path(__file__).parent / "fixtures"
PROBLEM = SOFTMAX_PROBLEM
SECRET = "the-other-candidate's-kernel"

pytestmark = pytest.mark.skipif(not probe()[0], reason=f"no Landlock here: {probe()[1]}")


def _data_dir(tmp_path: Path) -> Path:
    """A data dir with another candidate's work dir and a stored reference output."""
    other = tmp_path / "work" / "cand-other"
    other.mkdir(parents=True)
    (other / "candidate.py").write_text(SECRET)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "reference_output.txt").write_text("0.1 0.2 0.7")
    return tmp_path


def _evaluate(name: str, data: Path, **kw) -> EvalResult:
    source = (FIXTURES / f"{name}.py").read_text()
    assert check_source(source) == [], "the fixture must get past the static checks"
    opts = EvalOptions.in_data_dir(data, timeout_s=60, seeds=[0], rep_ms=10.0)
    opts = opts.model_copy(update={"measure_compile": False, "warmup_ms": 2.0, **kw})
    problem = Problem(name="softmax", source=PROBLEM.read_text())
    return evaluate(problem, Candidate(id=name, language="pytorch", source=source), CPU, opts)


@pytest.mark.slow
def test_reading_another_candidates_file_is_blocked_at_run_time(tmp_path):
    data = _data_dir(tmp_path)
    r = _evaluate("runtime_reads_sibling", data)
    assert r.static_ok and not r.compiled and not r.accepted
    assert r.stage_failed == Stage.SANDBOX and "filesystem_access" in r.flags
    assert "file-system sandbox (Landlock) denied access" in r.error
    assert "cand-other/candidate.py" in r.error  # the first read it tried, not a listing
    assert SECRET not in r.error


@pytest.mark.slow
def test_writing_outside_its_directory_is_blocked_only_by_the_run_time_layer(tmp_path):
    data = _data_dir(tmp_path)
    planted = data / "work" / "planted-output.txt"
    blocked = _evaluate("runtime_writes_outside", data)
    assert blocked.stage_failed == Stage.SANDBOX and "filesystem_access" in blocked.flags
    assert "planted-output.txt" in blocked.error and not planted.exists()
    # The control: without the run-time layer the same candidate writes the file and
    # passes, so it is Landlock, not the static rule, that stopped it above.
    allowed = _evaluate("runtime_writes_outside", data, isolate_filesystem=False)
    assert allowed.accepted, allowed.error
    assert planted.exists()
