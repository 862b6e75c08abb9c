"""Ctrl-C during ``kevolve optimize``: out within 2 s, sandboxes killed, the run resumable.

Methodology: the CLI runs as a subprocess in its own process group; once a sandboxed
evaluation is in flight (a child process running ``tools.evaluator``), the group receives
SIGINT as a terminal's Ctrl-C would send it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import CLI, cli_env
from tests.support import REPO as ROOT


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == pid:
                found.append((int(entry.name), (entry / "cmdline").read_bytes().decode(errors="replace")))
        except (OSError, ValueError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _ctrl_c_reaches_it() -> None:
    """In the child: Ctrl-C as a terminal delivers it (a test run started in the background
    would otherwise hand its ignored SIGINT down)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(data_dir: Path) -> dict[str, str]:
    return cli_env(data_dir, max_concurrency=1)


def _wait_for_sandbox(proc: subprocess.Popen) -> list[int]:
    """Pids of the sandboxed evaluations in flight."""
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline and proc.poll() is None:
        sandboxes = [p for p, cmd in _children(proc.pid) if "tools.evaluator" in cmd]
        if sandboxes:
            time.sleep(1.0)  # well inside the evaluation
            return sandboxes
        time.sleep(0.2)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"no evaluation in flight; exit {proc.returncode}: {err[-2000:]}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_stops_optimize_within_two_seconds_with_the_resume_line(tmp_path):
    proc = subprocess.Popen(
        [*CLI, "optimize", "softmax", "--target", "cpu",
         "--budget", "6", "--shape", "256x512"],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=_ctrl_c_reaches_it,
    )  # fmt: skip
    try:
        sandboxes = _wait_for_sandbox(proc)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    assert took < 2.0, f"took {took:.1f} s to stop"
    match = re.search(r"resume it with `kevolve runs resume (\S+)`", err)
    assert match, err[-3000:]
    run_id = match.group(1)
    assert run_id in err.splitlines()[-1], err[-3000:]
    assert not any(_alive(pid) for pid in sandboxes), "a sandboxed evaluation outlived the CLI"
    run_dir = tmp_path / "runs" / run_id
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted"
    for path in (run_dir / "results").glob("*.json"):  # the killed evaluation was not cached
        assert "killed by signal" not in json.loads(path.read_text())["error"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_in_chat_stops_the_run_and_shows_what_finished(tmp_path):
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [*CLI, "chat"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_ctrl_c_reaches_it,
    )  # fmt: skip
    try:
        proc.stdin.write("optimize softmax over 256x512 fp32 on cpu with a budget of 6\n")
        proc.stdin.flush()
        sandboxes = _wait_for_sandbox(proc)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        while any(_alive(pid) for pid in sandboxes) and time.monotonic() - sent < 5:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in sandboxes), "the evaluation was not stopped"
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    match = re.search(r"resume it with `kevolve runs resume (\S+)`", out)
    assert match, out[-3000:]
    assert "No evaluation had finished." in out, out[-3000:]  # and the chat said so
    info = json.loads((tmp_path / "runs" / match.group(1) / "run.json").read_text())
    assert info["status"] == "interrupted"
