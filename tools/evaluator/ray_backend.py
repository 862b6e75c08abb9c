"""Ray backend of the evaluator: each evaluation is one Ray task, routed by chip resource.

A GPU target is measured on the chip: its task asks for ``num_gpus=1`` and the chip as a
custom resource named after the registry key in capitals (``{"H100": 1}``, ``{"MI300X": 1}``),
so it runs only on a node started with that resource (``ray start --resources
'{"H100": 8}' --num-gpus 8``). A chip no node has fails before anything is submitted.
Interpreter checks (``mode="interpret"``) and CPU targets ask for no GPU and may run on any
node. On the node, the task runs the ordinary sandboxed ``evaluate``, so the memory
admission and the timing lock hold there, per GPU (Ray's ``CUDA_VISIBLE_DEVICES`` names it).
A worker or node lost mid-task is retried (``max_retries``), an exception of the task body
is not; the result travels back as ``EvalResult`` JSON, and a task that lost its worker
every time comes back as an ``EvalResult`` that says so (``stage_failed="sandbox"``).

The task body imports ``tools`` only, and this module imports ``ray`` only when a
backend is built, so the worker install needs ray and the evaluator's own dependencies.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from tools.evaluator.api import evaluate
from tools.evaluator.options import EvalOptions
from tools.evaluator.sandbox import trim
from tools.records.candidate import Candidate
from tools.records.eval_result import EvalResult, Stage
from tools.records.problem import Problem
from tools.records.target import Target

logger = logging.getLogger(__name__)

_CONNECT = threading.Lock()

MAX_RETRIES = 3
"""How many times a task whose worker or node died is run again."""


class ChipUnavailable(RuntimeError):
    """The Ray cluster has no node with the chip an evaluation asks for."""


def chip_resource(target: Target) -> str:
    """The custom Ray resource a node offers for this chip: the registry key in capitals."""
    return target.name.upper()


def task_resources(target: Target, options: EvalOptions) -> dict[str, Any]:
    """``ray.remote`` options of one evaluation: the chip and one GPU, or CPU only."""
    if target.kind == "cpu" or options.mode == "interpret":
        return {"num_cpus": 1, "num_gpus": 0}
    return {"num_cpus": 1, "num_gpus": 1, "resources": {chip_resource(target): 1}}


def evaluate_task(problem_json: str, candidate_json: str, target_json: str, options_json: str) -> str:
    """The task body run on a Ray node: the sandboxed evaluation, as ``EvalResult`` JSON."""
    import ray

    result = evaluate(
        Problem.model_validate_json(problem_json),
        Candidate.model_validate_json(candidate_json),
        Target.model_validate_json(target_json),
        EvalOptions.model_validate_json(options_json),
    )
    ctx = ray.get_runtime_context()
    result.diagnostics.notes.append(
        f"ray: node {ctx.get_node_id()} task {ctx.get_task_id()} pid {os.getpid()}"
    )
    return result.model_dump_json()


def lost_worker_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Ray's errors for a task whose worker process or node died (retried by Ray up to
    ``max_retries``), as opposed to an exception the task body raised (never retried)."""
    ex = ray.exceptions
    return tuple(
        getattr(ex, name)
        for name in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError")
        if isinstance(getattr(ex, name, None), type)
    )


class RayEvaluator:
    """Evaluates on a Ray cluster; ``connect`` joins it (``auto`` or ``host:port``)."""

    def __init__(self, ray: Any, *, max_retries: int = MAX_RETRIES) -> None:
        self._ray = ray
        self.max_retries = max_retries
        # A lost worker or node is run again; an exception of the task body is not (a
        # candidate's failures are results already, so one is a defect, not bad luck).
        self._remote = ray.remote(max_retries=max_retries, retry_exceptions=False)(evaluate_task)

    @classmethod
    def connect(cls, address: str) -> RayEvaluator:
        """Join the cluster at ``address`` once per process."""
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError(
                "KEVOLVE_RAY_ADDRESS is set but ray is not installed; "
                "install it with `pip install 'kevolve[scale]'` or unset KEVOLVE_RAY_ADDRESS."
            ) from exc
        with _CONNECT:
            if not ray.is_initialized():
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        return cls(ray)

    def check_chip(self, target: Target, options: EvalOptions) -> None:
        """Fail before submitting when no node offers the chip (and a GPU) the task needs."""
        wanted = task_resources(target, options)
        have = self._ray.cluster_resources()
        missing = [name for name in wanted.get("resources", {}) if have.get(name, 0) < 1]
        if wanted["num_gpus"] and have.get("GPU", 0) < 1:
            missing.append("GPU")
        if missing:
            raise ChipUnavailable(
                f"no node of the Ray cluster offers {' and '.join(missing)} for target "
                f"{target.name}; start a node with it (ray start --num-gpus N --resources "
                f"'{{\"{chip_resource(target)}\": N}}') or pick a target the cluster has."
            )

    def __call__(
        self,
        problem: Problem,
        candidate: Candidate,
        target: Target,
        options: EvalOptions | None = None,
    ) -> EvalResult:
        """Run ``evaluate`` as a Ray task on a node with the chip; wait for its result."""
        options = options or EvalOptions()
        self.check_chip(target, options)
        # Paths are the driver's; the node uses its own temporary work dir, cache and lock.
        remote_options = options.model_copy(
            update={"work_dir": "", "cache_dir": "", "timing_lock": ""}
        )
        ref = self._remote.options(**task_resources(target, options)).remote(
            problem.model_dump_json(),
            candidate.model_dump_json(),
            target.model_dump_json(),
            remote_options.model_dump_json(),
        )
        try:
            return EvalResult.model_validate_json(self._ray.get(ref))
        except lost_worker_errors(self._ray) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            logger.warning("evaluation of %s lost its Ray worker %d times: %s",
                           candidate.id, self.max_retries + 1, first)  # fmt: skip
            return EvalResult(
                candidate_id=candidate.id,
                target=target.name,
                stage_failed=Stage.SANDBOX,
                error=trim(
                    f"the Ray worker running this evaluation was lost {self.max_retries + 1} "
                    f"time(s) ({type(e).__name__}), so it has no verdict; it was not the "
                    f"candidate's doing. {first}"
                ),
            )
