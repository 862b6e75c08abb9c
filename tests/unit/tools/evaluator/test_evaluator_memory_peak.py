"""The worker keeps at most two input and two output copies (plus the reference's own
intermediates) alive: measured on the CPU from the worker's own peak resident memory."""

from __future__ import annotations

import pytest

from tests.support import ELEMENTWISE
from tests.targets import CPU
from tools.evaluator import EvalOptions, api
from tools.evaluator.diagnose import timing_set_count
from tools.records import Candidate, Problem

ROWS = 24576  # x 1024 fp32: 96 MiB of input, 96 MiB of output
SOURCE = ELEMENTWISE.format(rows=ROWS)


@pytest.mark.slow
def test_worker_peak_stays_near_two_inputs_and_two_outputs(tmp_path):
    """Before the fix, frames caught in a reference cycle (the harness's thread check)
    kept each call's inputs and outputs alive across seeds, and the timing stage cloned
    four input sets beside seed 0's: the peak was over 9x the input."""
    in_bytes = ROWS * 1024 * 4
    problem = Problem(name="relu_affine", source=SOURCE)
    cand = Candidate(id="passthrough", language="pytorch",
                     source=SOURCE.replace("class Model(", "class ModelNew("))  # fmt: skip
    opts = EvalOptions(work_dir=str(tmp_path / "work"), measure_compile=False, rep_ms=5.0,
                       warmup_ms=1.0, min_reps=3, max_reps=6, timed_checks=3, seeds=[0, 1, 2],
                       admit_by_memory=False, timeout_s=240.0)  # fmt: skip
    result = api.evaluate(problem, cand, CPU, opts)
    assert result.accepted, result.error
    assert result.peak_memory_bytes is not None
    # 2 inputs + 2 outputs + 1 reference intermediate, a few 4 MiB comparison pieces and
    # allocator slack: 5.9-6.0x here. Over 12x before the frame-cycle fix; 7.3-8.3x (run to
    # run) while the timed checks held a second input set beside the reference's
    # intermediates and the comparison's 16 MiB pieces were kept by the C heap
    assert result.peak_memory_bytes <= 7 * in_bytes, result.peak_memory_bytes / in_bytes


def test_timing_rotates_one_set_for_inputs_larger_than_the_cache():
    mib = 1 << 20
    assert timing_set_count(6 << 30, 4, 100 * mib, 80 << 30) == 1  # a multi-GB input
    assert timing_set_count(200 * mib, 4, 100 * mib, 80 << 30) == 1
    assert timing_set_count(1 * mib, 4, 100 * mib, 80 << 30) == 4
    # the extra sets stay within a quarter of the free memory
    assert timing_set_count(10 * mib, 4, 100 * mib, 20 * mib) == 1


def test_unmeasured_problem_is_admitted_beside_others_on_its_estimate():
    """Before, a problem with no measured footprint always ran alone, so every shard's
    first evaluation waited for every other evaluation on the machine."""
    from tools.evaluator.admission import admits, estimate_peak_bytes, plan, reservation_bytes

    source = SOURCE.replace(f"ROWS, COLS = {ROWS}, 1024", "ROWS, COLS = 1_500_000, 1024")
    in_bytes = 1_500_000 * 1024 * 4
    estimate = estimate_peak_bytes(source)  # meta device: nothing allocated
    assert estimate == 2 * in_bytes + 3 * in_bytes
    need, alone = plan(None, estimate, "cuda", 80 << 30)
    assert not alone and need == reservation_bytes(estimate, "cuda")
    assert admits(need, [2 << 30], 80 << 30)  # joins a small running evaluation
    # an estimate larger than the free memory runs alone; so does an untraceable problem
    assert plan(None, estimate, "cuda", 20 << 30) == (0, True)
    assert plan(None, estimate_peak_bytes("raise ValueError('no')"), "cuda", 80 << 30) == (0, True)
    # a measured footprint wins over the estimate; -1 (ran out of memory) runs alone
    assert plan(1 << 30, estimate, "cuda", 80 << 30) == (reservation_bytes(1 << 30, "cuda"), False)
    assert plan(-1, estimate, "cuda", 80 << 30) == (0, True)


def test_bench_shards_measure_the_ceilings_once_per_data_dir(tmp_path, monkeypatch):
    """Before, every shard measured the ceilings under the exclusive device lock."""
    from kevolve import bench
    from tools.ceilings import ceilings_for

    calls = []

    def measured(target):
        calls.append(target.name)
        return ceilings_for(target)

    monkeypatch.setattr(bench, "ceilings_for", measured)
    first = bench._shared_ceilings(tmp_path, CPU)
    second = bench._shared_ceilings(tmp_path, CPU)
    assert calls == ["cpu"] and second == first
