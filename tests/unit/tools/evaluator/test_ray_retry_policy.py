"""Which Ray failures are retried: a lost worker or node is, an exception of the task body is
not; a task that lost its worker on every try comes back as an ``EvalResult`` saying so.

Ray's real exception classes, a stand-in for the cluster (no cluster is started here;
tests/integration/test_ray_backend.py kills a real worker mid-task).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'kevolve[worker]')")

from tools.evaluator.options import EvalOptions
from tools.evaluator.ray_backend import RayEvaluator, lost_worker_errors
from tools.hardware import load_target
from tools.records import Candidate, Problem


class FakeRay:
    """Records ``ray.remote`` options; ``get`` raises ``error``."""

    exceptions = ray.exceptions

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.remote_options: dict = {}

    def remote(self, **options):
        self.remote_options = options
        call = SimpleNamespace(remote=lambda *args: "ref")
        return lambda fn: SimpleNamespace(options=lambda **_: call)

    def cluster_resources(self) -> dict:
        return {"CPU": 2.0}

    def get(self, ref):
        raise self.error


def _evaluate(fake: FakeRay, max_retries: int = 3):
    evaluator = RayEvaluator(fake, max_retries=max_retries)
    candidate = Candidate(id="c1", language="pytorch", source="x = 1\n")
    return evaluator(Problem(name="p", source="x = 1\n"), candidate, load_target("cpu"),
                     EvalOptions())  # fmt: skip


def test_lost_workers_are_retried_and_task_exceptions_are_not():
    fake = FakeRay(RuntimeError("unused"))
    RayEvaluator(fake)
    assert fake.remote_options == {"max_retries": 3, "retry_exceptions": False}
    lost = lost_worker_errors(ray)
    assert ray.exceptions.WorkerCrashedError in lost and ray.exceptions.NodeDiedError in lost
    assert not issubclass(ray.exceptions.RayTaskError, lost)


def test_a_worker_lost_every_time_is_a_result():
    result = _evaluate(FakeRay(ray.exceptions.WorkerCrashedError()), max_retries=2)
    assert result.stage_failed == "sandbox" and not result.correct
    assert result.error.startswith("the Ray worker running this evaluation was lost 3 time(s)")


def test_an_exception_of_the_task_body_is_raised_not_hidden():
    with pytest.raises(ZeroDivisionError):
        _evaluate(FakeRay(ZeroDivisionError("a defect in the task body")))
