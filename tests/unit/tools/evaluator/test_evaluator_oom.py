"""Out-of-memory is an environment failure, retried alone; jagged inputs at every stage;
no candidate returned without a measured reference."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from graph.report import choose_best, reference_failure
from tests.support import EVALUATOR_FIXTURES, SOFTMAX_PROBLEM
from tests.targets import CPU
from tools.evaluator import EvalOptions, api, evaluate
from tools.evaluator.admission import Ledger, cpu_free_bytes, footprint_key
from tools.records import Candidate, EvalResult, Problem
from tools.records.eval_result import Stage

FIXTURES = EVALUATOR_FIXTURES

JAGGED = '''"""Jagged sequences truncated and padded: drawn lengths, input sizes vary by seed."""
import torch
from torch import nn

BATCH, MAX_LEN = 16, 24


class Model(nn.Module):
    def forward(self, values, lengths):
        steps = torch.arange(MAX_LEN, device=values.device)
        starts = torch.cumsum(lengths, 0) - lengths
        idx = (starts[:, None] + steps[None, :]).clamp(max=values.numel() - 1)
        keep = steps[None, :] < lengths[:, None]
        return torch.where(keep, values[idx], torch.zeros((), device=values.device)) * 2.0


def get_inputs():
    lengths = torch.randint(1, 40, (BATCH,))
    return [torch.randn(int(lengths.sum())), lengths]


def get_init_inputs():
    return []
'''
JAGGED_NEW = JAGGED.replace("class Model(", "class ModelNew(")


def _options(tmp_path: Path, **kw) -> EvalOptions:
    base = {
        "work_dir": str(tmp_path), "measure_compile": False, "rep_ms": 10.0, "warmup_ms": 2.0,
        "admission_ledger": str(tmp_path / "ledger.json"),
    }  # fmt: skip
    return EvalOptions(**{**base, **kw})


@pytest.mark.slow
def test_out_of_memory_is_an_environment_failure_retried_alone_then_does_not_fit(tmp_path):
    problem = Problem(name="softmax", source=SOFTMAX_PROBLEM.read_text())
    source = (FIXTURES / "pytorch_softmax.py").read_text()
    cand = Candidate(id="pt", language="pytorch", source=source)
    ledger = Ledger(tmp_path / "ledger.json", lambda d: cpu_free_bytes())
    key = footprint_key(problem.source, CPU.name, "cpu")
    ledger.record(key, 1000)  # a small measured footprint: the first try runs side by side
    # a device of 100 kB: the 256 kB input cannot be drawn
    r = evaluate(problem, cand, CPU, _options(tmp_path, simulated_memory_limit_bytes=100_000))
    assert r.stage_failed == Stage.ENVIRONMENT and r.out_of_memory, r.error
    assert r.error.startswith("does not fit") and "out of memory in stage compile" in r.error
    assert any("retried alone" in n for n in r.diagnostics.notes)
    assert not r.accepted and r.compiled is False
    assert ledger.footprint(key) == -1  # from now on this problem runs alone


def test_out_of_memory_side_by_side_waits_and_retries_alone(tmp_path, monkeypatch):
    ledger_path = tmp_path / "ledger.json"
    ledger = Ledger(ledger_path, lambda d: 10 << 30)
    problem = Problem(name="p", source="x = 1\n")
    key = footprint_key(problem.source, CPU.name, "cpu")
    ledger.record(key, 1 << 20)
    calls: list[tuple[float, list[dict]]] = []

    def fake_attempt(problem, candidate, target, options, mode):
        calls.append((time.monotonic(), json.loads(ledger_path.read_text())["held"]))
        if len(calls) == 1:
            return EvalResult(
                candidate_id="c", target="cpu", stage_failed=Stage.ENVIRONMENT,
                error="out of memory in stage correctness", flags=["out_of_memory"],
            )
        return EvalResult(candidate_id="c", target="cpu", static_ok=True, compiled=True,
                          correct=True, peak_memory_bytes=2 << 20)  # fmt: skip

    monkeypatch.setattr(api, "_attempt", fake_attempt)
    released: list[float] = []

    def other() -> None:
        with ledger.hold("cpu", 1 << 30, exclusive=False):
            time.sleep(1.0)
        released.append(time.monotonic())

    t = threading.Thread(target=other)
    t.start()
    time.sleep(0.2)
    r = evaluate(problem, Candidate(id="c", language="pytorch", source=""), CPU, _options(tmp_path))
    t.join()
    assert r.correct and not r.out_of_memory
    assert len(calls) == 2
    assert len(calls[0][1]) == 2  # the first try ran beside the other evaluation
    assert calls[1][0] >= released[0] and [h["exclusive"] for h in calls[1][1]] == [True]
    assert any("retried alone" in n for n in r.diagnostics.notes)
    assert ledger.footprint(key) == -1  # it ran out of memory side by side: alone from now on


@pytest.mark.slow
def test_jagged_inputs_are_evaluated_consistently_at_every_stage(tmp_path):
    problem = Problem(name="jagged_pad", source=JAGGED)
    cand = Candidate(id="jagged", language="pytorch", source=JAGGED_NEW)
    r = evaluate(problem, cand, CPU, _options(tmp_path))
    assert r.accepted, r.error
    assert r.seeds_checked == 3 and r.runtime_ms and r.runtime_ms > 0
    assert any("recheck on freshly drawn inputs" in n for n in r.diagnostics.notes)


def test_no_candidate_is_returned_without_a_measured_reference():
    cands = {
        "g00-00-ref": Candidate(id="g00-00-ref", language="pytorch", source=""),
        "g00-01-k": Candidate(id="g00-01-k", language="triton", source=""),
    }
    ok_kernel = EvalResult(candidate_id="g00-01-k", target="h100", static_ok=True,
                           compiled=True, correct=True, speedup_vs_eager=0.89)  # fmt: skip
    oom_ref = EvalResult(candidate_id="g00-00-ref", target="h100", stage_failed=Stage.ENVIRONMENT,
                         error="does not fit: out of memory", flags=["out_of_memory"])  # fmt: skip
    results = {"g00-00-ref": oom_ref, "g00-01-k": ok_kernel}
    assert choose_best(cands, results) == (None, False)
    assert "reference could not be evaluated (environment: does not fit" in (
        reference_failure(cands, results) or ""
    )
    good_ref = EvalResult(candidate_id="g00-00-ref", target="h100", static_ok=True,
                          compiled=True, correct=True, speedup_vs_eager=1.0)  # fmt: skip
    results["g00-00-ref"] = good_ref
    assert choose_best(cands, results) == ("g00-00-ref", True)
    results["g00-01-k"] = ok_kernel.model_copy(update={"speedup_vs_eager": 1.5})
    assert choose_best(cands, results) == ("g00-01-k", False)
    assert reference_failure(cands, results) is None


def test_reference_compile_time_is_measured_once_per_problem_and_reused(tmp_path, monkeypatch):
    seen: list[tuple[float, float] | None] = []

    def fake_worker(problem, candidate, target, options, mode, workdir, reference_times=None):
        seen.append(reference_times)
        return EvalResult(
            candidate_id=candidate.id, target="cpu", static_ok=True, compiled=True,
            correct=True, runtime_ms=1.0, ref_eager_ms=2.0, ref_compile_ms=1.5,
        )

    monkeypatch.setattr(api, "_run_worker", fake_worker)
    monkeypatch.setattr(api, "_REFERENCE_COMPILE", {})
    problem = Problem(name="p", source="y = 2\n")
    opts = _options(tmp_path, measure_compile=True)
    for i in range(3):
        evaluate(problem, Candidate(id=f"c{i}", language="pytorch", source=""), CPU, opts)
    assert seen == [None, (1.5, 2.0), (1.5, 2.0)]
    other = Problem(name="q", source="z = 3\n")  # another problem compiles its own
    evaluate(other, Candidate(id="c9", language="pytorch", source=""), CPU, opts)
    assert seen[-1] is None
    off = _options(tmp_path, measure_compile=True, reuse_reference_compile=False)
    evaluate(problem, Candidate(id="c8", language="pytorch", source=""), CPU, off)
    assert seen[-1] is None


def test_a_failed_reference_stops_the_run_with_its_reason(tmp_path, make_run_context):
    from langgraph.runtime import Runtime

    from graph.nodes import update
    from graph.state import RunRequest, RunState

    ref = Candidate(id="g00-00-ref", language="pytorch", source="")
    kernel = Candidate(id="g00-01-k", language="triton", source="")
    oom = EvalResult(candidate_id=ref.id, target="h100", stage_failed=Stage.ENVIRONMENT,
                     error="does not fit: out of memory", flags=["out_of_memory"])  # fmt: skip
    ok = EvalResult(candidate_id=kernel.id, target="h100", static_ok=True, compiled=True,
                    correct=True, speedup_vs_eager=0.89)  # fmt: skip
    state = RunState(
        run_id="r1",
        request=RunRequest(problem="softmax", target="h100"),
        languages=["pytorch", "triton"],
        budget=12,
        candidates={c.id: c.model_dump(mode="json") for c in (ref, kernel)},
        results={r.candidate_id: r.model_dump(mode="json") for r in (oom, ok)},
    )
    out = update(state, Runtime(context=make_run_context(tmp_path)))
    assert out["stop_reason"].startswith("the PyTorch reference could not be evaluated")
