"""``kevolve data export``: one documented JSON line per evaluated candidate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kevolve.cli import app
from kevolve.data_export import (
    CandidateInfo,
    ContextInfo,
    ExportRecord,
    ProblemInfo,
    export,
    export_records,
)
from kevolve.runstore import RunInfo, RunStore
from tests.support import REPO
from tools.errors import KevolveError, RunStoreError
from tools.problems import load_problem
from tools.records import Candidate, EvalResult

runner = CliRunner()


def _result(cid: str, speedup: float | None, ok: bool = True) -> EvalResult:
    return EvalResult(
        candidate_id=cid, target="h100", static_ok=True, compiled=ok, correct=ok,
        stage_failed=None if ok else "correctness",
        error="" if ok else "max_abs_err 0.5 > 1e-4",
        runtime_ms=0.01 if ok else None, speedup_vs_eager=speedup if ok else None,
        measured_on="modeled",
    )


def make_run(runs_dir: Path, run_id: str, created_at: str = "2026-11-25T10:00:00+00:00") -> None:
    """A run folder with a seed, a good child, a failed grandchild and an unevaluated draft."""
    store = RunStore(runs_dir)
    problem = load_problem("softmax", shape="4x8")
    store.create(
        RunInfo(run_id=run_id, problem="softmax", target="h100", budget=4,
                created_at=created_at, languages=["triton"]),
        problem.source,
    )
    cands = [
        Candidate(id="g00-00-aaaaaa", language="triton", source="# seed\n",
                  transformation="initial triton.softmax", template="triton.softmax",
                  params={"variant": "single", "BLOCK_M": 1}),
        Candidate(id="g01-00-bbbbbb", parent_ids=["g00-00-aaaaaa"], generation=1,
                  language="triton", memory_mode="inherit", source="# child\n",
                  transformation="BLOCK_M 1 -> 2", template="triton.softmax",
                  params={"variant": "single", "BLOCK_M": 2}),
        Candidate(id="g02-00-cccccc", parent_ids=["g01-00-bbbbbb"], generation=2,
                  language="triton", memory_mode="compare", source="# grandchild\n",
                  transformation="BLOCK_M 2 -> 4", template="triton.softmax",
                  params={"variant": "single", "BLOCK_M": 4}),
        Candidate(id="g02-01-dddddd", parent_ids=["g01-00-bbbbbb"], generation=2,
                  language="triton", memory_mode="restart", source="# never evaluated\n"),
    ]
    for cand in cands:
        store.save_candidate(run_id, cand)
    # evaluated out of id order: the export follows the order evaluations ran
    store.save_result(run_id, _result("g01-00-bbbbbb", 1.5))
    store.save_result(run_id, _result("g00-00-aaaaaa", 1.2))
    store.save_result(run_id, _result("g02-00-cccccc", None, ok=False))
    store.set_status(run_id, "finished")


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    make_run(tmp_path / "runs", "softmax-run-1")
    return tmp_path


def test_one_record_per_evaluated_candidate_in_evaluation_order(data_dir: Path):
    records = list(export_records(data_dir / "runs"))
    assert [r.candidate.id for r in records] == ["g01-00-bbbbbb", "g00-00-aaaaaa", "g02-00-cccccc"]
    child, seed, failed = records
    assert seed.problem.op == "softmax" and seed.problem.op_family == "softmax"
    assert seed.problem.shapes == [[4, 8]] and "class Model" in seed.problem.source
    assert child.target == "h100" and child.run_status == "finished"
    assert child.candidate.params == {"variant": "single", "BLOCK_M": 2}
    assert child.context.memory_mode == "inherit" and child.context.parent_id == "g00-00-aaaaaa"
    assert child.context.parent_reward == pytest.approx(1.2)
    assert child.accepted and child.reward == pytest.approx(1.5) and child.measured_on == "modeled"
    assert failed.context.lineage == ["g00-00-aaaaaa", "g01-00-bbbbbb"]
    assert not failed.accepted and failed.reward == 0.0
    assert failed.result.stage_failed is not None and "max_abs_err" in failed.result.error
    assert seed.context.parent_id is None and seed.context.lineage == []


def test_all_runs_are_exported_oldest_first(data_dir: Path):
    make_run(data_dir / "runs", "softmax-run-0", created_at="2026-11-24T10:00:00+00:00")
    run_ids = [r.run_id for r in export_records(data_dir / "runs")]
    assert run_ids == ["softmax-run-0"] * 3 + ["softmax-run-1"] * 3


def test_cli_writes_jsonl_that_validates_against_the_schema(data_dir: Path):
    out = data_dir / "export" / "trajectories.jsonl"
    result = runner.invoke(app, ["data", "export", "--format", "jsonl", "--out", str(out),
                                 "--run", "softmax-run-1", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        record = ExportRecord.model_validate(json.loads(line))
        assert record.schema_version == 1 and record.candidate.source.startswith("#")


def test_cli_writes_to_stdout_without_out(data_dir: Path):
    result = runner.invoke(app, ["data", "export", "--data-dir", str(data_dir)])
    assert result.exit_code == 0
    assert len([json.loads(x) for x in result.stdout.splitlines()]) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "no-such-run"], "no run 'no-such-run'"),
        (["--format", "parquet"], "unknown export format 'parquet'"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(data_dir: Path, args: list[str], message: str):
    out = data_dir / "x.jsonl"
    result = runner.invoke(app, ["data", "export", "--data-dir", str(data_dir), "--out", str(out),
                                 *args])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_api_errors_are_kevolve_errors(data_dir: Path):
    with pytest.raises(RunStoreError):
        export(data_dir / "runs", "jsonl", None, "missing")
    with pytest.raises(KevolveError):
        export(data_dir / "runs", "csv")


def test_every_schema_field_is_documented():
    doc = (REPO / "docs" / "data_export.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_.]+)`", doc, flags=re.MULTILINE))
    for prefix, model in (("", ExportRecord), ("problem.", ProblemInfo),
                          ("candidate.", CandidateInfo), ("context.", ContextInfo),
                          ("result.", EvalResult)):
        for name in model.model_fields:
            assert f"{prefix}{name}" in documented, f"{prefix}{name} is not in docs/data_export.md"
