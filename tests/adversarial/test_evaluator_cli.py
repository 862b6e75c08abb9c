"""``kevolve check`` as a user runs it: exit 1 with the rule named for a cheat, 0 for honest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import SOFTMAX_PROBLEM, python_path

HERE = Path(__file__).parent
PROBLEM = SOFTMAX_PROBLEM
REPO = HERE.parents[1]

CASES = {
    # fixture: (problem, expected exit code, text that names the rule in stage/error/flags)
    "network_call": (str(PROBLEM), 1, "network"),
    "try_fallback": (str(PROBLEM), 1, "no_try"),
    "scaled_softmax": (str(PROBLEM), 1, "output RMS"),
    "hardcoded_shape": ("softmax", 1, "irregular_shape_failed"),
    "honest_softmax": (str(PROBLEM), 0, ""),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_kevolve_check_exit_code_and_rule(name, tmp_path):
    problem, code, rule = CASES[name]
    fixture = HERE / "fixtures" / f"{name}.py"
    argv = [
        sys.executable,
        "-m",
        "kevolve.cli",
        "check",
        problem,
        str(fixture),
        "--target",
        "cpu",
        "--data-dir",
        str(tmp_path),
        "--json",
    ]
    if problem == "softmax":
        argv += ["--shape", "64x1000"]
    if code == 0:  # the honest control also asks for ncu, which a CPU target cannot give
        argv += ["--profile", "ncu"]
    env = {**os.environ, "PYTHONPATH": python_path()}
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=240, cwd=REPO, env=env, check=False
    )
    assert done.returncode == code, done.stdout + done.stderr
    view = json.loads(done.stdout)
    assert view["accepted"] is (code == 0)
    evidence = f"{view['stage_failed']} {view['error']} {' '.join(view['flags'])}"
    assert rule in evidence, evidence
    if code == 0:
        d = view["diagnostics"]
        assert d["kernel_breakdown"] and d["kernel_breakdown"][0]["device"] == "cpu"
        assert d["ncu_kernels"] == [] and any("ncu profiling skipped" in n for n in d["notes"])
