"""On a CUDA machine a run on the matching chip is measured there, not modeled."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import REPO as ROOT

pytestmark = pytest.mark.gpu


def _local_chip() -> str:
    from tools.hardware import detect_local_gpu

    target = detect_local_gpu()
    if target is None:
        pytest.skip("the visible GPU is not in the hardware registry")
    return target.name


def test_softmax_run_is_measured_on_the_gpu(tmp_path):
    import torch

    chip = _local_chip()
    env = {**os.environ, "KEVOLVE_DATA_DIR": str(tmp_path), "KEVOLVE_USE_KNOWLEDGE": "false",
           "KEVOLVE_CONFIG": str(tmp_path / "none.toml"), "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run(
        [sys.executable, "-m", "kevolve.cli", "optimize", "softmax", "--target", chip,
         "--budget", "4", "--shape", "1024x4096", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    best = summary["best"]
    assert best["correct"] is True
    assert best["measured_on"] == torch.cuda.get_device_name()
    assert best["runtime_ms"] > 0


def test_check_measures_reference_eager_and_compile(tmp_path):
    import torch

    chip = _local_chip()
    from tools.evaluator import evaluate
    from tools.evaluator.options import EvalOptions
    from tools.hardware import load_target
    from tools.problems import load_problem
    from tools.records import Candidate

    problem = load_problem("softmax", shape="2048x4096")
    source = problem.source.replace("class Model(", "class ModelNew(")
    for name in ("get_inputs", "get_init_inputs"):
        source = source.replace(f"def {name}(", f"def _unused_{name}(")
    cand = Candidate(id="gpu-passthrough", language="pytorch", source=source)
    result = evaluate(problem, cand, load_target(chip), EvalOptions(work_dir=str(tmp_path)))
    assert result.correct, result.error
    assert result.measured_on == torch.cuda.get_device_name()
    assert result.ref_eager_ms and result.ref_compile_ms and result.runtime_ms
