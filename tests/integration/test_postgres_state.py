"""Run state on a real Postgres server (``KEVOLVE_DATABASE_URL=postgresql://...``).

The run store and the checkpointer pass the same contracts as their embedded defaults
(tests/unit/graph/test_graph_ports.py, tests/unit/graph/test_checkpoint_serde.py), and a run
killed mid-way resumes in another process, with another data dir, from what Postgres holds.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import psycopg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from graph.checkpoint import open_checkpointer, postgres_checkpointer
from kevolve.runstore import RunInfo
from kevolve.runstore_pg import PostgresRunStore
from kevolve.runstores import open_run_store
from tests.integration.test_optimize_e2e import kevolve, run_json
from tests.unit.graph import test_checkpoint_serde as serde_contract
from tests.unit.graph import test_graph_ports as ports_contract
from tools.errors import RunStoreError

serde_events = serde_contract.serde_events


def test_database_url_picks_the_store(tmp_path, postgres_db_url):
    assert isinstance(open_run_store(tmp_path, postgres_db_url), PostgresRunStore)
    sqlalchemy_form = postgres_db_url.replace("postgresql://", "postgresql+psycopg://")
    assert isinstance(open_run_store(tmp_path, sqlalchemy_form), PostgresRunStore)
    assert type(open_run_store(tmp_path, None)).__name__ == "RunStore"
    assert type(open_run_store(tmp_path, "sqlite:///x.sqlite")).__name__ == "RunStore"
    assert type(open_checkpointer(postgres_db_url, tmp_path / "ck.sqlite")) is PostgresSaver
    assert not (tmp_path / "ck.sqlite").exists()


def test_run_store_contract_and_a_second_host_sees_the_run(tmp_path, postgres_db_url):
    store = PostgresRunStore(tmp_path / "host-a", postgres_db_url)
    store.create(RunInfo(run_id="r1", problem="softmax", target="cpu", budget=4), "src")
    ports_contract.test_recorder_keeps_what_a_resumed_run_reads_back(store)
    other = PostgresRunStore(tmp_path / "host-b", postgres_db_url)
    assert [i.run_id for i in other.list()] == ["r1"] and other.info("r1").status == "finished"
    assert other.evaluation_log("r1") == ["c1", "c2"]
    assert other.load_result("r1", "c1") == store.load_result("r1", "c1")
    assert not other.run_dir("r1").exists()
    other.sync_local("r1")
    for name in ("run.json", "problem.py", "candidates/c1.py", "results/c2.json", "report.md",
                 "confirm/c1-0.json", "evaluations.log"):  # fmt: skip
        assert (other.run_dir("r1") / name).read_text() == (store.run_dir("r1") / name).read_text()
    other.forget_result("r1", "c2")
    assert store.load_result("r1", "c2") is None and not (other.run_dir("r1") / "results/c2.json").exists()


def test_checkpointer_contract(postgres_db_url):
    ports_contract.test_checkpointer_resumes_after_the_last_finished_step(
        lambda: postgres_checkpointer(postgres_db_url)
    )


def _open_both(url: str, index: int) -> str:
    try:
        postgres_checkpointer(url)
        PostgresRunStore(Path("/nonexistent"), url).list()
    except RunStoreError as e:
        return f"process {index}: {e}"
    return "ok"


def test_processes_opening_a_new_database_at_once_all_succeed(postgres_db_url):
    # Ticket workers started together each create the tables on first use.
    with multiprocessing.get_context("fork").Pool(4) as pool:
        outcomes = pool.starmap(_open_both, [(postgres_db_url, i) for i in range(4)])
    assert outcomes == ["ok"] * 4


def test_checkpoint_loading_refuses_unregistered_types(postgres_db_url, serde_events):
    def permissive() -> PostgresSaver:
        conn = psycopg.connect(postgres_db_url, autocommit=True, prepare_threshold=0,
                               row_factory=psycopg.rows.dict_row)  # fmt: skip
        saver = PostgresSaver(conn, serde=JsonPlusSerializer(allowed_msgpack_modules=True))  # type: ignore[arg-type]
        saver.setup()
        return saver

    serde_contract.check_unregistered_type_stays_data(
        permissive, lambda: postgres_checkpointer(postgres_db_url), serde_events
    )


def _evaluations(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        try:
            rows = conn.execute("SELECT run_id, line FROM kevolve_evaluations ORDER BY seq").fetchall()
        except psycopg.errors.UndefinedTable:  # the run store creates it on its first write
            return {}
    out: dict[str, list[str]] = {}
    for run_id, line in rows:
        out.setdefault(run_id, []).append(json.loads(line)["candidate_id"])
    return out


@pytest.mark.slow
def test_killed_run_resumes_in_another_process_from_postgres(tmp_path, postgres_db_url):
    db = {"KEVOLVE_DATABASE_URL": postgres_db_url}
    first, second = tmp_path / "host-a", tmp_path / "host-b"
    proc = kevolve(
        ["optimize", "softmax", "--target", "h100", "--budget", "4", "--shape", "48x256", "--json"],
        first, db,
    )
    deadline = time.time() + 600
    run_id = ""
    while time.time() < deadline:
        done = _evaluations(postgres_db_url)
        if done and len(next(iter(done.values()))) >= 2:
            run_id = next(iter(done))
            break
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.5)
    assert run_id, "the run never stored two evaluations in Postgres"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = _evaluations(postgres_db_url)[run_id]
    assert not (first / "checkpoints.sqlite").exists()

    resume = kevolve(["runs", "resume", run_id, "--json"], second, db)
    out, err = resume.communicate(timeout=600)
    assert resume.returncode == 0, f"exit {resume.returncode}\n{err[-3000:]}"
    summary = json.loads(out)
    assert summary["status"] == "finished"
    assert "unregistered type" not in err and "Blocked deserialization" not in err, err[-3000:]
    log = _evaluations(postgres_db_url)[run_id]
    assert len(log) == len(set(log)), f"a candidate was evaluated twice: {log}"
    assert len(log) > len(before) and log[: len(before)] == before
    assert summary["candidates_evaluated"] == len(log)
    assert Path(summary["report"]).is_relative_to(second)
    listed = run_json(["runs", "list"], tmp_path / "host-c", extra_env=db)
    assert [r["run_id"] for r in listed] == [run_id] and listed[0]["status"] == "finished"
