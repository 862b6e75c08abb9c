"""Ctrl-C handling of a run (kevolve.interrupt): stop fast, keep the truth about the run."""

from __future__ import annotations

import _thread
import signal
import threading
import time

import pytest

from kevolve import interrupt
from kevolve.interrupt import RunInterrupted, drive_interruptibly, guard_events
from kevolve.runstore import RunInfo, RunStore
from tools.records import EvalResult


@pytest.fixture(autouse=True)
def _ctrl_c_raises(monkeypatch):
    """Ctrl-C raises KeyboardInterrupt here even when the test run ignores SIGINT (background)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _ctrl_c_after(seconds: float) -> None:
    threading.Timer(seconds, _thread.interrupt_main).start()


def test_a_run_that_ends_during_the_interrupt_keeps_its_outcome():
    seen = []
    _ctrl_c_after(0.1)
    value = drive_interruptibly("run-ends", lambda: time.sleep(0.4) or {"summary": "done"}, seen.append)
    assert value == {"summary": "done"}
    assert seen == [True]  # told the graph ended: the caller must not mark it interrupted


def test_a_blocked_run_is_given_up_within_the_grace_period():
    release = threading.Event()
    seen = []

    def on_interrupt(ended: bool) -> None:
        seen.append(ended)
        raise RunInterrupted("run-blocked", 1, 4)

    _ctrl_c_after(0.1)
    start = time.monotonic()
    with pytest.raises(RunInterrupted, match="kevolve runs resume run-blocked"):
        drive_interruptibly("run-blocked", lambda: release.wait(30), on_interrupt)
    release.set()
    assert time.monotonic() - start < interrupt.GRACE_S + 1.0
    assert seen == [False]


def test_a_stopped_run_stores_no_more_results_and_starts_no_more_steps(tmp_path):
    store = RunStore(tmp_path)
    store.create(RunInfo(run_id="run-x", problem="p", target="cpu", budget=4), "src")
    store.save_result("run-x", EvalResult(candidate_id="a", target="cpu"))
    events = []
    handler = guard_events("run-x", lambda e, d: events.append(e))
    handler("evaluating", {})
    interrupt.cancel("run-x")
    with pytest.raises(RunInterrupted):  # killed half-way: must not be cached as a failure
        store.save_result("run-x", EvalResult(candidate_id="b", target="cpu", error="killed by signal SIGKILL"))
    with pytest.raises(RunInterrupted):
        handler("evaluating", {})
    assert events == ["evaluating"]
    assert store.load_result("run-x", "b") is None
    assert store.evaluation_log("run-x") == ["a"]


def test_the_chat_shows_what_a_stopped_run_finished(tmp_path, capsys):
    from kevolve.chat_cli import show_finished
    from tools.records import Candidate

    store = RunStore(tmp_path)
    store.create(RunInfo(run_id="run-c", problem="p", target="cpu", budget=6), "src")
    for cid, lang, speedup in (("g00-00-aaa", "pytorch", 1.0), ("g00-01-bbb", "cpp", 2.5)):
        store.save_candidate("run-c", Candidate(id=cid, language=lang, source="x", memory_mode="seed"))
        store.save_result("run-c", EvalResult(
            candidate_id=cid, target="cpu", static_ok=True, compiled=True, correct=True,
            runtime_ms=1.0 / speedup, ref_eager_ms=1.0, speedup_vs_eager=speedup, measured_on="cpu0",
        ))  # fmt: skip
    show_finished(tmp_path, "run-c")
    text = capsys.readouterr().out
    assert "2 evaluation(s)" in text
    assert text.index("g00-01-bbb") < text.index("g00-00-aaa")  # best first
    assert "2.50x" in text
