"""On a real GPU: a multi-GB problem is evaluated without running out of memory, several
evaluations of it run side by side only as far as their measured footprints fit, and a
problem larger than the card is reported as "does not fit", never as a wrong answer.

Run on the GPU machine: ``pytest -q -m gpu tests/gpu/test_evaluator_memory_gpu.py``.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.support import ELEMENTWISE

pytestmark = pytest.mark.gpu



def _problem(rows: int):
    from tools.records import Candidate, Problem

    source = ELEMENTWISE.format(rows=rows)
    problem = Problem(name=f"relu_affine_{rows}", source=source)
    cand = Candidate(id="passthrough", language="pytorch",
                     source=source.replace("class Model(", "class ModelNew("))  # fmt: skip
    return problem, cand


def _options(tmp_path, **kw):
    from tools.evaluator import EvalOptions

    base = {"work_dir": str(tmp_path / "work"), "admission_ledger": str(tmp_path / "ledger.json"),
            "measure_compile": False, "rep_ms": 50.0, "timeout_s": 600.0}  # fmt: skip
    return EvalOptions(**{**base, **kw})


def test_six_gb_problem_is_evaluated_and_side_by_side_only_as_far_as_it_fits(gpu_target, tmp_path):
    from tools.evaluator import api
    from tools.evaluator.admission import Ledger, footprint_key, reservation_bytes
    from tools.evaluator.device import free_memory_bytes

    target = gpu_target
    rows = 1_500_000  # 1.5M x 1024 fp32: 6.1 GB of input, 6.1 GB of output
    in_bytes = rows * 1024 * 4
    problem, cand = _problem(rows)
    first = api.evaluate(problem, cand, target, _options(tmp_path))
    assert first.accepted, first.error
    assert not first.out_of_memory and first.peak_memory_bytes is not None
    # two input and two output copies per seed and at the recheck, plus the L2 flush buffer;
    # the peak is what the caching allocator reserved (max_memory_reserved), so a cached
    # free block counts too
    assert 2 * in_bytes <= first.peak_memory_bytes <= 6.5 * in_bytes, first.peak_memory_bytes

    ledger = Ledger(tmp_path / "ledger.json", free_memory_bytes)
    key = footprint_key(problem.source, target.name, "cuda")
    need = reservation_bytes(ledger.footprint(key) or 0, "cuda")

    spans: list[tuple[float, float]] = []
    real_attempt = api._attempt

    def recorded(*args, **kwargs):
        t0 = time.monotonic()
        try:
            return real_attempt(*args, **kwargs)
        finally:
            spans.append((t0, time.monotonic()))

    api._attempt = recorded
    results = []
    try:
        threads = [
            threading.Thread(target=lambda: results.append(
                api.evaluate(problem, cand, target, _options(tmp_path))))
            for _ in range(3)
        ]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        api._attempt = real_attempt
    assert len(results) == 3 and all(r.accepted for r in results), [r.error for r in results]
    assert not any(r.out_of_memory for r in results)
    capacity = json.loads((tmp_path / "ledger.json").read_text())["capacity"]["cuda"]["bytes"]
    expected = max(1, min(3, capacity // need))  # what admission lets run at once
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert overlap == expected, (overlap, expected, need, capacity)


def test_problem_larger_than_the_card_does_not_fit_and_is_not_a_wrong_answer(gpu_target, tmp_path):
    import torch

    from tools.evaluator import api
    from tools.records.eval_result import Stage

    target = gpu_target
    _, total = torch.cuda.mem_get_info()
    rows = int(0.6 * total) // (1024 * 4)  # input and its pristine copy exceed the card
    problem, cand = _problem(rows)
    r = api.evaluate(problem, cand, target, _options(tmp_path))
    assert r.stage_failed == Stage.ENVIRONMENT and r.out_of_memory, r.error
    assert r.error.startswith("does not fit") and not r.accepted
