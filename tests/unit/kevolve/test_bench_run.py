"""``kevolve bench``: bench.json after every problem, resume, time limit, failures; CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kevolve.api
import kevolve.bench
from kevolve.bench import BenchConfig, load_doc, merge_into, run_bench
from kevolve.runstore import RunInfo, RunStore
from kevolve.settings import get_settings
from tests.records import passed
from tests.targets import ceilings
from tools.errors import ConfigError, ProblemError
from tools.records import Candidate
from tools.records.eval_result import Diagnostics

CEIL = ceilings(100.0, fp32=1.0, fp16=2.0)


@pytest.fixture
def suite(suite: Path) -> Path:
    """The two-problem suite with its ``suite.yaml`` (families and kinds)."""
    folder = suite
    (folder / "suite.yaml").write_text(
        "suite: tiny\nproblems:\n"
        "  - {file: 001_relu.py, family: pointwise, kind: memory}\n"
        "  - {file: 008_sum_rows.py, family: reduction, kind: memory}\n"
    )
    return folder


class FakeRuns:
    """Stands in for kevolve.api's run functions: writes a run store like a real run."""

    def __init__(self, settings, fail: set[str] = frozenset(), pause_s: float = 0.0):
        self.store = RunStore(settings.runs_dir)
        self.started: list[str] = []
        self.resumed: list[str] = []
        self.fail = fail
        self.pause_s = pause_s

    def plan_run(self, request, settings):
        return None

    def start_run(self, request, settings, on_event=None, plan=None):
        name = Path(request.problem).stem
        self.started.append(name)
        if name in self.fail:
            raise ProblemError(f"{name} cannot be planned")
        run_id = f"{name}-run"
        self.store.create(
            RunInfo(run_id=run_id, problem=name, target=request.target, budget=request.budget),
            "source",
        )
        on_event("started", {"run_id": run_id, "budget": request.budget, "notes": []})
        return self._evaluate(run_id, on_event)

    def resume_run(self, run_id, settings, on_event=None):
        self.resumed.append(run_id)
        on_event("resumed", {"run_id": run_id, "budget": 2, "done": 0})
        return self._evaluate(run_id, on_event)

    def _evaluate(self, run_id, on_event):
        plans = [
            ("g00-00", "pytorch", 1.0, 1.0),
            ("g00-01", "triton", 2.0, 0.5),
            ("g01-00", "triton", 3.0, 0.33),
        ]
        for cid, lang, vs_eager, ms in plans:
            if self.store.load_result(run_id, cid):
                continue
            self.store.save_candidate(run_id, Candidate(id=cid, language=lang, source="x"))
            on_event("evaluating", {"candidate_id": cid})
            result = passed(
                cid,
                "cpu",
                runtime_ms=ms,
                ref_eager_ms=1.0,
                ref_compile_ms=0.8,
                speedup_vs_eager=vs_eager,
                speedup_vs_compile=0.8 / ms,
                measured_on="fake",
                diagnostics=Diagnostics(
                    bytes_moved=10**8,
                    bound="memory",
                    registers_per_thread=32 if lang == "triton" else None,
                ),
            )
            self.store.save_result(run_id, result)
            on_event("evaluated", {"candidate_id": cid, "result": result})
            time.sleep(self.pause_s)
        self.store.write_text(run_id, "summary.json", json.dumps({"stop_reason": "budget used"}))
        self.store.set_status(run_id, "finished")
        return {"status": "finished"}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    settings = get_settings(data_dir=tmp_path / "data", use_knowledge=False)
    runs = FakeRuns(settings)
    monkeypatch.setattr(kevolve.api, "start_run", runs.start_run)
    monkeypatch.setattr(kevolve.api, "resume_run", runs.resume_run)
    monkeypatch.setattr(kevolve.api, "plan_run", runs.plan_run)
    monkeypatch.setattr(kevolve.bench, "ceilings_for", lambda target: CEIL)
    return settings, runs


def config(suite: Path, tmp_path: Path, **kw) -> BenchConfig:
    base = dict(
        suite=str(suite),
        target="cpu",
        budget=3,
        out_dir=tmp_path / "out",
        scale=1 / 64,
        time_limit_s=None,
    )
    return BenchConfig(**{**base, **kw})


def test_bench_writes_rows_and_summary_then_resume_skips_finished(suite, tmp_path, fake):
    settings, runs = fake
    lines: list[str] = []
    doc = run_bench(config(suite, tmp_path), settings, say=lines.append)
    assert runs.started == ["001_relu", "008_sum_rows"]
    on_disk = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert on_disk["schema_version"] == 1 and on_disk["suite"] == "tiny"
    assert on_disk["ceilings"]["copy_gbps"] == 100.0 and len(on_disk["sessions"]) == 1
    row = on_disk["problems"]["001_relu"]
    assert row["status"] == "done" and row["correct"] and not row["is_reference"]
    assert row["candidate_id"] == "g01-00" and row["speedup_vs_eager"] == 3.0
    assert row["evaluations"] == 3 and row["triton"]["with_resources"] == 2
    assert row["achieved_gbps"] == pytest.approx(10**8 / 0.33e-3 / 1e9)
    assert row["fraction_of_ceiling"] == pytest.approx(row["achieved_gbps"] / 100.0)
    assert (tmp_path / "out" / "problems" / "001_relu.py").is_file()  # the resized copy
    summary = on_disk["summary"]
    assert summary["correct"] == 2 and summary["fast_1_vs_eager"] == 1.0
    assert summary["geomean_speedup_vs_eager"] == pytest.approx(3.0)
    assert any("001_relu" in line and "3.00x vs eager" in line for line in lines)
    assert doc.summary == summary

    run_bench(config(suite, tmp_path, resume=True), settings, say=lines.append)
    assert runs.started == ["001_relu", "008_sum_rows"], "finished problems are not rerun"
    assert len(load_doc(tmp_path / "out").sessions) == 2
    with pytest.raises(ConfigError, match="budget"):
        run_bench(config(suite, tmp_path, resume=True, budget=9), settings)


def test_time_limit_stops_between_evaluations_and_keeps_the_best_so_far(suite, tmp_path, fake):
    settings, runs = fake
    runs.pause_s = 4.0  # past the limit, which is far past the preparation even on a loaded host
    doc = run_bench(config(suite, tmp_path, time_limit_s=3.0, only="001_*"), settings)
    row = doc.problems["001_relu"]
    assert row.time_limited and row.status == "done"
    assert row.evaluations == 1 and row.is_reference and row.correct  # only the passthrough ran
    info = RunStore(settings.runs_dir).info(row.run_id)
    assert info.status == "interrupted" and "time limit" in info.error
    assert doc.summary["time_limited"] == 1


def test_a_failing_problem_is_recorded_and_the_bench_goes_on(suite, tmp_path, fake):
    settings, runs = fake
    runs.fail = {"001_relu"}
    doc = run_bench(config(suite, tmp_path), settings)
    failed, ok = doc.problems["001_relu"], doc.problems["008_sum_rows"]
    assert failed.status == "failed" and "cannot be planned" in failed.error
    assert ok.status == "done" and ok.correct
    assert doc.summary["failed"] == 1 and doc.summary["fast_0_vs_eager"] == 0.5


def test_a_cut_run_is_resumed_from_its_checkpoint(suite, tmp_path, fake):
    settings, runs = fake
    run_bench(config(suite, tmp_path, only="001_*"), settings)
    doc = load_doc(tmp_path / "out")
    doc.problems["001_relu"] = doc.problems["001_relu"].model_copy(update={"status": "running"})
    (tmp_path / "out" / "bench.json").write_text(doc.model_dump_json())
    resumed = run_bench(config(suite, tmp_path, only="001_*", resume=True), settings)
    assert runs.resumed == ["001_relu-run"] and runs.started == ["001_relu"]
    assert resumed.problems["001_relu"].status == "done"


def test_cli_prints_json_and_table(suite, tmp_path, fake, monkeypatch):
    from kevolve.cli import app

    monkeypatch.setenv("KEVOLVE_CONFIG", str(tmp_path / "none.toml"))
    out = tmp_path / "cli-out"
    args = [
        "bench",
        str(suite),
        "--target",
        "cpu",
        "--budget",
        "3",
        "--scale",
        "0.02",
        "--out",
        str(out),
        "--data-dir",
        str(tmp_path / "data"),
        "--no-knowledge",
    ]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc["problems"]) == {"001_relu", "008_sum_rows"}
    assert doc["summary"]["correct"] == 2
    table = CliRunner().invoke(app, [*args, "--resume"])
    assert table.exit_code == 0 and "summary" in table.stdout and "fast_0" in table.stdout
    bad = CliRunner().invoke(app, ["bench", "no-such-suite", "--out", str(out)])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_real_bench_on_the_cpu_target_end_to_end(suite, tmp_path, monkeypatch):
    """Two tiny problems through the real graph and sandbox on this CPU, then a resume."""
    monkeypatch.setenv("KEVOLVE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("KEVOLVE_CHILDREN_PER_GENERATION", "1")
    settings = get_settings(
        data_dir=tmp_path / "data", use_knowledge=False, eval_seeds=1, eval_rep_ms=20.0
    )
    cfg = config(suite, tmp_path, budget=2, scale=0.01, time_limit_s=900)
    doc = run_bench(cfg, settings)
    assert doc.ceilings is not None and doc.ceilings.measured and doc.ceilings.copy_gbps > 0
    for row in doc.problems.values():
        assert row.status == "done" and row.correct, row.error
        assert 1 <= row.evaluations <= 2 and row.wall_s > 0
        assert row.eager_ms and row.ours_ms and row.speedup_vs_eager
        assert row.measured_on and row.measured_on != "modeled"
        assert row.bytes_moved > 0 and row.fraction_of_ceiling is not None
        if row.is_reference:
            assert row.speedup_vs_eager == 1.0
    assert doc.summary["correct"] == 2 and doc.summary["fast_0_vs_eager"] == 1.0
    runs_before = len(RunStore(settings.runs_dir).list())
    again = run_bench(cfg.model_copy(update={"resume": True}), settings)
    assert len(RunStore(settings.runs_dir).list()) == runs_before, "nothing was rerun"
    assert again.summary["correct"] == 2


def test_rerun_runs_selected_problems_again_and_merge_joins_side_by_side_benches(
    suite, tmp_path, fake, monkeypatch
):
    settings, runs = fake
    monkeypatch.setenv("KEVOLVE_COMMIT", "abc1234")
    run_bench(config(suite, tmp_path), settings)
    first = load_doc(tmp_path / "out").problems["001_relu"]
    assert first.commit == "abc1234" and first.measured_at
    run_bench(config(suite, tmp_path, resume=True, rerun=True, only="001_*"), settings)
    assert runs.started == ["001_relu", "008_sum_rows", "001_relu"]
    assert load_doc(tmp_path / "out").problems["001_relu"].run_id != first.run_id

    side = tmp_path / "side"
    run_bench(config(suite, tmp_path, out_dir=side, only="008_*"), settings)
    newest = load_doc(side).problems["008_sum_rows"]
    merged = merge_into(tmp_path / "out", [side])
    assert merged.problems["008_sum_rows"].run_id == newest.run_id
    assert len(merged.sessions) == 3 and set(merged.problems) == {"001_relu", "008_sum_rows"}
    assert load_doc(tmp_path / "out").problems["008_sum_rows"].run_id == newest.run_id
    with pytest.raises(ConfigError, match="another suite"):
        run_bench(config(suite, tmp_path, out_dir=tmp_path / "b9", budget=9), settings)
        merge_into(tmp_path / "out", [tmp_path / "b9"])
    with pytest.raises(ConfigError, match="does not exist"):
        merge_into(tmp_path / "out", [tmp_path / "nowhere"])
