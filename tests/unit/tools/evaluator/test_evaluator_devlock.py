"""The device lock across real processes: shared holders overlap, an exclusive holder
excludes them, and a waiting exclusive holder goes before readers that came after it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO
from tools.evaluator.devlock import DeviceLock

HOLDER = """
import sys, time
from pathlib import Path
from tools.evaluator.devlock import DeviceLock
lock_path, name, mode, log, release = sys.argv[1:6]
def say(what):
    with open(log, "a") as fh:
        fh.write(f"{name} {what}\\n")
lock = DeviceLock(lock_path)
say("try")
with (lock.shared() if mode == "shared" else lock.exclusive()):
    say("in")
    while not Path(release).exists():
        time.sleep(0.02)
    say("out")  # logged while still holding it
"""


class Holders:
    """Start lock holders as processes and watch what they logged."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.lock = str(tmp / "device.lock")
        self.log = tmp / "events.log"
        self.log.touch()
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, mode: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        argv = [
            sys.executable,
            "-c",
            HOLDER,
            self.lock,
            name,
            mode,
            str(self.log),
            str(self.tmp / f"release-{name}"),
        ]
        self.procs.append(subprocess.Popen(argv, env=env))

    def events(self) -> list[str]:
        return self.log.read_text().splitlines()

    def wait_for(self, event: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while event not in self.events():
            assert time.monotonic() < deadline, f"never saw '{event}': {self.events()}"
            time.sleep(0.02)

    def release(self, name: str) -> None:
        (self.tmp / f"release-{name}").touch()

    def close(self) -> None:
        for name in ("r1", "r2", "r3", "w"):
            self.release(name)
        for proc in self.procs:
            proc.wait(timeout=20)


@pytest.fixture
def holders(tmp_path):
    h = Holders(tmp_path)
    yield h
    h.close()


def test_shared_holders_overlap(holders):
    holders.start("r1", "shared")
    holders.wait_for("r1 in")
    holders.start("r2", "shared")
    holders.wait_for("r2 in")  # while r1 still holds it
    assert "r1 out" not in holders.events()


def test_exclusive_waits_for_readers_and_goes_before_later_readers(holders):
    holders.start("r1", "shared")
    holders.wait_for("r1 in")
    holders.start("w", "exclusive")
    holders.wait_for("w try")
    holders.start("r2", "shared")
    holders.wait_for("r2 try")
    time.sleep(0.5)
    assert "w in" not in holders.events(), "the writer entered while a reader held the lock"
    assert "r2 in" not in holders.events(), "a later reader overtook the waiting writer"
    holders.release("r1")
    holders.wait_for("w in")
    time.sleep(0.3)
    assert "r2 in" not in holders.events(), "a reader entered while the writer held the lock"
    holders.release("w")
    holders.wait_for("r2 in")
    events = holders.events()
    assert (
        events.index("r1 out")
        < events.index("w in")
        < events.index("w out")
        < events.index("r2 in")
    )


def test_a_second_writer_waits_for_the_first(holders):
    holders.start("w", "exclusive")
    holders.wait_for("w in")
    holders.start("r3", "exclusive")
    holders.wait_for("r3 try")
    time.sleep(0.3)
    assert "r3 in" not in holders.events()
    holders.release("w")
    holders.wait_for("r3 in")


def test_empty_path_locks_nothing_and_the_lock_is_reusable(tmp_path):
    DeviceLock("").open()
    with DeviceLock("").exclusive(), DeviceLock("").exclusive():
        pass  # no file, no blocking
    lock = DeviceLock(str(tmp_path / "sub" / "l.lock"))
    with lock.shared():
        pass
    with lock.exclusive():
        assert (tmp_path / "sub" / "l.lock.gate").exists()
    lock.close()
