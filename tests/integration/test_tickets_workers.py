"""Done-when of the ticket queue: three tickets, two worker processes, one SIGKILLed mid-ticket,
on the embedded SQLite queue and on a throwaway Postgres server.

All three tickets end `done`; the killed worker's ticket is taken over after its lease expires
and its run resumes from the checkpoint (same run id, no candidate evaluated twice); no ticket
is ever held by two workers at once. The tickets target h100 on this CPU machine (Triton's
interpreter, modeled times): the cheapest real runs, with no torch.compile of the reference
per evaluation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import CLI, cli_env
from tests.support import REPO as ROOT

LEASE_S = 4.0


def env_for(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = cli_env(data_dir, children_per_generation=1, max_concurrency=1, eval_seeds=1,
                  eval_rep_ms=5, ticket_lease_s=LEASE_S, ticket_retry_s=1, log_level="INFO")  # fmt: skip
    if database_url:
        env["KEVOLVE_DATABASE_URL"] = database_url
    return env


def cli(args: list[str], data_dir: Path, database_url: str | None = None) -> dict:
    proc = subprocess.run([*CLI, *args, "--json"], cwd=ROOT,
                          env=env_for(data_dir, database_url), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def start_worker(data_dir: Path, name: str, database_url: str | None = None) -> subprocess.Popen:
    log = open(data_dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [*CLI, "worker", "--once", "--poll-s", "0.3"],
        cwd=ROOT, env=env_for(data_dir, database_url), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_three_tickets_two_workers_one_killed(tmp_path):
    drain_with_one_worker_killed(tmp_path, None)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_three_tickets_two_workers_one_killed_on_postgres(tmp_path, postgres_db_url):
    drain_with_one_worker_killed(tmp_path, postgres_db_url)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_queue_unit_tests_pass_on_postgres(postgres_db_url):
    """tests/unit/kevolve/test_tickets.py (claims under contention with duplicate messages, leases,
    the reaper, retries with backoff, needs-input, cancel) on huey's Postgres storage."""
    env = {**os.environ, "KEVOLVE_TEST_DATABASE_URL": postgres_db_url}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/unit/kevolve/test_tickets.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=540)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout


def drain_with_one_worker_killed(tmp_path: Path, database_url: str | None) -> None:
    """Three tickets, workers a and b; the holder of a ticket whose run has evaluated at least
    one candidate is SIGKILLed; the survivor and a replacement drain the queue."""
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "tickets").mkdir()
    ids = []
    for op in ("relu", "sigmoid", "tanh"):
        f = tmp_path / "tickets" / f"{op}.yaml"
        f.write_text(f"problem: {op}\nchip: h100\nbudget: 2\nshape: 8x16\nrequester: ci\n")
        made = cli(["ticket", "submit", str(f)], data, database_url)
        assert made["status"] == "queued"
        ids.append(made["ticket_id"])
    from kevolve.tickets.store import TicketStore

    store = TicketStore(database_url or f"sqlite:///{data / 'tickets.sqlite'}")
    workers = {"a": start_worker(data, "a", database_url),
               "b": start_worker(data, "b", database_url)}  # fmt: skip
    victim = None
    deadline = time.time() + 1500
    # Wait until a worker has finished at least one evaluation of its ticket's run, then kill it.
    while victim is None and time.time() < deadline:
        for t in store.list():
            if t.status == "running" and t.run_id:
                log = data / "runs" / t.run_id / "evaluations.log"
                if log.exists() and log.read_text().strip():
                    victim = t
                    break
        time.sleep(0.2)
    assert victim is not None, (data / "a.log").read_text()[-3000:]
    pid_of = {p.pid: n for n, p in workers.items()}
    killed_name = next(n for n, p in workers.items() if str(p.pid) in victim.worker_id)
    os.killpg(workers[killed_name].pid, signal.SIGKILL)
    killed_at = time.time()
    workers[killed_name].wait(timeout=30)
    before = (data / "runs" / victim.run_id / "evaluations.log").read_text().splitlines()
    # A supervisor would restart the lost worker: the replacement and the survivor drain the rest.
    survivors = [workers["b" if killed_name == "a" else "a"],
                 start_worker(data, "c", database_url)]  # fmt: skip
    pid_of[survivors[1].pid] = "c"
    try:
        for proc in survivors:
            proc.wait(timeout=max(10, deadline - time.time()))
    finally:
        for proc in survivors:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    for proc in survivors:
        assert proc.returncode == 0, (data / f"{pid_of[proc.pid]}.log").read_text()[-3000:]

    for tid in ids:
        shown = cli(["ticket", "show", tid], data, database_url)
        assert shown["status"] == "done", shown
        assert shown["best"] and shown["best"]["correct"] is True
        run_dir = data / "runs" / shown["run_id"]
        evaluated = [json.loads(line)["candidate_id"]
                     for line in (run_dir / "evaluations.log").read_text().splitlines()]
        assert len(evaluated) == len(set(evaluated)), f"{tid}: evaluated twice: {evaluated}"
        assert len(evaluated) == 2
        for name in ("report.md", "report.html", "search_tree.png", "speedup.png", "roofline.png"):
            assert (run_dir / name).exists(), name
        attempts = store.attempt_log(tid)
        for prev, nxt in zip(attempts, attempts[1:]):
            assert prev["ended_at"] is not None and nxt["started_at"] >= prev["ended_at"], attempts

    # The killed worker's ticket: taken over after the lease, same run resumed.
    again = store.get(victim.ticket_id)
    assert again.run_id == victim.run_id
    attempts = store.attempt_log(victim.ticket_id)
    assert [a["outcome"] for a in attempts] == ["lost", "done"]
    assert attempts[0]["worker_id"] == victim.worker_id != attempts[1]["worker_id"]
    assert attempts[1]["started_at"] >= attempts[0]["heartbeat_at"] + LEASE_S
    assert attempts[1]["started_at"] >= killed_at
    after = (data / "runs" / victim.run_id / "evaluations.log").read_text().splitlines()
    assert after[: len(before)] == before and len(after) > len(before)
    assert sum(len(store.attempt_log(t)) for t in ids) == 4
    if database_url:  # the queue and its messages lived on the server, not in the data dir
        assert not list(data.glob("tickets*.sqlite"))
