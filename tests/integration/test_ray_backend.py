"""Evaluations as Ray tasks on a local cluster with two fake chip resources (H100, MI300X).

The cluster is a real one on 127.0.0.1: a holder process starts it with ``ray.init`` (one
logical GPU, custom resources ``H100`` and ``MI300X``) and shuts it down when the test ends.
An optimize run with ``KEVOLVE_RAY_ADDRESS`` set evaluates every candidate as a Ray task
(each result names the Ray node and task that produced it); a target whose chip no node
offers fails before anything is submitted, with one sentence.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'kevolve[scale]')")

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_hex(32)
"""The cluster's authentication token (Ray's token auth), shared by every process of the test."""

HOLDER = r"""
import sys, ray
ray.init(num_cpus=2, num_gpus=1, resources={"H100": 1, "MI300X": 1},
         include_dashboard=False, _node_ip_address="127.0.0.1", object_store_memory=100 * 2**20, _temp_dir=sys.argv[1])
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()
ray.shutdown()
"""


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": TOKEN,
        **extra,
    }


@pytest.fixture(scope="module")
def ray_cluster():
    temp = tempfile.mkdtemp(prefix="kvray-", dir="/tmp")  # socket paths must stay short
    # The cluster is its own "machine": its memory ledger and timing lock live in its own
    # temporary directory, apart from other evaluations on this host.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, temp], cwd=ROOT, env=_env(TMPDIR=temp),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    address = holder.stdout.readline().strip()
    if not address:
        holder.kill()
        pytest.fail(f"the Ray cluster did not start: {holder.stderr.read()[-2000:]}")
    try:
        yield address
    finally:
        holder.stdin.close()
        try:
            holder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            holder.kill()


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
                      "--shape", "32x300"], tmp_path / "a", ray_cluster)

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
                     tmp_path, ray_cluster)
    assert done.returncode != 0
    assert "no node of the Ray cluster offers H200 for target h200" in done.stderr, (
        done.stderr[-3000:]
    )
    assert not list(tmp_path.glob("runs/*/results/*.json"))
