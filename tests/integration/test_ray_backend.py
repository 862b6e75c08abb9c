"""Evaluations as Ray tasks on a local cluster with two fake chip resources (H100, MI300X).

The cluster is a real one on 127.0.0.1, started as a deployment starts its head node:
``ray start --head --block`` with one logical GPU and the custom resources ``H100`` and
``MI300X``; SIGTERM to that command shuts the cluster down when the module ends.
An optimize run with ``KEVOLVE_RAY_ADDRESS`` set evaluates every candidate as a Ray task
(each result names the Ray node and task that produced it); a target whose chip no node
offers fails before anything is submitted, with one sentence. A Ray worker killed with
SIGKILL in the middle of an evaluation is replaced: the task runs again and its result still
comes back as an accepted ``EvalResult``; with no retries left, the loss itself comes back as
an ``EvalResult`` that says so.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'kevolve[scale]')")

from tests.support import EVALUATOR_FIXTURES, python_path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_hex(32)
"""The cluster's authentication token (Ray's token auth), shared by every process of the test."""

def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": python_path(),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": TOKEN,
        **extra,
    }


READY_TIMEOUT_S = 120.0


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster():
    temp = tempfile.mkdtemp(prefix="kvray-", dir="/tmp")  # socket paths must stay short
    port = _free_port()
    ray_cli = Path(sys.executable).with_name("ray")
    command = [
        str(ray_cli) if ray_cli.exists() else "ray", "start", "--head", "--block",
        "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2", "--num-gpus=1",
        '--resources={"H100": 1, "MI300X": 1}', "--include-dashboard=false",
        f"--object-store-memory={100 * 2**20}", f"--temp-dir={temp}", "--disable-usage-stats",
    ]  # fmt: skip
    # The cluster is its own "machine": its memory ledger and timing lock live in its own
    # temporary directory, apart from other evaluations on this host.
    head = subprocess.Popen(
        command, cwd=ROOT, env=_env(TMPDIR=temp), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    seen: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        line = head.stdout.readline()
        if not line and head.poll() is not None:
            break
        seen.append(line)
        if "Ray runtime started" in line:
            break
    if not seen or "Ray runtime started" not in seen[-1]:
        os.killpg(head.pid, signal.SIGKILL)
        pytest.fail(f"`ray start --head` did not start the cluster: {''.join(seen)[-2000:]}")
    try:
        yield address, Path(temp)
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block: the command stops what it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def _optimize(args: list[str], data_dir: Path, address: str) -> subprocess.CompletedProcess:
    env = _env(
        KEVOLVE_DATA_DIR=str(data_dir),
        KEVOLVE_CONFIG=str(data_dir / "none.toml"),
        KEVOLVE_CHILDREN_PER_GENERATION="2",
        KEVOLVE_MAX_CONCURRENCY="2",
        KEVOLVE_USE_KNOWLEDGE="false",
        KEVOLVE_RAY_ADDRESS=address,
    )
    return subprocess.run(
        [sys.executable, "-m", "kevolve.cli", "optimize", *args, "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_evaluations_run_as_ray_tasks_routed_by_chip(ray_cluster, tmp_path):
    done = _optimize(["softmax", "--target", "mi300x", "--language", "triton", "--budget", "3",
                      "--shape", "32x300"], tmp_path / "a", ray_cluster[0])

    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["status"] == "finished" and summary["target"] == "mi300x"
    results = [json.loads(p.read_text()) for p in (tmp_path / "a" / "runs").glob("*/results/*.json")]
    assert len(results) == 3
    for result in results:
        notes = result["diagnostics"]["notes"]
        assert len([n for n in notes if n.startswith("ray: node ")]) == 1, notes
    tasks = {n.split(" task ")[1] for r in results for n in r["diagnostics"]["notes"]
             if n.startswith("ray: ")}
    assert len(tasks) == 3  # one Ray task per evaluation
    assert any(r["correct"] and r["stage_failed"] is None and r["measured_on"] == "modeled"
               for r in results)


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_chip_no_node_has_fails_fast_with_one_sentence(ray_cluster, tmp_path):
    done = _optimize(["softmax", "--target", "h200", "--budget", "2", "--shape", "32x300"],
                     tmp_path, ray_cluster[0])
    assert done.returncode != 0
    assert "no node of the Ray cluster offers H200 for target h200" in done.stderr, (
        done.stderr[-3000:]
    )
    assert not list(tmp_path.glob("runs/*/results/*.json"))


DRIVER = r"""
import logging, sys
import ray
from tools.evaluator.options import EvalOptions
from tools.evaluator.ray_backend import RayEvaluator
from tools.hardware import load_target
from tools.problems import load_problem
from tools.records import Candidate
address, retries, source_file = sys.argv[1:4]
ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
evaluator = RayEvaluator(ray, max_retries=int(retries))
candidate = Candidate(id="softmax-torch", language="pytorch", author="user",
                      source=open(source_file).read(), transformation="written by hand")
options = EvalOptions(seeds=[0], warmup_ms=1, rep_ms=5, min_reps=3, timed_checks=2,
                      input_sets=1, measure_compile=False)
result = evaluator(load_problem("softmax", shape="16x64"), candidate, load_target("cpu"), options)
print(result.model_dump_json(), flush=True)
ray.shutdown()
"""
CANDIDATE = EVALUATOR_FIXTURES / "pytorch_softmax.py"


def _processes() -> dict[int, tuple[int, str, bytes]]:
    """``pid -> (parent pid, command line, environment)`` of this user's processes."""
    found: dict[int, tuple[int, str, bytes]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(proc.name)] = (ppid, cmdline, environ)
    return found


def _kill_worker_mid_task(temp: Path, driver: subprocess.Popen, timeout_s: float = 180) -> int:
    """Wait until a Ray worker runs ``evaluate_task`` and its sandboxed evaluation has
    started, then SIGKILL that worker (and the evaluation it started); its pid."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert driver.poll() is None, f"the driver ended before the kill: {driver.stderr.read()[-3000:]}"
        procs = _processes()
        mark = f"TMPDIR={temp}".encode()  # the cluster's own workers: they have its TMPDIR
        for pid, (_, cmdline, environ) in procs.items():
            children = [c for c, (ppid, _, _) in procs.items() if ppid == pid]
            ours = mark in environ.split(b"\0")
            if ours and cmdline.startswith("ray::evaluate_task") and children:
                os.kill(pid, signal.SIGKILL)
                for child in children:  # a lost node takes its evaluations with it
                    try:
                        os.killpg(child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                return pid
        time.sleep(0.1)
    pytest.fail("no Ray worker was seen running evaluate_task with its evaluation started")


def _result_of(out: str, err: str) -> dict:
    """The EvalResult the driver printed: its last JSON line (Ray may print lines of its own
    to stdout after it, e.g. while shutting down)."""
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"the driver printed no result; stdout: {out[-2000:]!r} stderr: {err[-2000:]}"
    return json.loads(lines[-1])


def _driver(address: str, retries: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, address, str(retries), str(CANDIDATE)],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_worker_killed_mid_task_is_retried_and_the_result_comes_back(ray_cluster):
    address, temp = ray_cluster
    driver = _driver(address, retries=3)
    killed = _kill_worker_mid_task(temp, driver)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err[-3000:]
    result = _result_of(out, err)
    assert result["correct"] and result["stage_failed"] is None, result["error"]
    notes = [n for n in result["diagnostics"]["notes"] if n.startswith("ray: node ")]
    assert len(notes) == 1, result["diagnostics"]["notes"]
    assert int(notes[0].rsplit(" pid ", 1)[1]) != killed  # another worker ran it again


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_worker_lost_with_no_retry_left_comes_back_as_a_result(ray_cluster):
    address, temp = ray_cluster
    driver = _driver(address, retries=0)
    _kill_worker_mid_task(temp, driver)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err[-3000:]
    result = _result_of(out, err)
    assert result["stage_failed"] == "sandbox" and not result["correct"]
    assert "the Ray worker running this evaluation was lost 1 time(s)" in result["error"]
