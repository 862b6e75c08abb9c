"""On a real GPU: a measured evaluation admits and locks on its own GPU's slot (marked gpu:
skipped without CUDA). The machine's CPU lock is held by this test the whole time, so an
evaluation that still took the machine-wide lock would wait past its time limit."""

from __future__ import annotations

import json
import os

import pytest

from tests.support import SOFTMAX_PROBLEM, TRITON_SOFTMAX
from tools.evaluator import EvalOptions, evaluate
from tools.evaluator.devlock import DeviceLock
from tools.records import Candidate, Problem


@pytest.mark.gpu
@pytest.mark.timeout(400)
def test_measured_evaluation_uses_its_gpus_ledger_slot_and_lock(gpu_target, tmp_path, monkeypatch):
    gpu = (os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0].strip()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", gpu)  # as Ray sets it for a task
    problem = Problem(name="softmax", source=SOFTMAX_PROBLEM.read_text())
    candidate = Candidate(id="triton_softmax", language="triton",
                          source=TRITON_SOFTMAX.read_text())  # fmt: skip
    ledger = tmp_path / "memory.json"
    options = EvalOptions(work_dir=str(tmp_path / "work"), timing_lock=str(tmp_path / "timing.lock"),
                          admission_ledger=str(ledger), measure_compile=False, seeds=[0],
                          timeout_s=150)  # fmt: skip
    with DeviceLock(str(tmp_path / "timing.lock")).exclusive():  # the CPU's lock, held
        result = evaluate(problem, candidate, gpu_target, options)
    assert result.accepted, result.error
    assert result.measured_on != "modeled"
    assert (tmp_path / f"timing.cuda-{gpu}.lock").exists()
    capacity = json.loads(ledger.read_text())["capacity"]
    assert capacity[f"cuda:{gpu}"]["bytes"] > 0, capacity  # this GPU's free memory, probed
