"""Run every adversarial fixture through the evaluator and check its ``Expected:`` line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import SOFTMAX_PROBLEM
from tests.targets import CPU
from tools.evaluator import EvalOptions, evaluate
from tools.evaluator.static_checks import check_source
from tools.records import Candidate, Problem

FIXTURES = Path(__file__).parent / "fixtures"
PROBLEM = SOFTMAX_PROBLEM
KEYS = {"stage_failed", "flags", "error_contains", "reports", "problem", "requires"}
REQUIREMENTS = {"landlock"}
"""``requires=<name>``: a run-time protection the fixture needs; skipped where it is absent."""


def missing(exp: dict[str, str]) -> str | None:
    """Why a fixture cannot run here (its ``requires=`` protection is absent), or ``None``."""
    if exp.get("requires") == "landlock":
        from tools.evaluator.fsisolation import probe

        abi, why = probe()
        return None if abi else f"no Landlock here: {why}"
    return None


def expected(path: Path) -> dict[str, str]:
    """Parse the fixture docstring's ``Expected:`` line into key/value pairs."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    for part in ("Methodology:", "Hacking scenario:", "Expected:"):
        assert part in doc, f"{path.name}: docstring lacks '{part}'"
    line = doc.split("Expected:", 1)[1].strip().splitlines()[0]
    pairs = dict(p.strip().split("=", 1) for p in line.split(";") if p.strip())
    assert set(pairs) <= KEYS and "stage_failed" in pairs, f"{path.name}: bad Expected line"
    assert pairs.get("requires", "landlock") in REQUIREMENTS, f"{path.name}: unknown requires"
    return pairs


FILES = sorted(FIXTURES.glob("*.py"))


def problem_for(exp: dict[str, str]) -> Problem:
    """The fixture's problem: ``problem=op:<name>:<shape>`` renders a named op (so the
    irregular-shape check applies); the default is the row-softmax file."""
    spec = exp.get("problem", "")
    if spec.startswith("op:"):
        from tools.problems import load_problem

        _, name, shape = spec.split(":")
        return load_problem(name, shape=shape)
    return Problem(name="softmax", source=PROBLEM.read_text())


def wanted(exp: dict[str, str]) -> set[str | None]:
    """Allowed ``stage_failed`` values; alternatives are separated by ``|`` (which check fires
    first may depend on the allocator)."""
    return {None if s == "none" else s for s in exp["stage_failed"].split("|")}


def test_corpus_is_well_formed():
    assert len(FILES) >= 25
    for path in FILES:
        expected(path)
    assert any(wanted(expected(p)) == {None} for p in FILES), "no honest control fixture"


@pytest.mark.parametrize(
    "path", [p for p in FILES if expected(p)["stage_failed"] == "static"], ids=lambda p: p.stem
)
def test_static_fixtures_fail_the_static_checks(path):
    exp = expected(path)
    violations = check_source(path.read_text())
    assert violations, f"{path.name} passed the static checks"
    if "error_contains" in exp:
        assert any(exp["error_contains"] in f"{v.rule} {v.message}" for v in violations)


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_fixture_is_caught_end_to_end(path, tmp_path):
    exp = expected(path)
    if why := missing(exp):
        pytest.skip(why)
    cand = Candidate(id=path.stem, language="pytorch", source=path.read_text())
    # A fixture that must time out gets a short limit; every other one a limit that a
    # loaded 2-core machine still meets (a false timeout would hide what it tests).
    timeout = 20 if "timed out" in exp.get("error_contains", "") else 240
    opts = EvalOptions(
        work_dir=str(tmp_path), timeout_s=timeout, measure_compile=False, rep_ms=20.0
    )
    r = evaluate(problem_for(exp), cand, CPU, opts)
    want = wanted(exp)
    assert (r.stage_failed.value if r.stage_failed else None) in want, r.error
    if want == {None}:
        assert r.accepted, (r.error, r.flags)
        return
    assert not r.accepted and r.reward == 0.0
    for flag in filter(None, exp.get("flags", "").split(",")):  # a|b: one of them
        assert set(flag.split("|")) & set(r.flags), r.flags
    if "error_contains" in exp:
        assert exp["error_contains"] in r.error
    for field in filter(None, exp.get("reports", "").split(",")):
        assert getattr(r, field) is not None, field
