"""On a CUDA machine a run on the matching chip is measured there, not modeled."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support import CLI, cli_env
from tests.support import REPO as ROOT

pytestmark = pytest.mark.gpu


def test_softmax_run_is_measured_on_the_gpu(gpu_target, tmp_path):
    import torch

    proc = subprocess.run(
        [*CLI, "optimize", "softmax", "--target", gpu_target.name,
         "--budget", "4", "--shape", "1024x4096", "--json"],
        cwd=ROOT, env=cli_env(tmp_path), capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    best = summary["best"]
    assert best["correct"] is True
    assert best["measured_on"] == torch.cuda.get_device_name()
    assert best["runtime_ms"] > 0


def test_check_measures_reference_eager_and_compile(gpu_target, tmp_path):
    import torch

    chip = gpu_target.name
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
