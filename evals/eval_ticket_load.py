"""Load test of the ticket queue on Postgres: many tickets, several workers, workers killed at
random. Not part of CI's pass/fail; the result goes to ``evals/results/``.

    python evals/eval_ticket_load.py                        # 200 tickets, 4 workers, Postgres
    python evals/eval_ticket_load.py --database-url postgresql+psycopg://u@host/db
    python evals/eval_ticket_load.py --mode real --tickets 12   # real optimization runs

Every worker is a separate process running ``kevolve.worker.loop.Worker`` on the queue (huey
on Postgres plus the ticket table). A supervisor keeps ``--workers`` of them alive and every
``--kill-every`` seconds SIGKILLs one that holds a ticket, starting a replacement, until every
ticket has ended. Then it checks, from the ticket table and each run's own log:

- every ticket ended ``done`` (a ticket not done is a loss);
- no ticket was held by two workers at once (the claims of a ticket never overlap);
- no step of a run was done twice, and every run has all its steps.

The claim limit (``KEVOLVE_TICKET_MAX_ATTEMPTS``, 4 by default, which fails a ticket that keeps
killing its worker) is raised to ``--max-attempts`` (100): here the kills are random, and a
ticket hit four times would otherwise fail by design rather than by a defect.

``--mode synthetic`` (the default) runs each ticket through a stand-in run of ``--steps``
steps of ``--step-s`` seconds whose progress is kept in a file, the way a run's checkpoint
keeps its finished evaluations: a worker that takes a ticket over resumes after the last
finished step. It measures the queue, not the kernels; on a small machine a real run costs
10-20 s of CPU per ticket. ``--mode real`` starts ``kevolve worker`` processes on real
budget-1 tickets (each candidate evaluated once is then read from ``evaluations.log``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kevolve.tickets.models import TERMINAL, TicketSpec  # noqa: E402
from kevolve.tickets.store import TicketStore  # noqa: E402
from tests.support import CLI, cli_env  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Worker side (one process per worker)


def synthetic_runner(state_dir: Path, steps: int, step_s: float):  # noqa: ANN201 - Runner
    """A stand-in run: ``steps`` steps of ``step_s`` seconds; each finished step is appended
    to ``<state_dir>/<run id>.log`` (its checkpoint), and a takeover resumes after it."""
    from kevolve.worker.runner import Outcome

    def run(ticket: Any, settings: Any, on_run: Any, check: Any) -> Any:
        run_id = ticket.run_id or f"run-{ticket.ticket_id}"
        on_run(run_id)
        log = state_dir / f"{run_id}.log"
        done = len(log.read_text().splitlines()) if log.exists() else 0
        for step in range(done, steps):
            check()
            time.sleep(step_s)  # the "evaluation"
            check()
            with log.open("a") as f:
                f.write(json.dumps({"step": step, "pid": os.getpid(), "at": time.time()}) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return Outcome(ok=True, run_id=run_id, best={"steps": steps})

    return run


def worker_main(args: argparse.Namespace) -> None:
    from kevolve.worker.loop import Worker

    store = TicketStore(args.database_url, lease_s=args.lease_s, retry_s=1.0,
                        max_attempts=args.max_attempts)  # fmt: skip
    runner = synthetic_runner(Path(args.state_dir), args.steps, args.step_s)
    Worker(store, None, runner=runner, poll_s=0.2).run(once=True)


# ---------------------------------------------------------------------------------------------
# Supervisor


def start_worker(args: argparse.Namespace, data: Path, url: str, n: int) -> subprocess.Popen:
    log = open(data / f"worker-{n}.log", "w")  # noqa: SIM115 - closed with the process
    if args.mode == "real":
        cmd = [*CLI, "worker", "--once", "--poll-s", "0.3"]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--database-url", url,
               "--state-dir", str(data / "runs"), "--steps", str(args.steps),
               "--step-s", str(args.step_s), "--lease-s", str(args.lease_s),
               "--max-attempts", str(args.max_attempts)]  # fmt: skip
    env = cli_env(data, database_url=url, ticket_lease_s=args.lease_s, ticket_retry_s=1,
                  ticket_max_attempts=args.max_attempts, children_per_generation=1,
                  max_concurrency=1, eval_seeds=1, eval_rep_ms=5)  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def submit(store: TicketStore, args: argparse.Namespace) -> list[str]:
    ops = ("relu", "sigmoid", "tanh")
    ids = []
    for i in range(args.tickets):
        if args.mode == "real":
            spec = TicketSpec(problem=ops[i % 3], chip="h100", budget=1, shape="8x16",
                              requester="load", priority=i % 3)  # fmt: skip
        else:
            spec = TicketSpec(problem="softmax", chip="cpu", budget=args.steps,
                              requester="load", priority=i % 3)  # fmt: skip
        ids.append(store.submit(spec).ticket_id)
    return ids


def drive(args: argparse.Namespace, url: str, data: Path) -> dict[str, Any]:
    store = TicketStore(url, lease_s=args.lease_s, max_attempts=args.max_attempts)
    (data / "runs").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    ids = submit(store, args)
    submit_s = time.time() - t0
    rng = random.Random(args.seed)
    workers: list[subprocess.Popen] = []
    started = 0
    for _ in range(args.workers):
        workers.append(start_worker(args, data, url, started))
        started += 1
    start = time.time()
    next_kill = start + rng.uniform(0.5, 1.5) * args.kill_every
    kills: list[dict[str, Any]] = []
    deadline = start + args.timeout_s
    while time.time() < deadline:
        tickets = store.list()
        if all(t.status in TERMINAL for t in tickets):
            break
        # Workers run with --once: one that exits while tickets remain is replaced.
        for i, proc in enumerate(workers):
            if proc.poll() is not None:
                workers[i] = start_worker(args, data, url, started)
                started += 1
        if time.time() >= next_kill:
            held = {t.worker_id: t.ticket_id for t in tickets
                    if t.status == "running" and t.worker_id}  # fmt: skip
            victims = [p for p in workers if p.poll() is None
                       and any(f"-{p.pid}-" in w for w in held)]  # fmt: skip
            if victims:
                victim = rng.choice(victims)
                ticket = next(t for w, t in held.items() if f"-{victim.pid}-" in w)
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait(timeout=30)
                kills.append({"pid": victim.pid, "ticket": ticket, "at_s": round(time.time() - start, 2)})
                workers[workers.index(victim)] = start_worker(args, data, url, started)
                started += 1
            next_kill = time.time() + rng.uniform(0.5, 1.5) * args.kill_every
        time.sleep(0.5)
    wall_s = time.time() - start
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return check(store, ids, data, args, wall_s, submit_s, kills, started)


def run_steps(data: Path, run_id: str | None, mode: str) -> list[Any]:
    if not run_id:
        return []
    if mode == "real":
        log = data / "runs" / run_id / "evaluations.log"
        key = "candidate_id"
    else:
        log = data / "runs" / f"{run_id}.log"
        key = "step"
    if not log.exists():
        return []
    return [json.loads(line)[key] for line in log.read_text().splitlines() if line.strip()]


def check(store: TicketStore, ids: list[str], data: Path, args: argparse.Namespace,
          wall_s: float, submit_s: float, kills: list[dict[str, Any]], started: int) -> dict[str, Any]:  # fmt: skip
    statuses: dict[str, int] = {}
    not_done, overlapping, repeated, incomplete = [], [], [], []
    takeovers = 0
    claims = 0
    for tid in ids:
        t = store.get(tid)
        statuses[t.status] = statuses.get(t.status, 0) + 1
        if t.status != "done":
            not_done.append({"ticket": tid, "status": t.status, "error": t.error})
        attempts = store.attempt_log(tid)
        claims += len(attempts)
        takeovers += sum(a["outcome"] == "lost" for a in attempts)
        for prev, nxt in zip(attempts, attempts[1:]):
            if prev["ended_at"] is None or nxt["started_at"] < prev["ended_at"]:
                overlapping.append(tid)
                break
        steps = run_steps(data, t.run_id, args.mode)
        if len(steps) != len(set(steps)):
            repeated.append(tid)
        want = 1 if args.mode == "real" else args.steps
        if t.status == "done" and len(set(steps)) != want:
            incomplete.append({"ticket": tid, "steps": len(set(steps))})
    done = statuses.get("done", 0)
    return {
        "result": {
            "tickets": len(ids),
            "statuses": statuses,
            "lost_tickets": len(not_done),
            "tickets_run_twice_at_once": len(overlapping),
            "runs_with_a_step_done_twice": len(repeated),
            "runs_incomplete": len(incomplete),
            "workers_killed": len(kills),
            "tickets_taken_over_after_a_kill": takeovers,
            "claims": claims,
            "worker_processes_started": started,
            "wall_s": round(wall_s, 1),
            "submit_s": round(submit_s, 2),
            "tickets_per_minute": round(done / wall_s * 60, 1) if wall_s else 0.0,
            "ok": not (not_done or overlapping or repeated or incomplete),
        },
        "details": {"not_done": not_done[:20], "overlapping": overlapping[:20],
                    "repeated": repeated[:20], "incomplete": incomplete[:20], "kills": kills},  # fmt: skip
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tickets", type=int, default=200)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--kill-every", type=float, default=6.0,
                   help="mean seconds between SIGKILLs of a worker holding a ticket")
    p.add_argument("--lease-s", type=float, default=3.0)
    p.add_argument("--max-attempts", type=int, default=100,
                   help="claims a ticket may get; random kills can hit one ticket again and "
                   "again, and the default limit of 4 would then fail it by design")
    p.add_argument("--steps", type=int, default=4, help="steps of a synthetic run")
    p.add_argument("--step-s", type=float, default=0.25, help="seconds of one synthetic step")
    p.add_argument("--mode", choices=("synthetic", "real"), default="synthetic")
    p.add_argument("--database-url", help="Postgres URL; unset: a throwaway local server")
    p.add_argument("--timeout-s", type=float, default=1800)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="ticket_load_postgres_cpu")
    p.add_argument("--out", type=Path, default=ROOT / "evals" / "results")
    p.add_argument("--no-record", action="store_true", help="print only")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--state-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker_main(args)
        return
    with ExitStack() as stack:
        if args.database_url:
            url = args.database_url
        else:
            # The throwaway server the integration tests use (Debian's postgresql binaries).
            from tests.integration.services import create_database, postgres_server

            url = create_database(stack.enter_context(postgres_server()))
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kevolve-load-")))
        outcome = drive(args, url, data)
    payload = {
        "database": "postgres (huey PostgresStorage + the ticket table)",
        "params": {k: v for k, v in vars(args).items()
                   if k not in ("worker", "state_dir", "out", "database_url", "no_record")},  # fmt: skip
        **outcome,
    }
    print(json.dumps(payload["result"], indent=2))
    if not args.no_record:
        from evals.record import record

        command = "python " + " ".join([str(Path(sys.argv[0]).relative_to(ROOT)
                                             if Path(sys.argv[0]).is_absolute() else sys.argv[0]),
                                        *sys.argv[1:]])  # fmt: skip
        print(record(args.name, command, payload, args.out))
    sys.exit(0 if outcome["result"]["ok"] else 1)


if __name__ == "__main__":
    main()
