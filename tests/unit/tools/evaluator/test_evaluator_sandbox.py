"""The sandbox plumbing: scrubbed environment, timeouts, the result token."""

from __future__ import annotations

import sys
import time

from tools.evaluator import protocol
from tools.evaluator.sandbox import child_env, run_sandboxed
from tools.records.eval_result import EvalResult


def _run_code(tmp_path, code, timeout_s, name="out", **options):
    """Run ``python -c code`` in the sandbox (no interpreter, no secrets); the run and its stdout."""
    env = child_env(home=tmp_path, cache_dir=tmp_path, interpret=False)
    out = tmp_path / name
    run = run_sandboxed(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        timeout_s=timeout_s,
        stdout_path=out,
        stderr_path=tmp_path / f"err_{name}",
        **options,
    )
    return run, out.read_text() if out.exists() else ""


def test_child_env_passes_no_secrets(tmp_path):
    parent = {
        "PATH": "/usr/bin",
        "OPENAI_API_KEY": "sk-secret",
        "AWS_SECRET_ACCESS_KEY": "x",
        "CUDA_VISIBLE_DEVICES": "1",
        "HTTPS_PROXY": "http://proxy",
    }
    env = child_env(home=tmp_path, cache_dir=tmp_path / "cache", interpret=True, parent_env=parent)
    assert "OPENAI_API_KEY" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "HTTPS_PROXY" not in env
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["HOME"] == str(tmp_path)
    assert env["TRITON_INTERPRET"] == "1"
    assert env["TRITON_CACHE_DIR"].startswith(str(tmp_path / "cache"))
    plain = child_env(home=tmp_path, cache_dir=tmp_path, interpret=False, parent_env=parent)
    assert "TRITON_INTERPRET" not in plain


def test_timeout_kills_the_whole_process_group(tmp_path):
    # The child starts a grandchild that would outlive it; both must be gone afterwards.
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open('grandchild.pid', 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    run, stdout = _run_code(tmp_path, code, 2.0, memory_limit_mib=2048)
    assert run.timed_out and run.returncode is None
    assert time.monotonic() - start < 15
    pid = int((tmp_path / "grandchild.pid").read_text())
    deadline = time.monotonic() + 5
    alive = True
    while alive and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                alive = fh.read().split()[2] != "Z"
        except FileNotFoundError:
            alive = False
        time.sleep(0.1)
    assert not alive


def test_memory_cap_and_stdin(tmp_path):
    code = "import sys\ntoken = sys.stdin.readline().strip()\nprint(token)\nbytearray(3 << 30)\n"
    run, stdout = _run_code(tmp_path, code, 30, stdin_text="tok123\n", memory_limit_mib=1024)
    assert stdout.strip() == "tok123"
    assert run.returncode == 1 and "MemoryError" in run.stderr_tail


def test_result_needs_the_token_and_progress_reads_last_stage(tmp_path):
    result = EvalResult(candidate_id="c", target="cpu", correct=True)
    path = tmp_path / protocol.RESULT_FILE
    protocol.write_json_atomic(path, {"token": "good", "result": result.model_dump(mode="json")})
    assert protocol.read_result(path, "good") == result
    assert protocol.read_result(path, "forged") is None
    assert protocol.read_result(tmp_path / "missing.json", "good") is None
    progress = tmp_path / protocol.PROGRESS_FILE
    assert protocol.last_stage(progress) is None
    protocol.append_progress(progress, "static")
    protocol.append_progress(progress, "compile")
    with progress.open("a") as fh:
        fh.write('{"stage": "corr')  # a line cut off by a kill
    assert protocol.last_stage(progress) == "compile"


def test_trim_keeps_head_and_tail():
    from tools.evaluator.sandbox import trim

    assert trim("short") == "short"
    long = "HEAD " + "x" * 10000 + " TAIL"
    out = trim(long, limit=400)
    assert out.startswith("HEAD") and out.endswith("TAIL") and "characters cut" in out
    assert len(out) < 500


def test_cap_address_space_bounds_what_the_process_adds(tmp_path):
    code = (
        "from tools.evaluator.sandbox import cap_address_space\n"
        "cap_address_space(256)\n"
        "bytearray(64 << 20)\n"  # within the allowance
        "print('small ok')\n"
        "bytearray(1 << 30)\n"  # beyond it
    )
    run, stdout = _run_code(tmp_path, code, 30)
    assert stdout.strip() == "small ok"
    assert run.returncode == 1 and "MemoryError" in run.stderr_tail


def test_protections_name_every_layer_and_the_network_state():
    from tools.evaluator.sandbox import network_wrapper, protections

    report = protections()
    for key in (
        "fresh process",
        "wall-clock timeout",
        "memory cap",
        "own temp dir",
        "scrubbed environment",
        "result token",
        "network isolation",
        "file-system isolation",
        "device lock",
    ):
        assert report.get(key), key
    state = report["network isolation"]
    assert state.startswith("active") == bool(network_wrapper()), state
    from tools.evaluator.fsisolation import probe

    fs = report["file-system isolation"]
    assert fs.startswith("active: Landlock") == bool(probe()[0]), fs
    assert fs.startswith(("active", "not available")), fs


def test_isolated_worker_cannot_reach_a_listening_socket(tmp_path):
    import socket

    import pytest

    from tools.evaluator.sandbox import network_wrapper

    if not network_wrapper():
        pytest.skip("no network namespace on this machine")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        "s = socket.socket(); s.settimeout(2)\n"
        f"print('reached' if s.connect_ex(('127.0.0.1', {port})) == 0 else 'blocked')\n"
    )
    outcomes = {}
    for isolate in (False, True):
        run, stdout = _run_code(tmp_path, code, 20, isolate_network=isolate)
        assert run.returncode == 0, run.stderr_tail
        outcomes[isolate] = stdout.strip()
    server.close()
    assert outcomes == {False: "reached", True: "blocked"}


def test_doctor_reports_the_sandbox_protections():
    from kevolve.doctor import sandbox

    report = sandbox()
    assert "network isolation" in report and "result token" in report
    assert report["file-system isolation"].startswith(("active", "not available"))
    assert report["device lock"].startswith("active")


def test_doctor_says_when_ncu_is_missing(monkeypatch):
    from kevolve import doctor
    from tools.evaluator import ncu

    monkeypatch.setattr(ncu, "find_ncu", lambda: None)
    assert doctor._ncu().startswith("not found: --profile ncu adds a note")


def test_isolated_worker_cannot_read_other_processes_environment(tmp_path):
    import pytest

    from tools.evaluator.sandbox import pid_isolated

    if not pid_isolated():
        pytest.skip("no PID namespace on this machine")
    import subprocess

    # a process of this user whose environment holds a secret (as the orchestrator's may)
    holder = subprocess.Popen(
        ["sleep", "60"], env={"PATH": "/usr/bin:/bin", "KV_CANARY_SECRET": "canary-6d1f"}
    )
    code = (
        "import glob\n"
        "seen = 0\n"
        "for path in glob.glob('/proc/[0-9]*/environ'):\n"
        "    try:\n"
        "        seen += b'canary-6d1f' in open(path, 'rb').read()\n"
        "    except OSError:\n"
        "        pass\n"
        "print('leaked' if seen else 'hidden', len(glob.glob('/proc/[0-9]*')))\n"
    )
    outcomes = {}
    try:
        for isolate in (False, True):
            run, stdout = _run_code(tmp_path, code, 30, name=f"out{isolate}", isolate_network=isolate)
            assert run.returncode == 0, run.stderr_tail
            outcomes[isolate] = stdout.split()
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()
    assert outcomes[False][0] == "leaked", "the canary must be readable without isolation"
    assert outcomes[True][0] == "hidden" and int(outcomes[True][1]) <= 3, outcomes
