"""Memory admission and the device lock hold per GPU, not per machine.

No GPU is needed: the GPUs are fake, named by ``CUDA_VISIBLE_DEVICES`` as Ray and schedulers
do, and the worker run is replaced by a stand-in that holds its admission for a while. Two
evaluations that must each run alone on their GPU overlap when the GPUs differ and take
turns when they are the same one; each GPU gets its own timing-lock file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO
from tools.evaluator import api
from tools.evaluator.admission import (
    Ledger,
    device_slot,
    footprint_key,
    slot_lock_path,
    visible_gpu,
)
from tools.evaluator.options import EvalOptions
from tools.hardware import load_target
from tools.records import Candidate, EvalResult, Problem

SOURCE = "import torch\nclass Model(torch.nn.Module):\n    pass\n"
HOLD_S = 2.0

EVALUATION = """
import sys, time
from pathlib import Path
from tools.evaluator import api
from tools.evaluator.options import EvalOptions
from tools.hardware import load_target
from tools.records import Candidate, EvalResult, Problem
ledger, log, name, go, hold_s = sys.argv[1:6]
def say(what):
    with open(log, "a") as fh:
        fh.write(f"{name} {what} {time.time()}\\n")
def attempt(problem, candidate, target, options, mode):  # stands in for the worker run
    say("in")
    time.sleep(float(hold_s))
    say("out")
    return EvalResult(candidate_id=candidate.id, target=target.name)
api._attempt = attempt
api.free_memory_bytes = lambda slot: 80 << 30
problem = Problem(name="p", source=sys.stdin.read())
candidate = Candidate(id=name, language="pytorch", source="x = 1\\n")
say("ready")
while not Path(go).exists():
    time.sleep(0.01)
api._admitted(problem, candidate, load_target("h100"), EvalOptions(admission_ledger=ledger),
              "measure")
"""


def test_visible_gpu_follows_the_visible_device_variables():
    assert visible_gpu({}) == "0"
    assert visible_gpu({"CUDA_VISIBLE_DEVICES": "3,1"}) == "3"
    assert visible_gpu({"CUDA_VISIBLE_DEVICES": " GPU-8a1f,GPU-77"}) == "GPU-8a1f"
    assert visible_gpu({"CUDA_VISIBLE_DEVICES": ""}) == "0"
    # ROCm: HIP_VISIBLE_DEVICES indexes into what ROCR_VISIBLE_DEVICES left visible
    assert visible_gpu({"ROCR_VISIBLE_DEVICES": "4,6", "HIP_VISIBLE_DEVICES": "1"}) == "6"
    assert device_slot("cuda", {"CUDA_VISIBLE_DEVICES": "5"}) == "cuda:5"
    assert device_slot("cpu", {"CUDA_VISIBLE_DEVICES": "5"}) == "cpu"


def _intervals(log: Path) -> dict[str, tuple[float, float]]:
    events: dict[str, dict[str, float]] = {}
    for line in log.read_text().splitlines():
        name, what, at = line.split()
        events.setdefault(name, {})[what] = float(at)
    return {name: (e["in"], e["out"]) for name, e in events.items()}


def _run_two(tmp_path: Path, gpus: tuple[str, str]) -> dict[str, tuple[float, float]]:
    """Two exclusive evaluations started at once, on the fake GPUs ``gpus``."""
    ledger = tmp_path / "memory.json"
    Ledger(ledger, lambda slot: 80 << 30).record(
        footprint_key(SOURCE, "h100", "cuda"), None, alone=True
    )  # the problem must run alone on its GPU
    log, go = tmp_path / "events.log", tmp_path / "go"
    procs = []
    for name, gpu in zip(("a", "b"), gpus):
        env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": gpu}
        argv = [sys.executable, "-c", EVALUATION, str(ledger), str(log), name, str(go), str(HOLD_S)]
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, text=True)
        proc.stdin.write(SOURCE)
        proc.stdin.close()
        procs.append(proc)
    deadline = time.monotonic() + 60
    while not log.exists() or log.read_text().count(" ready ") < 2:
        assert time.monotonic() < deadline, "the evaluations did not start"
        assert all(p.poll() is None for p in procs), "an evaluation process exited early"
        time.sleep(0.05)
    go.touch()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    return _intervals(log)


@pytest.mark.timeout(120)
def test_exclusive_evaluations_on_two_gpus_overlap(tmp_path):
    spans = _run_two(tmp_path, ("0", "1"))
    (a_in, a_out), (b_in, b_out) = spans["a"], spans["b"]
    assert max(a_in, b_in) < min(a_out, b_out), spans  # both held their GPU at once


@pytest.mark.timeout(120)
def test_exclusive_evaluations_on_one_gpu_take_turns(tmp_path):
    spans = _run_two(tmp_path, ("1", "1"))
    first, second = sorted(spans.values())
    assert first[1] <= second[0], spans  # the second began after the first ended


def test_each_gpu_has_its_own_timing_lock(tmp_path, monkeypatch):
    seen: list[str] = []

    def attempt(problem, candidate, target, options, mode):
        seen.append(options.timing_lock)
        return EvalResult(candidate_id=candidate.id, target=target.name)

    monkeypatch.setattr(api, "_attempt", attempt)
    problem = Problem(name="p", source=SOURCE)
    candidate = Candidate(id="c", language="pytorch", source="x = 1\n")
    base = str(tmp_path / "timing.lock")
    options = EvalOptions(timing_lock=base, work_dir=str(tmp_path / "w"), admit_by_memory=False,
                          mode="measure")  # fmt: skip
    for gpu in ("0", "1", "0"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", gpu)
        api.evaluate(problem, candidate, load_target("h100"), options)
    api.evaluate(problem, candidate, load_target("cpu"), options)
    assert seen[0] == seen[2] == slot_lock_path(base, "cuda:0") == str(tmp_path / "timing.cuda-0.lock")
    assert seen[1] == str(tmp_path / "timing.cuda-1.lock")
    assert seen[3] == base  # the CPU keeps the machine's lock
