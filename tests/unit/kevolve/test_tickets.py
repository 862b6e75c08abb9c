"""The ticket queue and the worker loop, with scripted runners (no optimization runs here;
tests/integration/test_tickets_workers.py drives real runs through killed workers)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from kevolve.tickets.models import TicketSpec
from kevolve.tickets.spec import TicketFileError, load_ticket_file
from kevolve.tickets.store import TicketError, TicketStore
from kevolve.worker.loop import Worker
from kevolve.worker.runner import NeedsInput, Outcome
from tools.errors import ProblemError


def queue_url(tmp_path) -> str:
    """SQLite in tmp_path; KEVOLVE_TEST_DATABASE_URL (an empty Postgres database) runs the same
    tests on Postgres."""
    url = os.environ.get("KEVOLVE_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'q.sqlite'}"
    import sqlalchemy as sa

    from kevolve.tickets.store import metadata

    metadata.drop_all(sa.create_engine(url))
    from kevolve.tickets.queue import huey_for

    huey_for(url).flush()
    return url


@pytest.fixture
def store(tmp_path):
    return TicketStore(queue_url(tmp_path), lease_s=0.6, max_attempts=3, retry_s=0.3)


def spec(problem="softmax", **kw):
    return TicketSpec(problem=problem, chip="cpu", budget=2, **kw)


def next_claim(store, worker_id):
    """What a worker slot does, without running the ticket: take messages off the huey queue
    until one's ticket can be claimed."""
    while (task := store.queue.huey.dequeue()) is not None:
        if (ticket := store.claim(worker_id, task.args[0])) is not None:
            return ticket
    return None


def test_submit_list_show_cancel(store):
    a = store.submit(spec(requester="ana"))
    b = store.submit(spec("gelu", priority=5))
    assert a.status == "queued" and a.requester == "ana"
    assert {t.ticket_id for t in store.list()} == {a.ticket_id, b.ticket_id}
    assert store.cancel(a.ticket_id).status == "cancelled"
    with pytest.raises(TicketError, match="already cancelled"):
        store.cancel(a.ticket_id)
    with pytest.raises(TicketError, match="ticket list"):
        store.get("t-nope")
    # Priority first: the later, higher-priority ticket is delivered and claimed first.
    assert next_claim(store, "w1").ticket_id == b.ticket_id
    assert next_claim(store, "w1") is None  # the other one is cancelled: its message is dropped


def test_a_held_ticket_is_not_claimed_again_until_its_lease_expires(store):
    t = store.submit(spec())
    assert next_claim(store, "a").ticket_id == t.ticket_id
    # huey deleted the message when "a" took it; a duplicate message cannot claim it either.
    store.queue.send(t.ticket_id)
    assert next_claim(store, "b") is None and store.claim("b", t.ticket_id) is None
    assert store.heartbeat(t.ticket_id, "a")
    time.sleep(0.4)
    assert store.heartbeat(t.ticket_id, "a")  # renewed: still held past the first lease
    time.sleep(0.4)
    assert store.reap() == [] and next_claim(store, "b") is None
    time.sleep(0.8)  # no heartbeat: the lease runs out; the reaper queues it with a new message
    assert store.reap() == [t.ticket_id] and store.reap() == []  # sent once
    taken = next_claim(store, "b")
    assert taken is not None and taken.worker_id == "b" and taken.attempts == 2
    assert not store.heartbeat(t.ticket_id, "a")  # a must stop
    assert not store.finish(t.ticket_id, "a", run_id="r", best=None, ok=True)
    assert store.get(t.ticket_id).status == "running"
    log = store.attempt_log(t.ticket_id)
    assert [r["worker_id"] for r in log] == ["a", "b"] and log[0]["outcome"] == "lost"


def test_claims_across_threads_are_exclusive(tmp_path):
    url = queue_url(tmp_path)
    TicketStore(url)
    for _ in range(12):
        made = TicketStore(url).submit(spec())
        TicketStore(url).queue.send(made.ticket_id)  # a duplicate message for every ticket
    got: list[str] = []

    def grab(name: str) -> None:
        s = TicketStore(url)
        while (t := next_claim(s, name)) is not None:
            got.append(t.ticket_id)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 12 and len(set(got)) == 12


def test_a_queued_ticket_without_a_message_gets_one(store):
    """A process that dies between the ticket table and the queue leaves a queued ticket
    with no message; the reaper sends one once a lease has passed, and only once."""
    t = store.submit(spec())
    store.queue.drop()
    assert store.reap() == []  # not yet: it may be on its way
    time.sleep(0.7)
    assert store.reap() == [t.ticket_id]
    assert store.reap() == []  # it has a message now
    assert next_claim(store, "w").ticket_id == t.ticket_id


def test_queue_messages_are_json_not_pickle(store):
    import json

    t = store.submit(spec(priority=3))
    (raw,) = store.queue.huey.storage.enqueued_items()
    message = json.loads(bytes(raw))["message"]
    assert message["args"] == [t.ticket_id] and message["priority"] == 3


def test_a_message_that_is_not_json_is_dropped_unrun(store, tmp_path):
    """Whoever can write to the queue's tables must not run code in the workers: a pickled
    message is dropped, never unpickled."""
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "pwned"),))

    store.queue.huey.storage.enqueue(pickle.dumps(Boom()), 0)
    ran: list[str] = []
    store.queue.install(lambda ticket_id, task: ran.append(ticket_id))
    assert store.queue.work_one() is True  # taken off the queue ...
    assert not (tmp_path / "pwned").exists() and ran == []  # ... and neither unpickled nor run
    assert store.queue.work_one() is False


def test_a_database_the_queue_cannot_use_is_refused_in_one_sentence():
    from kevolve.tickets.queue import QueueConfigError

    with pytest.raises(QueueConfigError, match="SQLite or Postgres, not mysql"):
        TicketStore("mysql+pymysql://u@127.0.0.1/db")
    with pytest.raises(QueueConfigError, match="SQLite file"):
        TicketStore("sqlite://")


def test_transient_failure_retries_with_backoff(store, tmp_path):
    t = store.submit(spec())
    calls: list[float] = []

    def runner(ticket, settings, on_run, check):
        calls.append(time.time())
        on_run("run-1")
        if len(calls) < 3:
            raise OSError("disk hiccup")
        return Outcome(ok=True, run_id="run-1", best={"speedup_vs_eager": 1.5})

    Worker(store, None, runner=runner, poll_s=0.05).run(once=True)
    done = store.get(t.ticket_id)
    assert done.status == "done" and done.run_id == "run-1" and done.attempts == 3
    assert done.best == {"speedup_vs_eager": 1.5}
    # Backoff doubles: 0.3 s, then 0.6 s.
    assert calls[1] - calls[0] >= 0.3 and calls[2] - calls[1] >= 0.6
    assert [r["outcome"] for r in store.attempt_log(t.ticket_id)] == ["retry", "retry", "done"]


@pytest.mark.parametrize(
    ("problem", "error", "attempts", "words"),
    [
        # a transient failure is retried until the attempts run out
        ("softmax", OSError("always down"), 3, "always down"),
        # bad input fails at once
        ("no_such_op", ProblemError("unknown op no_such_op; name one such as softmax."), 1, "softmax"),
    ],
    ids=["transient-gives-up-after-max-attempts", "bad-input-fails-at-once"],
)
def test_failing_runs_end_failed(store, problem, error, attempts, words):
    t = store.submit(spec(problem))

    def runner(ticket, settings, on_run, check):
        raise error

    Worker(store, None, runner=runner, poll_s=0.05).run(once=True)
    failed = store.get(t.ticket_id)
    assert failed.status == "failed" and failed.attempts == attempts and words in failed.error


def test_needs_input_waits_for_an_answer(store):
    t = store.submit(TicketSpec(text="make my kernel faster"))

    def runner(ticket, settings, on_run, check):
        if not ticket.answer:
            raise NeedsInput("Which operator should I optimize?")
        return Outcome(ok=True, run_id=f"run-{ticket.answer}", best=None)

    Worker(store, None, runner=runner, poll_s=0.05).run(once=True)
    waiting = store.get(t.ticket_id)
    assert waiting.status == "needs-input" and "operator" in waiting.question
    with pytest.raises(TicketError, match="empty"):
        store.answer(t.ticket_id, "  ")
    assert store.answer(t.ticket_id, "softmax").status == "queued"
    Worker(store, None, runner=runner, poll_s=0.05).run(once=True)
    assert store.get(t.ticket_id).run_id == "run-softmax"
    with pytest.raises(TicketError, match="not waiting"):
        store.answer(t.ticket_id, "gelu")


def test_cancel_stops_a_running_ticket(store):
    t = store.submit(spec())
    started = threading.Event()
    stopped: list[str] = []

    def runner(ticket, settings, on_run, check):
        started.set()
        try:
            for _ in range(200):  # a run: check() is called between evaluations
                check()
                time.sleep(0.05)
        except Exception as e:
            stopped.append(type(e).__name__)
            raise
        return Outcome(ok=True, run_id="r", best=None)

    w = Worker(store, None, runner=runner, poll_s=0.05)
    th = threading.Thread(target=w.run, kwargs={"once": True})
    th.start()
    assert started.wait(10)
    store.cancel(t.ticket_id)
    th.join(timeout=10)
    assert not th.is_alive()
    assert stopped == ["TicketStop"]
    assert store.get(t.ticket_id).status == "cancelled"


def test_shutdown_gives_the_ticket_back(store):
    t = store.submit(spec())
    started = threading.Event()

    def runner(ticket, settings, on_run, check):
        started.set()
        while True:
            check()
            time.sleep(0.05)

    w = Worker(store, None, runner=runner, poll_s=0.05)
    th = threading.Thread(target=w.run)
    th.start()
    assert started.wait(10)
    w.shutdown()
    th.join(timeout=10)
    back = store.get(t.ticket_id)
    assert back.status == "queued" and back.attempts == 0 and back.worker_id is None


def test_ticket_file_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "probs").mkdir()
    (tmp_path / "probs" / "mine.py").write_text("# a problem\n")
    f = tmp_path / "t.yaml"
    f.write_text("problem: probs/mine.py\nchip: h100\nbudget: 3\npriority: 2\nrequester: bo\n")
    s = load_ticket_file(f)
    assert s.problem == str(tmp_path / "probs" / "mine.py") and s.chip == "h100"
    assert (s.budget, s.priority, s.requester) == (3, 2, "bo")
    (tmp_path / "bad.yaml").write_text("problem: softmax\nchips: h100\n")
    with pytest.raises(TicketFileError, match="chips"):
        load_ticket_file(tmp_path / "bad.yaml")
    (tmp_path / "missing.yaml").write_text("problem: nowhere/x.py\n")
    with pytest.raises(TicketFileError, match="does not exist"):
        load_ticket_file(tmp_path / "missing.yaml")


def test_inbox_turns_dropped_files_into_tickets(store, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "p.py").write_text("# problem\n")
    (inbox / "a.yaml").write_text("problem: ../p.py\nchip: cpu\n")
    (inbox / "b.yml").write_text("- not a mapping\n")
    (inbox / "notes.txt").write_text("ignored\n")

    def runner(ticket, settings, on_run, check):
        return Outcome(ok=True, run_id="r", best=None)

    w = Worker(store, None, runner=runner, poll_s=0.05, inbox=inbox)
    th = threading.Thread(target=w.run)
    th.start()
    deadline = time.time() + 10
    while time.time() < deadline and not any(t.status == "done" for t in store.list()):
        time.sleep(0.05)
    w.shutdown()
    th.join(timeout=10)
    (ticket,) = store.list()
    assert ticket.status == "done" and ticket.spec.problem == str(tmp_path / "p.py")
    assert list((inbox / "submitted").iterdir())[0].name == f"{ticket.ticket_id}-a.yaml"
    assert "not a mapping" in (inbox / "rejected" / "b.yml.error").read_text()
    assert (inbox / "notes.txt").exists() and not (inbox / "a.yaml").exists()


def test_concurrency_runs_tickets_side_by_side(store):
    for _ in range(4):
        store.submit(spec())
    running, peak, lock = [0], [0], threading.Lock()

    def runner(ticket, settings, on_run, check):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return Outcome(ok=True, run_id=f"r-{ticket.ticket_id}", best=None)

    assert Worker(store, None, runner=runner, poll_s=0.05, concurrency=2).run(once=True) == 4
    assert peak[0] == 2
    assert all(t.status == "done" for t in store.list())


def test_ticket_cli_submit_show_cancel(data_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from kevolve.cli import app

    cli = CliRunner()
    made = cli.invoke(app, ["ticket", "submit", "--text", "optimize softmax for h100", "--json"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert set(created) == {"ticket_id", "status"} and created["status"] == "queued"
    shown = json.loads(cli.invoke(app, ["ticket", "show", created["ticket_id"], "--json"]).stdout)
    assert {"ticket_id", "status", "run_id", "best", "error"} <= set(shown)
    listed = cli.invoke(app, ["ticket", "list"], terminal_width=80)
    rows = [line.split("│")[1].strip() for line in listed.stdout.splitlines() if line.startswith("│")]
    assert created["ticket_id"] in "".join(rows)  # folded, never cut
    cancelled = cli.invoke(app, ["ticket", "cancel", created["ticket_id"], "--json"])
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    both = cli.invoke(app, ["ticket", "submit"])
    assert both.exit_code == 2 and "either" in both.output
    f = tmp_path / "t.yaml"
    f.write_text("problem: relu\nchip: mi300x\nbudget: 3\npriority: 1\nrequester: bo\n")
    from_file = json.loads(cli.invoke(app, ["ticket", "submit", str(f), "--json"]).stdout)
    shown = json.loads(cli.invoke(app, ["ticket", "show", from_file["ticket_id"], "--json"]).stdout)
    assert (shown["problem"], shown["chip"], shown["budget"], shown["requester"]) == ("relu", "mi300x", 3, "bo")
