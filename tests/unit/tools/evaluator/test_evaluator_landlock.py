"""Run-time file-system isolation: the Landlock wrapper in a child process, the worker's
rules, how a denial is reported, and the fallback where Landlock is absent."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import EVALUATOR_FIXTURES, REPO, SOFTMAX_PROBLEM
from tests.targets import CPU
from tools.evaluator import fsisolation, landlock

HAVE_LANDLOCK = fsisolation.probe()[0] > 0
needs_landlock = pytest.mark.skipif(not HAVE_LANDLOCK, reason="no Landlock on this machine")

CHILD = """
import json, os, sys
from pathlib import Path
from tools.evaluator import landlock
ro, rw, outside, other_pid = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
abi = landlock.restrict_self([(ro, landlock.READ_RIGHTS), (rw, (1 << 15) - 1)])
seen = {"abi": abi}
def attempt(name, fn):
    try:
        fn()
        seen[name] = "ok"
    except OSError as e:
        seen[name] = e.errno
attempt("read_ro", lambda: (ro / "data.txt").read_text())
attempt("write_ro", lambda: (ro / "new.txt").write_text("x"))
attempt("write_rw", lambda: (rw / "new.txt").write_text("x"))
attempt("rename_rw", lambda: (rw / "new.txt").rename(rw / "sub" / "moved.txt"))
attempt("read_outside", lambda: (outside / "secret.txt").read_text())
attempt("list_outside", lambda: os.listdir(outside))
attempt("signal_outside", lambda: os.kill(other_pid, 0))
print(json.dumps(seen))
"""


def _layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    ro, rw, outside = tmp_path / "ro", tmp_path / "rw", tmp_path / "outside"
    for d in (ro, rw / "sub", outside):
        d.mkdir(parents=True)
    (ro / "data.txt").write_text("readable")
    (outside / "secret.txt").write_text("secret")
    return ro, rw, outside


@needs_landlock
def test_restrict_self_confines_a_child_process(tmp_path):
    ro, rw, outside = _layout(tmp_path)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(ro), str(rw), str(outside), str(bystander.pid)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        bystander.kill()
        bystander.wait()
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["read_ro"] == "ok" and seen["write_rw"] == "ok" and seen["rename_rw"] == "ok"
    assert seen["write_ro"] == errno.EACCES
    assert seen["read_outside"] == errno.EACCES and seen["list_outside"] == errno.EACCES
    if seen["abi"] >= 6:  # signal scoping
        assert seen["signal_outside"] == errno.EPERM
    assert not (ro / "new.txt").exists() and (rw / "sub" / "moved.txt").exists()


def test_handled_rights_grow_with_the_abi():
    assert landlock.handled_rights(1) == (1 << 13) - 1
    assert (
        landlock.handled_rights(2) & landlock.REFER
        and not landlock.handled_rights(2) & landlock.TRUNCATE
    )
    assert landlock.handled_rights(7) & landlock.TRUNCATE
    assert landlock.handled_rights(7) < 1 << 15  # IOCTL_DEV (bit 15) is never handled


def test_worker_rules_keep_shared_paths_and_raw_devices_out(tmp_path, monkeypatch):
    shared = tmp_path / "data" / "work"
    workdir = shared / "cand-x"
    workdir.mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path), str(tmp_path / "data")])
    rules = fsisolation.worker_rules(workdir, [shared, tmp_path / "data" / "cache"])
    paths = {Path(p) for p, _ in rules}
    for path, rights in rules:
        if Path(path) != workdir.resolve():
            assert not shared.resolve().is_relative_to(path), f"{path} exposes other candidates"
            assert rights & landlock.WRITE_FILE == 0 or str(path).startswith("/dev/"), path
    writable_dirs = [p for p, r in rules if r & landlock.MAKE_REG]
    assert writable_dirs == [workdir.resolve()]
    assert fsisolation.REPO_ROOT.resolve() not in paths  # only tools/ and hardware_docs/
    assert (fsisolation.REPO_ROOT / "tools").resolve() in paths
    dev = [Path(p).name for p, _ in rules if str(p).startswith("/dev/")]
    assert "shm" not in dev and not any(
        n.startswith(("vd", "sd", "nvme", "loop", "mem")) for n in dev
    )
    shm = fsisolation.device_rules(share_dev_shm=True)
    assert Path("/dev/shm") in {p for p, _ in shm} or not Path("/dev/shm").is_dir()


def test_denial_names_the_path_through_wrapping_exceptions():
    inner = PermissionError(errno.EACCES, "Permission denied", "/data/runs/out.pt")
    try:
        try:
            raise inner
        except PermissionError as e:
            raise RuntimeError("kernel failed") from e
    except RuntimeError as outer:
        why = fsisolation.denial(outer)
    assert why and "file-system sandbox (Landlock)" in why and "/data/runs/out.pt" in why
    assert fsisolation.denial(ValueError("shape mismatch")) is None
    assert "denied a file access" in (
        fsisolation.denial(RuntimeError("ninja: Permission denied")) or ""
    )


def test_describe_matches_the_probe():
    state = fsisolation.describe()
    assert state.startswith("active") == HAVE_LANDLOCK, state
    if HAVE_LANDLOCK:
        assert f"ABI v{fsisolation.probe()[0]}" in state


@pytest.mark.slow
def test_without_landlock_the_worker_runs_and_says_so(tmp_path, monkeypatch):
    from tools.evaluator import EvalOptions, evaluate
    from tools.records import Candidate, Problem

    monkeypatch.setattr(fsisolation, "probe", lambda: (0, "no Landlock in this test"))
    fixtures = EVALUATOR_FIXTURES
    cpu = CPU
    r = evaluate(
        Problem(name="softmax", source=SOFTMAX_PROBLEM.read_text()),
        Candidate(
            id="pt", language="pytorch", source=(fixtures / "pytorch_softmax.py").read_text()
        ),
        cpu,
        EvalOptions(work_dir=str(tmp_path), measure_compile=False, rep_ms=10.0, seeds=[0]),
    )
    assert r.accepted, r.error
    assert "file-system isolation not active: no Landlock in this test" in r.diagnostics.notes
