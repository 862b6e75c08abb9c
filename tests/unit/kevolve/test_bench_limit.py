"""Budgets that hold: a hard per-problem time limit, and a deadline that only decides starts.

A fake slow evaluator (a real sandboxed process that sleeps) and a fake coder busy between
events stand in for a run; the bench must stop both at the limit, say so in the row, and
never shorten the time limit of a problem it starts before its deadline.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import kevolve.api
import kevolve.bench
import kevolve.bench_limit
from kevolve.bench import BenchConfig, run_bench
from kevolve.bench_limit import Watchdog, sandbox_children
from kevolve.runstore import RunInfo, RunStore
from kevolve.settings import get_settings
from tests.targets import ceilings
from tools.evaluator.sandbox import run_sandboxed
from tools.records import Candidate, EvalResult

CEIL = ceilings(100.0, fp32=1.0)
SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


class SlowRuns:
    """A run whose evaluations are real sandboxed processes; ``mode`` says what is slow."""

    def __init__(self, settings, tmp: Path, mode: str, eval_s: float = 0.0):
        self.store = RunStore(settings.runs_dir)
        self.tmp, self.mode, self.eval_s = tmp, mode, eval_s
        self.started: list[str] = []
        self.sandbox_wall: list[float] = []

    def plan_run(self, request, settings):
        return None

    def start_run(self, request, settings, on_event=None, plan=None):
        name = Path(request.problem).stem
        self.started.append(name)
        run_id = f"{name}-run"
        self.store.create(
            RunInfo(run_id=run_id, problem=name, target=request.target, budget=3), "source"
        )
        on_event("started", {"run_id": run_id, "budget": 3, "notes": []})
        if self.mode == "busy_coder":
            time.sleep(60)  # a coder between events: only an interrupt stops it
        for i in range(3):
            cid = f"g00-0{i}"
            self.store.save_candidate(run_id, Candidate(id=cid, language="pytorch", source="x"))
            on_event("evaluating", {"candidate_id": cid})
            if self.mode == "slow_eval":
                run = run_sandboxed(
                    SLEEP, cwd=self.tmp, env={}, timeout_s=120,
                    stdout_path=self.tmp / "o", stderr_path=self.tmp / "e",
                )  # fmt: skip
                self.sandbox_wall.append(run.wall_s)
            else:
                time.sleep(self.eval_s)
            result = EvalResult(
                candidate_id=cid, target="cpu", static_ok=True, compiled=True, correct=True,
                runtime_ms=1.0, ref_eager_ms=1.0, speedup_vs_eager=1.0, measured_on="fake",
            )  # fmt: skip
            self.store.save_result(run_id, result)
            on_event("evaluated", {"candidate_id": cid, "result": result})
        self.store.write_text(run_id, "summary.json", json.dumps({"stop_reason": "budget used"}))
        self.store.set_status(run_id, "finished")
        return {"status": "finished"}


def _install(monkeypatch, tmp_path, mode, eval_s=0.0) -> tuple:
    settings = get_settings(data_dir=tmp_path / "data", use_knowledge=False)
    runs = SlowRuns(settings, tmp_path, mode, eval_s)
    monkeypatch.setattr(kevolve.api, "start_run", runs.start_run)
    monkeypatch.setattr(kevolve.api, "plan_run", runs.plan_run)
    monkeypatch.setattr(kevolve.bench, "ceilings_for", lambda target: CEIL)
    # preparing (tracing the problem) takes seconds on a loaded machine: out of these tests
    monkeypatch.setattr(
        kevolve.bench, "_prepare_row",
        lambda row, suite, entry, *_: (row, suite.folder / entry.file),
    )  # fmt: skip
    return settings, runs


def _config(suite: Path, tmp_path: Path, **kw) -> BenchConfig:
    base = dict(suite=str(suite), target="cpu", budget=3, out_dir=tmp_path / "out")
    return BenchConfig(**{**base, **kw})


def test_the_watchdog_kills_a_sandboxed_evaluation_in_flight(tmp_path):
    import threading

    runs: list = []
    worker = threading.Thread(
        target=lambda: runs.append(
            run_sandboxed(SLEEP, cwd=tmp_path, env={}, timeout_s=120,
                          stdout_path=tmp_path / "o", stderr_path=tmp_path / "e")
        )
    )  # fmt: skip
    worker.start()
    deadline = time.monotonic() + 10
    while not sandbox_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    expired: list[bool] = []
    dog = Watchdog(0.2, lambda: expired.append(True), grace_s=30).start()
    worker.join(timeout=10)
    dog.cancel()
    assert not worker.is_alive(), "the evaluation was not stopped"
    assert expired == [True] and dog.fired and dog.killed == 1
    assert runs[0].returncode == -9 and runs[0].wall_s < 10


def test_time_limit_is_hard_for_an_evaluation_in_flight(suite, tmp_path, monkeypatch):
    settings, runs = _install(monkeypatch, tmp_path, "slow_eval")
    t0 = time.monotonic()
    doc = run_bench(_config(suite, tmp_path, time_limit_s=2.0, only="001_*"), settings)
    took = time.monotonic() - t0
    row = doc.problems["001_relu"]
    assert row.time_limited and row.wall_s < 25 and took < 45  # the evaluation sleeps 60 s
    assert row.stop_reason == "time limit of 2 s reached"
    assert len(runs.sandbox_wall) == 1 and runs.sandbox_wall[0] < 20  # killed, not waited for  # killed, not waited for
    store = RunStore(settings.runs_dir)
    assert store.load_result(row.run_id, "g00-00") is None, "a killed evaluation is redone"
    assert store.info(row.run_id).status == "interrupted"


def test_time_limit_interrupts_a_run_busy_between_events(suite, tmp_path, monkeypatch):
    import signal

    # as in `kevolve bench`: Ctrl-C raises KeyboardInterrupt (an earlier in-process test
    # may have left another handler, under which the interrupt would be swallowed)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(kevolve.bench_limit, "GRACE_S", 0.3)
    try:
        _busy_run_is_interrupted(suite, tmp_path, monkeypatch)
    finally:
        signal.signal(signal.SIGINT, previous)


def _busy_run_is_interrupted(suite, tmp_path, monkeypatch) -> None:
    settings, _ = _install(monkeypatch, tmp_path, "busy_coder")
    doc = run_bench(_config(suite, tmp_path, time_limit_s=0.5, only="001_*"), settings)
    row = doc.problems["001_relu"]
    assert row.time_limited and row.wall_s < 20  # the coder sleeps 60 s
    assert "time limit" in row.stop_reason


def test_deadline_starts_no_problem_after_it_and_never_cuts_a_started_one(
    suite, tmp_path, monkeypatch
):
    settings, runs = _install(monkeypatch, tmp_path, "fast", eval_s=0.4)
    lines: list[str] = []
    cfg = _config(suite, tmp_path, time_limit_s=30, deadline_s=0.5)
    doc = run_bench(cfg, settings, say=lines.append)
    assert runs.started == ["001_relu"]  # started before the deadline, the other not
    row = doc.problems["001_relu"]
    assert not row.time_limited and row.evaluations == 3 and row.wall_s > 1.0
    assert doc.sessions[-1]["not_started"] == ["008_sum_rows"]
    assert any("not started" in line for line in lines)
